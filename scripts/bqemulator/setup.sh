#!/usr/bin/env bash
# Create (idempotently) the separate virtualenv that runs the BigQuery emulator for the
# connector tests. bqemulator pins sqlglot<30.12, which breaks fakesnow in the main venv, so it
# lives in var/bqemu-venv (var/ is the git-ignored runtime folder).
#
# Usage: scripts/bqemulator/setup.sh            (from anywhere; paths are resolved from the repo)
# Env:   BQEMU_VENV   override the venv folder (default: <repo>/var/bqemu-venv)
#        PYTHON       interpreter to build it with (default: python3.11, else python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${BQEMU_VENV:-$repo/var/bqemu-venv}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"

# Versions seen working together: the emulator's DuckDB must match the spatial extension wheel.
packages=(
  "bqemulator==1.4.0"
  "duckdb==1.5.5"
  "duckdb-extension-spatial==1.5.5"
  "numpy"
)
stamp="$venv/.ic-setup-ok"
want="${packages[*]}"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/bqemulator" ]]; then
  exit 0
fi

mkdir -p "$(dirname "$venv")"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
# Written last, so that an interrupted install is retried on the next call.
printf '%s' "$want" >"$stamp"
echo "bqemulator venv ready: $venv"
