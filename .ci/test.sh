#!/usr/bin/env bash
# `make test` (.ci/test.sh): ruff, ruff format --check, mypy, the docs site (Sphinx,
# strict, .ci/docs.sh), then pytest over tests/ in two steps (the tests
# that start no Airflow process on 4 pytest-xdist workers; then the complement, e2e, browser and
# airflow_process, one at a time), the benchmarks' smoke runs, and the version matrix (.ci/matrix/run.py: the
# built wheel and sdist on every supported Airflow line and Python, each cell installed from its lock).
# `make check` (.ci/test.sh check): the fast tier: ruff, ruff format --check, mypy, the docs site, and the first pytest step
# only (-m "not e2e and not browser and not airflow_process"; tests/conftest.py marks every test that uses
# the migrated Airflow database `airflow_process`). Every test stays in `make test`.
#
# Every step runs even if an earlier one failed; a summary closes the run and the exit code is non-zero if
# any step failed (pytest's "no tests collected", exit 5, is a failure).
#
# Environment: PYTEST_ARGS (replaces both pytest steps by one run of these arguments, e.g. "tests/hooks -k
# retry"), SKIP_MATRIX=1 (skip the matrix), MSGFLASH_PYTEST_WORKERS (xdist workers, default 4),
# MSGFLASH_PYTEST_TIMEOUT (seconds for each pytest step, default 1500),
# MSGFLASH_MATRIX_TIMEOUT (seconds for the whole matrix, default 1200).
set -uo pipefail
cd "$(dirname "$0")/.."

tier=${1:-test}
case $tier in
test | check) ;;
*)
    echo "test: unknown tier '$tier' (test or check)" >&2
    exit 2
    ;;
esac
CHECK_MARKERS="not e2e and not browser and not airflow_process"

V=.venv/bin
if [ ! -x "$V/python" ]; then
    echo "test: $V/python missing; run 'make $tier' (it creates the venv)" >&2
    exit 2
fi
# The venv and every matrix cell install from locks/: stop at once when they no longer match pyproject.toml.
if ! "$V/python" .ci/lock.py --check; then
    echo "test: pyproject.toml changed since the locks were made: run make lock" >&2
    exit 3
fi
# The Debian packages of the tests: redis-server; for make test also postgresql (the Celery e2e).
.ci/test_packages.sh "$tier"

AIRFLOW_HOME=$(mktemp -d -t msgflash-test-home.XXXXXX)
export AIRFLOW_HOME
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# Every process started from here inherits this id; .ci/reap.py stops any left at the end.
MSGFLASH_RUN_ID="test-$(date +%s)-$$-$RANDOM"
export MSGFLASH_RUN_ID

cleanup() {
    "$V/python" .ci/reap.py "$MSGFLASH_RUN_ID" >/dev/null 2>&1 || true
    rm -rf "$AIRFLOW_HOME"
}
trap cleanup EXIT
trap 'echo; echo "test: interrupted" >&2; exit 130' INT TERM

declare -a names=() results=() times=() junits=()
failed=0

step() { # step NAME CMD...
    local name=$1
    shift
    echo
    echo "==> $name: $*"
    local t0 rc ms
    t0=$(date +%s%N)
    "$@"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    names+=("$name")
    times+=("$(printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)))")
    if [ "$rc" -eq 0 ]; then
        results+=("ok")
    else
        results+=("FAILED (exit $rc)")
        failed=1
    fi
    return 0
}

