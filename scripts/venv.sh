#!/usr/bin/env bash
# Create .venv (Python 3.11 by default) and install the locked project, idempotently:
#   pip install -c constraints.txt -e ".[dev]"
# constraints.txt pins every package of the environment (README, "Dependencies").
# Reinstalls only when pyproject.toml or constraints.txt changed since the last install.
# Another interpreter: PYTHON=python3.12 VENV=/tmp/venv312 bash scripts/venv.sh
# (3.11, 3.12 and 3.13 are supported).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY=$cand; break; fi
  done
fi
[ -n "$PY" ] || { echo "error: Python 3.11 not found (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
"$PY" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 13)))' || {
  echo "error: $PY is Python $("$PY" -c 'import sys; print(sys.version.split()[0])'); 3.11, 3.12 or 3.13 is needed" >&2
  exit 1
}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
