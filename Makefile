# Developer commands (see docs/development.md). Needs only Python 3.11, make and the package index.
#
#   make demo    run the example DAG against a local sandbox, with a readable story of what it did
#   make test    ruff, ruff format --check, mypy, pytest (e2e included), the version matrix
#   make matrix  only the version matrix: the built wheel on Airflow 2.11 to 3.3 (ONLY="3.3 2.11" for some)
#   make bench   every benchmarks/bench_*.py, one after another
#   make clean   remove the venvs and caches

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv

export PYTHON

.DEFAULT_GOAL := help
.PHONY: help venv test demo bench matrix clean

help:
	@sed -n 's/^#   make /make /p' Makefile

# Idempotent: re-installs only when pyproject.toml (or the bootstrap script) changed.
venv:
	@.ci/bootstrap.sh $(VENV)

test: venv
	@.ci/test_packages.sh
	@.ci/test.sh

demo: venv
	@$(VENV)/bin/python .ci/demo.py

# Only the version matrix (make test runs it too): wheel + sdist, then every Airflow line x Python.
matrix: venv
	@$(VENV)/bin/python .ci/matrix/run.py $(if $(ONLY),--only $(ONLY))

bench: venv
	@set -e; shopt -s nullglob; files=(benchmarks/bench_*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "bench: no benchmarks/bench_*.py yet"; exit 0; fi; \
	for f in "$${files[@]}"; do \
		echo "==> $$f"; \
		$(VENV)/bin/python "$$f" || { echo "bench: $$f failed" >&2; exit 1; }; \
	done

clean:
	rm -rf $(VENV) .venv-matrix .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
