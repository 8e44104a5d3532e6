#!/usr/bin/env bash
# The whole test suite: unit tests, then every notebook executed by nbval in fast mode.
# Usage: scripts/run_tests.sh VENV_BIN   (called by `make test`)
set -euo pipefail
BIN=${1:-.venv/bin}
export DDPM_EDU_FAST=1 MPLBACKEND=Agg PYTHONHASHSEED=0
"$BIN/python" -m pytest -q tests
"$BIN/python" -m pytest -q --nbval-lax --nbval-current-env notebooks/
