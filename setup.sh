#!/usr/bin/env bash
# Quick-start command 1: create .venv inside the repository, install the
# pinned environment, and run the whole DVC pipeline from the embedded data.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
dvc repro
