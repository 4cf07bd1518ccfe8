#!/usr/bin/env bash
# Debian packages the project needs besides Python: graphviz (the `dot` binary behind
# the graphviz Python binding: path diagrams) and chromium (tests/reporting/test_browser.py).
# Installs, quietly, only what is missing:  bash scripts/system-deps.sh [--required]
# Without --required a missing package that cannot be installed (no apt-get, not root)
# is a warning; with it (CI), an error.
set -uo pipefail
required=0
[ "${1:-}" = "--required" ] && required=1
declare -A probe=([graphviz]=dot [chromium]=chromium)
missing=()
for pkg in graphviz chromium; do
  command -v "${probe[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
  echo "system-deps: installing ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null &&
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rc=$?
else
  rc=1
fi
still=()
for pkg in "${missing[@]}"; do
  command -v "${probe[$pkg]}" >/dev/null 2>&1 || still+=("$pkg")
done
if [ ${#still[@]} -gt 0 ]; then
  msg="system-deps: missing Debian package(s) ${still[*]} (apt-get install ${still[*]})"
  if [ "$required" -eq 1 ]; then echo "error: $msg" >&2; exit 1; fi
  echo "warning: $msg" >&2
fi
exit 0
