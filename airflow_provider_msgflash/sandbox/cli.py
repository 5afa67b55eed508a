"""``msgflash-sandbox``: run the MsgFlash sandbox on a loopback port until stopped (Ctrl+C / SIGTERM).

Every flag has an environment variable (``MSGFLASH_SANDBOX_<FLAG>``, e.g. ``MSGFLASH_SANDBOX_PACE``);
flags win. See docs/sandbox.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from airflow_provider_msgflash.sandbox.config import FAULT_FIELDS, SandboxConfig
from airflow_provider_msgflash.sandbox.dialects import ALL, ALL_DIALECTS, DIALECTS
from airflow_provider_msgflash.sandbox.rules import PACE_PRESETS, parse_pace
from airflow_provider_msgflash.sandbox.seeds import SANDBOX_API_KEY, SANDBOX_TEAM_KEY, SEEDED_INSTANCES

ENV_PREFIX = "MSGFLASH_SANDBOX_"


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else None


def _env_list(*names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        out += [v.strip() for v in (_env(name) or "").split(",") if v.strip()]
    return out


def _env_flag(name: str) -> bool:
    return (_env(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _env_num(name: str, conv: Callable[[str], Any], default: Any) -> Any:
    value = _env(name)
    if value is None:
        return default
    try:
        return conv(value)
    except ValueError:
        raise SystemExit(f"msgflash-sandbox: {ENV_PREFIX}{name}={value!r} is not valid") from None


def _quota(value: str) -> int | None:
    """A whole number, or none (``none``, ``null``, ``off``, empty)."""
    if value.strip().lower() in ("none", "null", "off", ""):
        return None
    return int(value)


#: Fault switches that are the sandbox's behaviour more than faults: their flags are in the "behaviour"
#: group and the banner shows them on their own line.
_NOT_IN_FAULT_LINE = ("rate_limit", "monthly_quota", "pace")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return repr(",".join(value))
    return repr(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="msgflash-sandbox",
        description="A local MsgFlash API for developing and testing DAGs: no account, no network. "
        "Each flag can also be set with the environment variable MSGFLASH_SANDBOX_<FLAG> "
        "(upper case, dashes as underscores; keys comma separated).",
    )
    _server_args(p.add_argument_group("server"))
    _key_args(p.add_argument_group("keys"))
    _behaviour_args(p.add_argument_group("behaviour"))
    _fault_args(p.add_argument_group("faults"))
    return p


def _server_args(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--host", default=_env("HOST") or "127.0.0.1", help="127.0.0.1 (default), localhost or ::1")
    g.add_argument("--port", type=int, default=_env_num("PORT", int, 8765), help="TCP port; 0 picks a free one")
    g.add_argument("--json", action="store_true", help="print one JSON line (base_url, keys, instances), then serve")
    g.add_argument("--access-log", action="store_true", default=_env_flag("ACCESS_LOG"), help="log every request")
    g.add_argument("--exit-on-stdin-eof", action="store_true", help=argparse.SUPPRESS)
    g.add_argument(
        "--request-log-size", type=int, default=_env_num("REQUEST_LOG_SIZE", int, 1000), help=argparse.SUPPRESS
    )


def _key_args(k: argparse._ArgumentGroup) -> None:
    k.add_argument("--api-key", action="append", default=[], metavar="KEY", help="also accept this personal key")
    k.add_argument("--team-key", action="append", default=[], metavar="KEY", help="also accept this team key")
    k.add_argument("--team-id", default=_env("TEAM_ID"), metavar="UUID", help="the team id team keys need")
    k.add_argument(
        "--no-default-keys",
        action="store_true",
        default=_env_flag("NO_DEFAULT_KEYS"),
        help="accept only the keys given (not the sandbox's demo keys)",
    )


def _behaviour_args(b: argparse._ArgumentGroup) -> None:
    b.add_argument(
        "--pace",
        default=_env("PACE") or "fast",
        help="seconds per batch of 20 numbers, or a preset: "
        + ", ".join(f"{k} ({v:g} s)" for k, v in PACE_PRESETS.items()),
    )
    b.add_argument(
        "--rate-limit", type=int, default=_env_num("RATE_LIMIT", int, 10), help="requests per second per key; 0 = off"
    )
    b.add_argument("--monthly-quota", type=_quota, default=_env_num("MONTHLY_QUOTA", _quota, None), help="or none")
    b.add_argument("--warmup-delay", type=float, default=_env_num("WARMUP_DELAY", float, 3.0), metavar="SECONDS")
    b.add_argument("--seed", type=int, default=_env_num("SEED", int, None), help="for the fault dice")
    b.add_argument(
        "--dialect",
        default=_env("DIALECT") or "",
        metavar="NAMES",
        help="answer the undocumented parts in these shapes (comma separated): "
        + ", ".join(DIALECTS)
        + f", or {ALL} (= {','.join(ALL_DIALECTS)}); none by default",
    )


def _fault_args(f: argparse._ArgumentGroup) -> None:
    def add(flag: str, conv: Callable[[str], Any], default: Any, help: str) -> None:
        env = flag.removeprefix("--").replace("-", "_").upper()
        f.add_argument(flag, type=conv, default=_env_num(env, conv, default), help=help)

    add("--error-rate", float, 0, "fraction answered 5xx")
    add("--latency", float, 0, "seconds added per answer")
    add("--latency-jitter", float, 0, "up to more s")
    add("--fail-lookups", int, 0, "next N async fail")
    add("--fail-error", str, None, "'CODE: message' the failed lookups carry")
    add("--stall-lookups", int, 0, "next N async stall")
    add("--stall-seconds", float, 0, "a stall lasts S seconds, then the lookup goes on (0: forever)")
    add("--disconnect-during-lookup", int, 0, "next N async disconnect their instance halfway and fail")
    add("--drop-rate", float, 0, "fraction of dropped")
    add("--storm-429", float, 0, "seconds of 429 only")
    add("--gateway-429", float, 0, "seconds of a gateway's 429 HTML page only (no envelope)")
    f.add_argument(
        "--gateway-429-retry-after",
        action="store_true",
        default=_env_flag("GATEWAY_429_RETRY_AFTER"),
        help="the gateway's 429s carry Retry-After",
    )
    add("--gateway-after-create", int, 0, "next N lookup creates processed, answered by a gateway error")
    add("--gateway-status", _quota, None, "502, 503 or 504 for those (default: in turn)")
    add("--outage", float, 0, "seconds of a gateway 503 on every API request, unprocessed")
    add("--unavailable-routes", str, "", "comma-separated routes ('GET /api/v1/number-lookups') answered 503")
    add("--busy-account", int, 0, "N lookups of other clients after each lookup created")


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    api_keys = [] if args.no_default_keys else [SANDBOX_API_KEY]
    api_keys += _env_list("API_KEYS", "API_KEY") + list(args.api_key)
    team_keys = [] if args.no_default_keys else [SANDBOX_TEAM_KEY]
    team_keys += _env_list("TEAM_KEYS", "TEAM_KEY") + list(args.team_key)
    settings: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "api_keys": tuple(dict.fromkeys(api_keys)),
        "team_keys": tuple(dict.fromkeys(team_keys)),
        "pace": args.pace,
        "rate_limit": args.rate_limit,
        "monthly_quota": args.monthly_quota,
        "warmup_delay": args.warmup_delay,
        **{name: getattr(args, name) for name in FAULT_FIELDS if name not in _NOT_IN_FAULT_LINE},
        "seed": args.seed,
        "access_log": args.access_log,
        "request_log_size": args.request_log_size,
        "dialect": args.dialect,
    }
    if args.team_id:
        settings["team_id"] = args.team_id
    return SandboxConfig(**settings)


def announcement(config: SandboxConfig, base_url: str) -> dict[str, Any]:
    """What ``--json`` prints (one line)."""
    return {
        "base_url": base_url,
        "api_key": config.api_keys[0],
        "team_key": config.team_keys[0] if config.team_keys else None,
        "team_id": config.team_id,
        "api_keys": list(config.api_keys),
        "team_keys": list(config.team_keys),
        "instances": [
            {"id": s.id, "name": s.name, "waNumber": s.wa_number, "status": s.status} for s in SEEDED_INSTANCES.values()
        ],
        "openapi": base_url + "/openapi.json",
        "dialect": list(config.dialect),
        "pid": os.getpid(),
    }


def banner(config: SandboxConfig, base_url: str) -> str:
    """The human-readable start message."""
    conn: dict[str, Any] = {"conn_type": "msgflash", "host": base_url, "password": config.api_keys[0], "extra": {}}
    lines = [
        f"MsgFlash sandbox listening on {base_url} (loopback only)",
        f"  API        {base_url}/api/v1    OpenAPI {base_url}/openapi.json    docs {base_url}/docs",
        f"  admin      {base_url}/_sandbox/ (no key needed)",
        "  keys (sandbox demo keys, not secrets):",
    ]
    lines += [f"    personal   x-api-key: {k}" for k in config.api_keys]
    lines += [f"    team       x-api-key: {k}   X-Team-Id: {config.team_id}" for k in config.team_keys]
    lines.append("  instances:")
    for s in SEEDED_INSTANCES.values():
        status = f"{s.status} (connected after {config.warmup_delay:g} s)" if s.warms_up else s.status
        lines.append(f"    {s.id}  {s.name:<21} {s.wa_number}  {status}; health {s.safety_state} {s.safety_score}")
    pace = parse_pace(config.pace)
    rate = f"{config.rate_limit} requests/s per key" if config.rate_limit else "off"
    quota = "off" if config.monthly_quota is None else f"{config.monthly_quota} requests"
    lines.append(f"  pace {config.pace} ({pace:g} s per batch of 20); rate limit {rate}; monthly quota {quota}")
    faults = {n: v for n in FAULT_FIELDS if n not in _NOT_IN_FAULT_LINE and (v := getattr(config, n))}
    lines.append("  faults     " + (", ".join(f"{k}={_shown(v)}" for k, v in faults.items()) if faults else "none"))
    lines.append("  dialect    " + (", ".join(config.dialect) or "none (the canonical shapes)"))
    lines.append("  on WhatsApp: a valid number whose last digit is even")
    lines.append("  Airflow connection:")
    lines.append(f"    export AIRFLOW_CONN_MSGFLASH_DEFAULT='{json.dumps(conn)}'")
    lines.append("Press Ctrl+C to stop.")
    return "\n".join(lines)


def serve(config: SandboxConfig, announce: Callable[[str], None], exit_on_stdin_eof: bool = False) -> int:
    """Serve until stopped; ``announce(base_url)`` is called once the server accepts connections."""
    import uvicorn

    from airflow_provider_msgflash.sandbox.app import create_app
    from airflow_provider_msgflash.sandbox.server import base_url_for, bind_socket

    sock = bind_socket(config.host, config.port)
    base_url = base_url_for(config.host, sock.getsockname()[1])
    uv_config = uvicorn.Config(
        create_app(config),
        lifespan="on",
        log_level="info" if config.access_log else "warning",
        access_log=config.access_log,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(uv_config)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if server.started:
                announce(base_url)
                return
            done.wait(0.01)

    def stdin_watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        server.should_exit = True

    threading.Thread(target=watch, name="msgflash-sandbox-announce", daemon=True).start()
    if exit_on_stdin_eof:
        threading.Thread(target=stdin_watch, name="msgflash-sandbox-stdin", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        done.set()
        sock.close()
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, TypeError) as e:
        parser.error(str(e))

    def announce(base_url: str) -> None:
        if args.json:
            print(json.dumps(announcement(config, base_url)), flush=True)
        else:
            print(banner(config, base_url), flush=True)

    try:
        return serve(config, announce, exit_on_stdin_eof=args.exit_on_stdin_eof)
    except OSError as e:
        print(f"msgflash-sandbox: cannot listen on {config.host}:{config.port}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
