#!/usr/bin/env bash
# Create or refresh a virtualenv of this repository, quickly and idempotently.
#
#   .ci/bootstrap.sh                         # .venv: -e '.[dev]' apache-airflow==3.3.2
#   .ci/bootstrap.sh VENV REQUIREMENT...      # any venv, any requirement set (uv pip install args)
#
# The venv is (re)installed when its stamp differs from a hash of pyproject.toml, this script, the
# requirement set and the interpreter version; otherwise this does nothing (well under a second).
# A venv whose interpreter no longer runs is rebuilt from nothing. Installs use uv (installed into the
# venv with pip) with --compile-bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1, so without
# compiled bytecode every `airflow` command would pay ~3 s more.
#
# Environment: PYTHON (interpreter to create the venv with; default python3.11, else python3),
# UV_CACHE_DIR (uv's download cache), MSGFLASH_BOOTSTRAP_VERBOSE=1 (show installer output).
set -euo pipefail
cd "$(dirname "$0")/.."

AIRFLOW_VERSION_DEFAULT=3.3.2
venv=${1:-.venv}
if [ $# -gt 0 ]; then shift; fi
if [ $# -eq 0 ]; then
    set -- -e '.[dev]' "apache-airflow==${AIRFLOW_VERSION_DEFAULT}"
fi

py=${PYTHON:-}
if [ -z "$py" ]; then
    py=$(command -v python3.11 || command -v python3 || true)
fi
if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "bootstrap: need Python >= 3.10 (python3.11 preferred); found '${py:-nothing}'." >&2
    exit 2
fi
pyver=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')

# --- redis-server (limiter branch) --------------------------------------------------------------------
# The shared rate limiter's tests (tests/ratelimit/test_redis.py) run a private redis-server, Debian's
# package. Installed here when missing and possible (root with apt-get); otherwise say what to install.
if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing redis-server (apt) for the shared limiter's tests"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1; then
            apt-get update -qq >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1 ||
                echo "bootstrap: could not install redis-server; tests/ratelimit/test_redis.py will fail" >&2
        fi
    else
        echo "bootstrap: redis-server not found: install it (apt-get install redis-server) for tests/ratelimit/test_redis.py" >&2
    fi
fi
# -------------------------------------------------------------------------------------------------------

key=$(
    {
        cat pyproject.toml .ci/bootstrap.sh
        printf '%s\n' "$@" "$pyver"
    } | sha256sum | cut -c1-32
)
stamp="$venv/.msgflash-bootstrap-stamp"

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$key" ] &&
    "$venv/bin/python" -c '' 2>/dev/null; then
    echo "venv $venv: up to date ($("$venv/bin/python" -V 2>&1))"
    exit 0
fi

t0=$(date +%s%N)
log=$(mktemp -t msgflash-bootstrap.XXXXXX)
trap 'rm -f "$log"' EXIT
run() { # run quietly; on failure show what it said
    if [ "${MSGFLASH_BOOTSTRAP_VERBOSE:-0}" = 1 ]; then
        "$@"
    elif ! "$@" >"$log" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true
        echo "bootstrap: failed: $*" >&2
        exit 1
    fi
}

if [ -e "$venv" ] && ! "$venv/bin/python" -c '' 2>/dev/null; then
    echo "venv $venv: interpreter broken or missing, rebuilding from nothing"
    rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "venv $venv: creating with $py ($pyver)"
    run "$py" -m venv "$venv"
else
    echo "venv $venv: requirements changed, updating in place"
fi
rm -f "$stamp"
if [ ! -x "$venv/bin/uv" ]; then
    run "$venv/bin/python" -m pip install --quiet uv
fi
echo "venv $venv: uv pip install $*"
# --reinstall-package refreshes our editable install's metadata (entry points, console scripts).
run "$venv/bin/uv" pip install --python "$venv/bin/python" --compile-bytecode \
    --reinstall-package airflow-provider-msgflash "$@"
echo "$key" >"$stamp"
ms=$((($(date +%s%N) - t0) / 1000000))
printf 'venv %s: ready in %d.%01d s (%s packages)\n' "$venv" $((ms / 1000)) $((ms % 1000 / 100)) \
    "$("$venv/bin/uv" pip list --python "$venv/bin/python" 2>/dev/null | tail -n +3 | wc -l)"
