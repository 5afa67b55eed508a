#!/usr/bin/env bash
# Create or refresh the development venv from its lock, quickly and idempotently.
#
#   .ci/bootstrap.sh [VENV]              # .venv: exactly locks/dev-py3.11.txt, then the provider (-e . --no-deps)
#   .ci/bootstrap.sh [VENV] --uv-only    # only the venv and the pinned uv (what `make lock` needs)
#
# Nothing is resolved here: `uv pip sync` installs the lock's exact pins (and removes anything else), the
# editable provider goes in with --no-deps, its build with the build lock's pins (-b), and `uv pip check`
# proves the set consistent. First, `.ci/lock.py --check`: when pyproject.toml's dependency tables (or a
# matrix line's pins) no longer match the locks' headers this stops, saying to run `make lock`, rather
# than installing something else than the locks say.
#
# The venv is (re)installed when its stamp differs from a hash of the locks, pyproject.toml, this script
# and the interpreter version; otherwise this does nothing (well under a second). A venv whose
# interpreter no longer runs is rebuilt from nothing. uv (pinned: UV_VERSION below, the one pin of it; the
# dev lock pins the same) goes into the venv with pip. Installs use --compile-bytecode: this machine sets
# PYTHONDONTWRITEBYTECODE=1, so without compiled bytecode every `airflow` command would pay ~3 s more.
# No Debian package is installed here (the test path does that: .ci/test_packages.sh, .ci/ensure_chromium.sh).
#
# Environment: PYTHON (interpreter to create the venv with: Python 3.11, the locks' Python; default
# python3.11), UV_CACHE_DIR (uv's download cache), MSGFLASH_BOOTSTRAP_VERBOSE=1 (show installer output).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
LOCK=locks/dev-py3.11.txt
BUILD_LOCK=locks/build-py3.11.txt
venv=.venv
uv_only=0
for arg in "$@"; do
    case $arg in
    --uv-only) uv_only=1 ;;
    *) venv=$arg ;;
    esac
done

py=${PYTHON:-}
if [ -z "$py" ]; then
    py=$(command -v python3.11 || command -v python3 || true)
fi
if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    echo "bootstrap: need Python 3.11 (the locks are made for it); found '${py:-nothing}'." >&2
    exit 2
fi
pyver=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')

if [ "$uv_only" = 0 ] && ! "$py" .ci/lock.py --check; then
    echo "bootstrap: the locks do not match their inputs (above); nothing installed." >&2
    echo "bootstrap: pyproject.toml changed since the locks were made: run make lock (then commit locks/)." >&2
    exit 3
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
fi
if [ "$("$venv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    if [ -x "$venv/bin/uv" ]; then # pip is gone once a lock was synced: the old uv installs the new one
        run "$venv/bin/uv" pip install --python "$venv/bin/python" "uv==$UV_VERSION"
    else
        run "$venv/bin/python" -m pip install --quiet "uv==$UV_VERSION"
    fi
fi
if [ "$uv_only" = 1 ]; then
    exit 0
fi

key=$(
    {
        cat "$LOCK" "$BUILD_LOCK" pyproject.toml .ci/bootstrap.sh
        printf '%s\n' "$pyver"
    } | sha256sum | cut -c1-32
)
stamp="$venv/.msgflash-bootstrap-stamp"
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$key" ]; then
    echo "venv $venv: up to date with $LOCK ($("$venv/bin/python" -V 2>&1))"
    exit 0
fi

rm -f "$stamp"
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
uv=("$venv/bin/uv" pip)
echo "venv $venv: uv pip sync $LOCK"
run "${uv[@]}" sync --python "$venv/bin/python" --compile-bytecode "$LOCK"
# --reinstall-package refreshes our editable install's metadata (entry points, console scripts).
run "${uv[@]}" install --python "$venv/bin/python" --compile-bytecode --no-deps -b "$BUILD_LOCK" \
    --reinstall-package airflow-provider-msgflash -e .
run "${uv[@]}" check --python "$venv/bin/python"
echo "$key" >"$stamp"
ms=$((($(date +%s%N) - t0) / 1000000))
printf 'venv %s: ready in %d.%01d s (%s packages, exactly %s)\n' "$venv" $((ms / 1000)) $((ms % 1000 / 100)) \
    "$("${uv[@]}" list --python "$venv/bin/python" 2>/dev/null | tail -n +3 | wc -l)" "$LOCK"
