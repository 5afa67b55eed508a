#!/usr/bin/env bash
# Airflow 2.11 compatibility check (run at the end of `make test`; alone: `make af2`).
#
# Builds (or reuses) .venv-af2 with apache-airflow 2.11 and this package (editable), then, in a temp
# AIRFLOW_HOME: `airflow providers list` must list the provider; every module of the package must
# import (the sandbox is skipped when fastapi is absent); the modules named by get_provider_info()
# must import; MsgFlashHook's form behaviour, its reading of AIRFLOW_CONN_MSGFLASH_DEFAULT and a quick
# (False, message) from test_connection() against a closed loopback port are checked.
#
#   .ci/check_airflow2.sh              # venv (cached) + checks
#   .ci/check_airflow2.sh --venv-only  # only create/refresh .venv-af2
set -euo pipefail
cd "$(dirname "$0")/.."

AF2_VERSION=2.11.2
# Pins needed on top of apache-airflow==2.11.2 for it to resolve and import on Python 3.11 (none so
# far: uv resolves sqlalchemy 1.4, connexion 2.x and flask-session 0.8 from Airflow's own ranges).
AF2_PINS=()
venv=.venv-af2

t0=$(date +%s%N)
.ci/bootstrap.sh "$venv" -e . "apache-airflow==${AF2_VERSION}" ${AF2_PINS[@]+"${AF2_PINS[@]}"}
ms=$((($(date +%s%N) - t0) / 1000000))
printf 'af2: venv %s ready (%d.%d s)\n' "$venv" $((ms / 1000)) $((ms % 1000 / 100))
if [ "${1:-}" = "--venv-only" ]; then
    exit 0
fi

home=$(mktemp -d -t msgflash-af2-home.XXXXXX)
trap 'rm -rf "$home"' EXIT
export AIRFLOW_HOME="$home"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export PYTHONWARNINGS=ignore
unset AIRFLOW__CORE__UNIT_TEST_MODE AIRFLOW__CORE__DAGS_FOLDER

# A loopback port nobody listens on: bind one, note it, close it.
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key="msgf_live_$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(32))')"
AIRFLOW_CONN_MSGFLASH_DEFAULT=$(printf '{"conn_type": "msgflash", "host": "http://127.0.0.1:%s", "password": "%s", "extra": {"max_retries": 0, "timeout": 5}}' "$port" "$key")
export AIRFLOW_CONN_MSGFLASH_DEFAULT

echo "af2: airflow providers list"
if ! "$venv/bin/airflow" providers list -o json >"$home/providers.json" 2>"$home/providers.err"; then
    cat "$home/providers.err" >&2
    echo "af2: 'airflow providers list' failed" >&2
    exit 1
fi
"$venv/bin/python" .ci/af2_check.py "$home/providers.json"
