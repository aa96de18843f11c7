#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of the grpcio test client:
# tests/clients/python/.venv, or $TRIDENT_PYTHON_VENV. Reinstalls only when requirements.txt
# changed (a stamp file holds its hash). Prints the venv's python on stdout.
# Needs python3 with the venv module (Debian: python3, python3-venv; tools/setup.sh installs them)
# and PyPI (or a pip mirror configured for pip).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${TRIDENT_PYTHON_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
requirements="$here/requirements.txt"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
