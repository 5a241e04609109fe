#!/usr/bin/env bash
# Create .venv and install tenantctl with everything it needs. Idempotent: re-runs only when
# pyproject.toml changed. Works on a fresh machine with Python 3.11 and pip.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      python=$candidate; break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "Error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $python" >&2
  "$python" -m venv .venv
fi

stamp=.venv/.tenantctl-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "Installing dependencies into .venv (the first time compiles llama-cpp-python: ~6 minutes)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first and pinned: a CPU wheel of 2.13.0 lies on disk; anything else downloads GBs.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[test]"
  echo "$want" > "$stamp"
fi
