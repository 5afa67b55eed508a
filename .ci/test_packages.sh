#!/usr/bin/env bash
# Debian packages the test suite needs, installed by the test path only (`make check`, `make test`: never on
# `make demo`'s path, nor by the venv's bootstrap). Idempotent: installs what is missing, when it can (root, or
# sudo without a password, with apt-get); otherwise says what to install, and the tests needing a package then
# fail naming it. The browser test installs Chromium itself (.ci/ensure_chromium.sh).
#
#   .ci/test_packages.sh check   # redis-server: the shared rate limiter's tests (tests/ratelimit/test_redis.py)
#   .ci/test_packages.sh         # the same, and postgresql: the CeleryExecutor e2e (tests/e2e_celery)
set -uo pipefail

missing=()
if ! command -v redis-server >/dev/null 2>&1; then
    missing+=(redis-server)  # also the Celery e2e's broker
fi
# A private PostgreSQL for the Celery e2e's metadata database (Debian's postgresql: /usr/lib/postgresql/*/bin,
# and the postgres user it creates, which the tests run it as when they are root).
if [ "${1:-test}" != check ]; then
    if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || ! id postgres >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "test_packages: missing ${missing[*]}: install them (apt-get install ${missing[*]}) for the tests" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "test_packages: missing ${missing[*]} and no apt-get: install them for the tests" >&2
    exit 0
fi
echo "test_packages: installing ${missing[*]} (apt) for the tests"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 || true
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        echo "test_packages: could not install ${missing[*]}; the tests needing them will fail" >&2
fi
# postgresql may start a cluster of its own (where an init system lets it): the tests run their own on a
# private port, so stop the one this install just started.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
        if [ "$status" = online ]; then
            "${SUDO[@]}" pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
        fi
    done
fi
exit 0
