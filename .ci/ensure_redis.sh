#!/usr/bin/env bash
# Make sure Debian's redis-server is installed: the shared rate limiter's tests (tests/ratelimit/test_redis.py)
# run a private one. Part of the test path (`make test`, `make check`), not of the venv's bootstrap, so that
# `make demo` installs no Debian package. Does nothing when `redis-server` is on PATH; otherwise installs it
# with apt-get when this is root (or sudo without a password); else says what to install (the test then
# fails naming it, as tests/ratelimit/conftest.py does).
set -uo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "ensure_redis: redis-server not found: install it (apt-get install redis-server) for tests/ratelimit/test_redis.py" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_redis: redis-server not found and no apt-get: install redis-server for tests/ratelimit/test_redis.py" >&2
    exit 0
fi
echo "ensure_redis: installing redis-server (apt) for the shared limiter's tests"
if ! DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq redis-server >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq redis-server >/dev/null 2>&1 ||
        echo "ensure_redis: could not install redis-server; tests/ratelimit/test_redis.py will fail" >&2
fi
exit 0
