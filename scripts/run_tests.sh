#!/usr/bin/env bash
# The whole test suite: unit and browser tests, then every notebook executed by nbval in fast mode.
# Usage: scripts/run_tests.sh VENV_BIN   (called by `make test`)
set -euo pipefail
BIN=${1:-.venv/bin}
export DDPM_EDU_FAST=1 MPLBACKEND=Agg PYTHONHASHSEED=0

# Browser tests need Debian's Chromium; install it where we can (root with apt), else they skip and say so.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser tests (apt)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: the browser tests will skip"
fi

start=$(date +%s)
"$BIN/python" -m pytest -q -rs tests
"$BIN/python" -m pytest -q --nbval-lax --nbval-current-env notebooks/
echo "whole test run: $(( $(date +%s) - start )) s"
