# Developer commands (see docs/development.md). Needs only Python 3.11, make and the package index.
#
#   make demo           run the example DAG against a local sandbox, with a readable story of what it did
#   make check          the fast tier: ruff, ruff format --check, mypy, the docs site, the tests that start no Airflow process
#   make test           everything (CI's one command): the checks, the docs site, all of pytest (e2e, browser), benchmark smoke, matrix
#   make matrix         only the version matrix: the built wheel on Airflow 2.11 to 3.3 (ONLY="3.3 2.11" for some)
#   make matrix-latest  the canary: every cell with today's newest packages (no locks), and what breaks
#   make lock           (re)make locks/ after a change of pyproject.toml's dependencies (UPGRADE=1: newest packages)
#   make bench          every benchmarks/bench_*.py, one after another
#   make docs           the docs site (Sphinx, warnings are errors) into $(DOCS_OUT) (default: a temp folder)
#   make charts         the performance guide's charts (docs/_static/*.png), drawn by the benchmarks (~10 min)
#   make clean          remove the venvs and caches

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv

export PYTHON

.DEFAULT_GOAL := help
.PHONY: help venv lock check test demo bench matrix matrix-latest docs charts clean

help:
	@sed -n 's/^#   make /make /p' Makefile

# Idempotent: re-installs only when the locks (or pyproject.toml, or the bootstrap script) changed; fails,
# saying to run `make lock`, when pyproject.toml's dependencies no longer match the locks.
venv:
	@.ci/bootstrap.sh $(VENV)

# Every lock in locks/ (.ci/lock.py): the dev venv, the wheel build, one per matrix cell.
lock:
	@.ci/bootstrap.sh $(VENV) --uv-only
	@$(PYTHON) .ci/lock.py --uv $(VENV)/bin/uv $(if $(UPGRADE),--upgrade)

check: venv
	@.ci/test.sh check

test: venv
	@.ci/test.sh

demo: venv
	@$(VENV)/bin/python .ci/demo.py

# Only the version matrix (make test runs it too): wheel + sdist, then every Airflow line x Python.
matrix: venv
	@$(VENV)/bin/python .ci/matrix/run.py $(if $(ONLY),--only $(ONLY))

# Not part of make test: what a user who installs without constraints gets today.
matrix-latest: venv
	@$(VENV)/bin/python .ci/matrix/run.py --latest $(if $(ONLY),--only $(ONLY))

bench: venv
	@set -e; shopt -s nullglob; files=(benchmarks/bench_*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "bench: no benchmarks/bench_*.py yet"; exit 0; fi; \
	for f in "$${files[@]}"; do \
		echo "==> $$f"; \
		$(VENV)/bin/python "$$f" || { echo "bench: $$f failed" >&2; exit 1; }; \
	done

# Strict: a warning fails the build (make test runs the same script). Output outside the repository.
docs: venv
	@.ci/docs.sh $(DOCS_OUT)

# The benchmarks draw the charts from the figures they measure (benchmarks/_charts.py); the smoke runs of make
# test draw theirs in a temp folder. Sizes: the polling rows the chart shows (2 minutes), every hosts case.
charts: venv
	$(VENV)/bin/python benchmarks/bench_polling.py --sizes 250,2000 --dialects none --paces '20>50' \
		--chart docs/_static/polling-calls.png
	$(VENV)/bin/python benchmarks/bench_many_hosts.py --chart docs/_static/many-hosts.png

clean:
	rm -rf $(VENV) .venv-matrix .venv-matrix-latest .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
