#!/usr/bin/env bash
# Quick-start command 2: run the whole test suite (creates .venv if missing).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
exec python -m pytest "$@"
