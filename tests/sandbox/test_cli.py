"""The ``msgflash-sandbox`` command: ``--json`` line, banner, flags and environment variables."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest
import requests

from airflow_provider_msgflash.sandbox import ALL_DIALECTS, SANDBOX_API_KEY, SEEDED_INSTANCES, running_sandbox
from airflow_provider_msgflash.sandbox.cli import banner, build_parser, config_from_args, main
from airflow_provider_msgflash.sandbox.server import config_to_args

ROOT = Path(__file__).resolve().parents[2]
OTHER_KEY = "msgf_live_" + "ab" * 32


def _reader(stream: IO[bytes]) -> queue.Queue[bytes]:
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MSGFLASH_SANDBOX_")}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_msgflash.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_cli_json_line_first_then_serves() -> None:
    proc = _start_cli("--port", "0", "--json", "--rate-limit", "0")
    try:
        assert proc.stdout is not None
        first = _reader(proc.stdout).get(timeout=30)
        info = json.loads(first)
        assert {"base_url", "api_key", "team_key", "team_id", "instances"} <= set(info)
        assert info["api_key"] == SANDBOX_API_KEY
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert {i["name"]: i["id"] for i in info["instances"]} == {n: s.id for n, s in SEEDED_INSTANCES.items()}
        r = requests.get(info["base_url"] + "/api/v1/me", headers={"x-api-key": info["api_key"]}, timeout=5)
        assert r.status_code == 200
    finally:
        _stop(proc)


def test_cli_banner_and_environment_variables() -> None:
    env = {
        "MSGFLASH_SANDBOX_API_KEYS": OTHER_KEY,
        "MSGFLASH_SANDBOX_RATE_LIMIT": "0",
        "MSGFLASH_SANDBOX_PACE": "realistic",
    }
    proc = _start_cli("--port", "0", env=env)
    try:
        assert proc.stdout is not None
        lines = _reader(proc.stdout)
        text = ""
        for _ in range(200):
            line = lines.get(timeout=30).decode()
            text += line
            if not line or "Ctrl+C" in line:
                break
        assert "http://127.0.0.1:" in text and "AIRFLOW_CONN_MSGFLASH_DEFAULT=" in text
        assert SANDBOX_API_KEY in text and OTHER_KEY in text
        assert "rate limit off" in text and "pace realistic" in text and "dialect    none" in text
        for seed in SEEDED_INSTANCES.values():
            assert seed.id in text and seed.name in text
        base = next(w for w in text.split() if w.startswith("http://127.0.0.1:"))
        r = requests.get(base + "/api/v1/instances", headers={"x-api-key": OTHER_KEY}, timeout=5)
        assert r.status_code == 200
    finally:
        _stop(proc)
    assert proc.returncode is not None


def test_cli_refuses_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--host", "0.0.0.0", "--port", "0"])
    assert info.value.code == 2
    assert "loopback" in capsys.readouterr().err


def test_cli_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSGFLASH_SANDBOX_ERROR_RATE", "0.25")
    monkeypatch.setenv("MSGFLASH_SANDBOX_MONTHLY_QUOTA", "100")
    team = ["--team-key", "msgf_team_mine0000000", "--team-id", "11111111-2222-4333-8444-555555555555"]
    faults = ["--rate-limit", "0", "--pace", "0.3", "--storm-429", "2", "--drop-rate", "0.1", "--fail-lookups", "2"]
    args = build_parser().parse_args(["--api-key", OTHER_KEY, *team, *faults])
    cfg = config_from_args(args)
    assert cfg.api_keys == (SANDBOX_API_KEY, OTHER_KEY)
    assert cfg.team_keys == ("msgf_team_sandbox0000000000000000", "msgf_team_mine0000000")
    assert cfg.team_id == "11111111-2222-4333-8444-555555555555"
    assert (cfg.rate_limit, cfg.pace, cfg.storm_429, cfg.drop_rate, cfg.fail_lookups) == (None, "0.3", 2.0, 0.1, 2)
    assert (cfg.error_rate, cfg.monthly_quota) == (0.25, 100)
    only = config_from_args(build_parser().parse_args(["--no-default-keys", "--api-key", OTHER_KEY]))
    assert only.api_keys == (OTHER_KEY,)


def test_cli_dialect_flag_and_env(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert config_from_args(build_parser().parse_args([])).dialect == ()
    flag = config_from_args(build_parser().parse_args(["--dialect", "clock-behind,list-items"]))
    assert flag.dialect == ("list-items", "clock-behind")
    monkeypatch.setenv("MSGFLASH_SANDBOX_DIALECT", "all")
    assert config_from_args(build_parser().parse_args([])).dialect == ALL_DIALECTS
    assert config_from_args(build_parser().parse_args(["--dialect", "import-summary"])).dialect == ("import-summary",)
    monkeypatch.setenv("MSGFLASH_SANDBOX_DIALECT", "list-itemz")
    with pytest.raises(SystemExit) as info:
        main(["--port", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "dialect: unknown 'list-itemz'" in err and "list-items" in err


def test_cli_serves_the_dialect_from_the_environment() -> None:
    proc = _start_cli("--port", "0", "--json", env={"MSGFLASH_SANDBOX_DIALECT": "list-array,health-objects"})
    try:
        assert proc.stdout is not None
        info = json.loads(_reader(proc.stdout).get(timeout=30))
        assert info["dialect"] == ["list-array", "health-objects"]
        headers = {"x-api-key": info["api_key"]}
        listed = requests.get(info["base_url"] + "/api/v1/number-lookups", headers=headers, timeout=5)
        assert listed.json() == {"data": []}
        iid = SEEDED_INSTANCES["sandbox-connected"].id
        health = requests.get(f"{info['base_url']}/api/v1/instances/{iid}/health", headers=headers, timeout=5)
        assert health.json()["data"]["safetyScore"] == {"value": 92, "max": 100}
    finally:
        _stop(proc)


GATEWAY_FLAGS = [
    "--gateway-after-create",
    "2",
    "--gateway-status",
    "504",
    "--outage",
    "1.5",
    "--unavailable-routes",
    "GET /api/v1/number-lookups,/api/v1/me",
    "--gateway-429",
    "3",
    "--gateway-429-retry-after",
]
LOOKUP_FLAGS = [
    "--busy-account",
    "4",
    "--stall-seconds",
    "2.5",
    "--fail-error",
    "ACCOUNT_BLOCKED: The WhatsApp account behind this instance was blocked",
    "--disconnect-during-lookup",
    "1",
]


def test_cli_flags_of_the_new_switches() -> None:
    cfg = config_from_args(build_parser().parse_args([*GATEWAY_FLAGS, *LOOKUP_FLAGS]))
    assert (cfg.gateway_after_create, cfg.gateway_status, cfg.outage, cfg.gateway_429) == (2, 504, 1.5, 3.0)
    assert cfg.unavailable_routes == ("GET /api/v1/number-lookups", "/api/v1/me")
    assert cfg.gateway_429_retry_after is True
    assert (cfg.busy_account, cfg.stall_seconds, cfg.disconnect_during_lookup) == (4, 2.5, 1)
    assert cfg.fail_error == "ACCOUNT_BLOCKED: The WhatsApp account behind this instance was blocked"
    default = config_from_args(build_parser().parse_args([]))
    assert (default.gateway_status, default.fail_error, default.unavailable_routes) == (None, None, ())
    assert default.gateway_429_retry_after is False
    # The flags that start a subprocess sandbox reproduce a configuration exactly.
    assert config_from_args(build_parser().parse_args(config_to_args(cfg))) == cfg
    assert config_from_args(build_parser().parse_args(config_to_args(default))) == default


def test_cli_environment_variables_of_the_new_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "GATEWAY_AFTER_CREATE": "3",
        "GATEWAY_STATUS": "none",
        "OUTAGE": "2",
        "UNAVAILABLE_ROUTES": "POST /api/v1/number-lookups",
        "GATEWAY_429": "1",
        "GATEWAY_429_RETRY_AFTER": "1",
        "BUSY_ACCOUNT": "7",
        "STALL_SECONDS": "0.5",
        "FAIL_ERROR": "PROVIDER_ERROR: gone",
        "DISCONNECT_DURING_LOOKUP": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv("MSGFLASH_SANDBOX_" + name, value)
    cfg = config_from_args(build_parser().parse_args([]))
    assert (cfg.gateway_after_create, cfg.gateway_status, cfg.outage, cfg.gateway_429) == (3, None, 2.0, 1.0)
    assert cfg.unavailable_routes == ("POST /api/v1/number-lookups",) and cfg.gateway_429_retry_after is True
    assert (cfg.busy_account, cfg.stall_seconds, cfg.fail_error, cfg.disconnect_during_lookup) == (
        7,
        0.5,
        "PROVIDER_ERROR: gone",
        2,
    )
    assert config_from_args(build_parser().parse_args(["--busy-account", "1"])).busy_account == 1  # flags win


def test_cli_refuses_a_bad_new_switch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--port", "0", "--unavailable-routes", "list_lookups"])
    assert info.value.code == 2
    assert "unavailable_routes: unknown route 'list_lookups'" in capsys.readouterr().err


def test_banner_shows_the_new_switches() -> None:
    cfg = config_from_args(build_parser().parse_args([*GATEWAY_FLAGS, *LOOKUP_FLAGS]))
    faults = next(line for line in banner(cfg, "http://127.0.0.1:1").splitlines() if "faults" in line)
    assert "gateway_after_create=2" in faults and "gateway_429_retry_after=on" in faults
    assert "unavailable_routes='GET /api/v1/number-lookups,/api/v1/me'" in faults
    assert "fail_error='ACCOUNT_BLOCKED: The WhatsApp" in faults and "busy_account=4" in faults


def test_subprocess_sandbox_gets_the_new_switches() -> None:
    with running_sandbox(
        subprocess=True,
        rate_limit=0,
        gateway_after_create=1,
        unavailable_routes=["GET /api/v1/me"],
        busy_account=2,
        fail_error="ACCOUNT_BLOCKED: blocked",
        stall_seconds=1.0,
    ) as sb:
        f = sb.faults()
        assert (f["gateway_after_create"], f["unavailable_routes"], f["busy_account"]) == (1, ["GET /api/v1/me"], 2)
        assert (f["fail_error"], f["stall_seconds"]) == ("ACCOUNT_BLOCKED: blocked", 1.0)
        r = requests.get(sb.api_url + "/me", headers=sb.headers(), timeout=5)
        assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
