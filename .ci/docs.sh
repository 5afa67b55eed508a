#!/usr/bin/env bash
# Build the docs site strictly: `make docs` and a step of `make test` (.ci/test.sh).
#
#   .ci/docs.sh [OUT]     # HTML into OUT (default: a new temp folder; never inside the repository)
#
# Sphinx with MyST-Parser reads docs/*.md; the API reference comes from the package's docstrings (autodoc).
# -W --keep-going: every warning is reported, and any warning fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."

V=.venv/bin
out=${1:-}
if [ -z "$out" ]; then
    out=$(mktemp -d -t msgflash-docs.XXXXXX)
fi
t0=$(date +%s%N)
# autodoc imports the package and so Airflow: a throw-away Airflow home, removed at the end.
home=$(mktemp -d -t msgflash-docs-home.XXXXXX)
trap 'rm -rf "$home"' EXIT
AIRFLOW_HOME=$home AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR "$V/sphinx-build" -W --keep-going -q -b html -d "$out/.doctrees" docs "$out"
ms=$((($(date +%s%N) - t0) / 1000000))
printf 'docs: built in %d.%01d s, no warning: %s/index.html\n' $((ms / 1000)) $((ms % 1000 / 100)) "$out"
