#!/usr/bin/env bash
# Debian packages the test suite needs, installed for `make test` only (never on `make demo`'s path).
#
#   .ci/test_packages.sh     # idempotent: installs what is missing, when it can (root with apt-get)
#
# Without root or apt-get it says what to install; the tests needing a package then fail saying so.
set -uo pipefail

missing=()
# --- CeleryExecutor e2e (tests/e2e_celery; tests/e2e/_celery_stack.py) ---------------------------------
# A private PostgreSQL for Airflow's metadata database (Debian's postgresql: /usr/lib/postgresql/*/bin,
# and the postgres user it creates, which the tests run it as when they are root). Its broker is a
# redis-server, installed by .ci/bootstrap.sh for the shared limiter's tests.
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || ! id postgres >/dev/null 2>&1; then
    missing+=(postgresql)
fi
# ---------------------------------------------------------------------------------------------------------

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test_packages: missing ${missing[*]}: install them (apt-get install ${missing[*]}) for the tests" >&2
    exit 0
fi
echo "test_packages: installing ${missing[*]} (apt) for the tests"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        echo "test_packages: could not install ${missing[*]}; tests/e2e_celery will fail" >&2
fi
# The package may start a cluster of its own (where an init system lets it): the tests run their own on a
# private port, so stop the one this install just started.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
        if [ "$status" = online ]; then
            pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
        fi
    done
fi
exit 0
