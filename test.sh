#!/usr/bin/env bash
# Quick-start command 2: run the whole test suite (creates .venv if missing).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
# two processes (the machine's 2 cores); a test file stays on one worker, so its
# module-scoped fixtures (the e2e copies of the project) are built once
exec python -m pytest -n 2 --dist loadfile "$@"
