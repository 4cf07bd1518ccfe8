#!/usr/bin/env bash
# Quick-start command 1: create .venv inside the repository, install the
# locked environment (constraints.txt), and run the whole DVC pipeline from
# the embedded data. Debian's graphviz (`dot`) and chromium are installed if
# missing and possible (root or sudo; otherwise a warning).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/system-deps.sh
bash scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
dvc repro
