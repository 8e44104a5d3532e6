#!/usr/bin/env bash
# The whole test suite (called by `make test`):
#   1. unit tests (fast mode), the explorers' JavaScript against the package included;
#   2. the course as pip and Colab deliver it: one wheel, one clean virtual environment (tests/test_install.py);
#      beside it, on the other core, the instructor's tools: nbgrader generating and grading the assignments
#      (tests/test_assignments.py) and the launchers started as root and as a user (tests/test_launchers.py);
#   3. every notebook executed by nbval in classroom mode (DDPM_EDU_FAST=0: every claim checked at its budget),
#      two side by side, every figure checked, the executed copies written to build/executed;
#   4. what those copies show (tests/test_executed.py) and the browser tests (JupyterLab, Voila, every formula);
#   5. with SITE=1 (as CI runs it), the course site built from those executed notebooks and checked in a browser,
#      and the instructor's slides built from the same notebooks and checked deck by deck (tests/test_slides.py).
# Usage: scripts/run_tests.sh VENV_BIN
set -euo pipefail
BIN=${1:-.venv/bin}
export DDPM_EDU_FAST=1 PYTHONHASHSEED=0
export DDPM_EDU_EXECUTED_DIR=${DDPM_EDU_EXECUTED_DIR:-build/executed}

# Browser tests need Debian's Chromium; install it where we can (root with apt), else they skip and say so.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser tests (apt)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: the browser tests will skip"
fi

start=$(date +%s)
rm -rf "$DDPM_EDU_EXECUTED_DIR"
stage() { echo "[$1: $(( $(date +%s) - start )) s since the start]"; }
MPLBACKEND=Agg "$BIN/python" -m pytest -q -rs tests --ignore=tests/test_browser.py --ignore=tests/test_site.py \
  --ignore=tests/test_executed.py --ignore=tests/test_install.py --ignore=tests/test_assignments.py \
  --ignore=tests/test_launchers.py --ignore=tests/test_slides.py
stage "unit tests done"
mkdir -p build
MPLBACKEND=Agg "$BIN/python" -m pytest -q -rs -p no:cacheprovider tests/test_assignments.py tests/test_launchers.py \
  > build/instructor-tests.log 2>&1 &
side=$!
trap 'kill $side 2>/dev/null || true' EXIT
MPLBACKEND=Agg "$BIN/python" -m pytest -q -rs -s tests/test_install.py
stage "install tests done"
side_status=0
wait $side || side_status=$?
cat build/instructor-tests.log
[ "$side_status" = 0 ] || { echo "the instructor tests failed (above)"; exit 1; }
stage "instructor tests done"
# notebooks under nbval in classroom mode, two at a time with the cores shared (scripts/build_site.py --execute-into;
# it drops MPLBACKEND, so that their figures are inline PNGs in the executed copies)
DDPM_EDU_FAST=0 "$BIN/python" scripts/build_site.py --execute-into "$DDPM_EDU_EXECUTED_DIR"
stage "notebooks done"
MPLBACKEND=Agg "$BIN/python" -m pytest -q -rs tests/test_executed.py tests/test_browser.py
stage "browser tests done"
if [ -n "${SITE:-}" ]; then
  # the course site, built from the notebooks exactly as this run executed them, then checked in a browser
  site_start=$(date +%s)
  "$BIN/python" scripts/build_site.py --executed "$DDPM_EDU_EXECUTED_DIR"
  echo "site build: $(( $(date +%s) - site_start )) s"
  "$BIN/python" -m pytest -q -rs -s tests/test_site.py tests/test_slides.py
fi
echo "whole test run: $(( $(date +%s) - start )) s"
