#!/usr/bin/env bash
# Set everything up, then run the test suite (real embedding model and real LLM included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