# run_pytest PART: "fast" = the tests that start no Airflow process, on MSGFLASH_PYTEST_WORKERS (4) xdist
# workers, a file per worker at a time (they mostly wait: one process uses ~7 % of a core); "airflow" = the
# complement (e2e, browser, airflow_process), one at a time; "args" = PYTEST_ARGS as given, one process.
run_pytest() {
    local part=$1 rc
    local junit="$AIRFLOW_HOME/junit-$part.xml"
    local -a args
    case $part in
    fast) args=(tests -m "$CHECK_MARKERS" -n "${MSGFLASH_PYTEST_WORKERS:-4}" --dist loadfile) ;;
    airflow) args=(tests -m "not ($CHECK_MARKERS)") ;;
    # shellcheck disable=SC2206  # PYTEST_ARGS is split on purpose
    *) args=(${PYTEST_ARGS:-tests}) ;;
    esac
    junits+=("$junit")
    timeout --foreground --kill-after=30 "${MSGFLASH_PYTEST_TIMEOUT:-1500}" \
        "$V/python" -m pytest "${args[@]}" -ra --junitxml="$junit"
    rc=$?
    case $rc in
    5) echo "test: pytest collected no tests (exit 5): that is a failure here" >&2 ;;
    124 | 137) echo "test: pytest exceeded ${MSGFLASH_PYTEST_TIMEOUT:-1500} s and was stopped" >&2 ;;
    esac
    return "$rc"
}

# "pytest: N passed, N failed, N skipped" over every pytest run of this make test / make check.
pytest_totals() {
    "$V/python" - "${junits[@]}" <<'EOF'
import sys
import xml.etree.ElementTree as ET

n = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
seen = False
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        continue
    seen = True
    for s in [root] if root.tag == "testsuite" else list(root.iter("testsuite")):
        for k in n:
            n[k] += int(s.get(k, 0))
if seen:
    bad = n["failures"] + n["errors"]
    print(f"pytest: {n['tests'] - bad - n['skipped']} passed, {bad} failed, {n['skipped']} skipped")
EOF
}

run_matrix() {
    local rc
    timeout --foreground --kill-after=30 "${MSGFLASH_MATRIX_TIMEOUT:-1200}" "$V/python" .ci/matrix/run.py
    rc=$?
    case $rc in
    124 | 137) echo "test: the version matrix exceeded ${MSGFLASH_MATRIX_TIMEOUT:-1200} s and was stopped" >&2 ;;
    esac
    return "$rc"
}

t_start=$(date +%s)
step "ruff check" "$V/ruff" check .
step "ruff format" "$V/ruff" format --check .
step "mypy" "$V/mypy"
# The docs site, warnings as errors (.ci/docs.sh; `make docs` alone), built into the run's temp home.
step "docs" .ci/docs.sh "$AIRFLOW_HOME/docs-html"
if [ -n "${PYTEST_ARGS:-}" ]; then
    step "pytest ($PYTEST_ARGS)" run_pytest args
elif [ "$tier" = check ]; then
    step "pytest, no Airflow process" run_pytest fast
else
    step "pytest, no Airflow process" run_pytest fast
    step "pytest, Airflow processes" run_pytest airflow
fi
if [ "$tier" = test ]; then
    # Every benchmarks/bench_*.py in its smoke mode (a few seconds each), so none can rot.
    step "benchmark smoke" "$V/python" benchmarks/smoke.py
fi
if [ "$tier" = check ]; then
    :
elif [ "${SKIP_MATRIX:-0}" = 1 ]; then
    names+=("version matrix")
    results+=("skipped (SKIP_MATRIX=1)")
    times+=("-")
else
    step "version matrix" run_matrix
fi

# Anything still running from this run is a leak (a test that did not stop its sandbox or Airflow).
if ! "$V/python" .ci/reap.py "$MSGFLASH_RUN_ID"; then
    echo "test: WARNING: processes were left running by the steps above and have been stopped" >&2
    names+=("leftover processes")
    results+=("WARNING: some were left running (stopped)")
    times+=("-")
fi

echo
echo "======================== make $tier summary ($(($(date +%s) - t_start)) s) ========================"
for i in "${!names[@]}"; do
    printf '  %-28s %-42s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
if [ "$failed" -ne 0 ]; then
    echo "make $tier: FAILED"
else
    echo "make $tier: all steps passed"
fi
# Last line in the plain "N passed, N failed" form that CI reads.
pytest_totals
exit "$failed"
