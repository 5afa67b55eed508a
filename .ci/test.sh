#!/usr/bin/env bash
# `make test`: ruff, ruff format --check, mypy, the docs site (Sphinx, strict), pytest over tests/ (e2e
# included), then the version matrix (.ci/matrix/run.py: the built wheel and sdist on every supported Airflow line and Python). Every
# step runs even if an earlier one failed; a summary closes the run and the exit code is non-zero if any
# step failed (pytest's "no tests collected", exit 5, is a failure).
#
# Environment: PYTEST_ARGS (default "tests": e.g. "tests/hooks -k retry"), SKIP_MATRIX=1 (skip the
# matrix), MSGFLASH_PYTEST_TIMEOUT (seconds for the whole pytest run, default 1500),
# MSGFLASH_MATRIX_TIMEOUT (seconds for the whole matrix, default 1200).
set -uo pipefail
cd "$(dirname "$0")/.."

V=.venv/bin
if [ ! -x "$V/python" ]; then
    echo "test: $V/python missing; run 'make test' (it creates the venv)" >&2
    exit 2
fi

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

declare -a names=() results=() times=()
failed=0
pytest_line=""

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

run_pytest() {
    local junit="$AIRFLOW_HOME/junit.xml" rc
    # shellcheck disable=SC2086  # PYTEST_ARGS is split on purpose
    timeout --foreground --kill-after=30 "${MSGFLASH_PYTEST_TIMEOUT:-1500}" \
        "$V/python" -m pytest ${PYTEST_ARGS:-tests} -ra --junitxml="$junit"
    rc=$?
    pytest_line=$("$V/python" - "$junit" <<'EOF'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
bad = n["failures"] + n["errors"]
print(f"pytest: {n['tests'] - bad - n['skipped']} passed, {bad} failed, {n['skipped']} skipped")
EOF
    )
    case $rc in
    5) echo "test: pytest collected no tests (exit 5): that is a failure here" >&2 ;;
    124 | 137) echo "test: pytest exceeded ${MSGFLASH_PYTEST_TIMEOUT:-1500} s and was stopped" >&2 ;;
    esac
    return "$rc"
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
step "pytest" run_pytest
# Every benchmarks/bench_*.py in its smoke mode (a few seconds each), so none can rot.
step "benchmark smoke" "$V/python" benchmarks/smoke.py
if [ "${SKIP_MATRIX:-0}" = 1 ]; then
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
echo "======================== make test summary ($(($(date +%s) - t_start)) s) ========================"
for i in "${!names[@]}"; do
    printf '  %-22s %-42s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
if [ "$failed" -ne 0 ]; then
    echo "make test: FAILED"
else
    echo "make test: all steps passed"
fi
# Last line in the plain "N passed, N failed" form that CI reads.
[ -n "$pytest_line" ] && echo "$pytest_line"
exit "$failed"
