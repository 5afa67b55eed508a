# Developer commands (see docs/development.md). Needs only Python 3.11, make and the package index.
#
#   make demo    run the example DAG against a local sandbox, with a readable story of what it did
#   make test    ruff, ruff format --check, mypy, pytest (e2e included), Airflow 2.11 compatibility
#   make bench   every benchmarks/bench_*.py, one after another
#   make clean   remove the venvs and caches

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv

export PYTHON

.DEFAULT_GOAL := help
.PHONY: help venv venv-af2 test demo bench af2 clean

help:
	@sed -n 's/^#   make /make /p' Makefile

# Idempotent: re-installs only when pyproject.toml (or the bootstrap script) changed.
venv:
	@.ci/bootstrap.sh $(VENV)

venv-af2:
	@.ci/check_airflow2.sh --venv-only

test: venv
	@.ci/test.sh

demo: venv
	@$(VENV)/bin/python .ci/demo.py

# Only the Airflow 2.11 compatibility check (make test runs it too).
af2:
	@.ci/check_airflow2.sh

bench: venv
	@set -e; shopt -s nullglob; files=(benchmarks/bench_*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "bench: no benchmarks/bench_*.py yet"; exit 0; fi; \
	for f in "$${files[@]}"; do \
		echo "==> $$f"; \
		$(VENV)/bin/python "$$f" || { echo "bench: $$f failed" >&2; exit 1; }; \
	done

clean:
	rm -rf $(VENV) .venv-af2 .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
