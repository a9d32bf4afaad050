#!/usr/bin/env bash
# A Python venv (.dev/venv, or $KESTREL_VENV) with what the interop tests read Kestrel's files
# with: DuckDB, pyarrow, GeoPandas (packaging/requirements-interop.txt). Prints the venv's
# python on stdout. Best effort: without PyPI it says so on stderr and prints nothing, and the
# interop tests skip with a message.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${KESTREL_VENV:-.dev/venv}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
reqs=packaging/requirements-interop.txt
if [ ! -x "$venv/bin/python" ] && ! "$py" -m venv "$venv" >&2; then
  echo "kestrel setup: cannot create a Python venv in $venv (python3-venv missing?); interop tests will skip" >&2
  exit 0
fi
# reinstall only when the requirements changed since the last install
stamp="$venv/.kestrel-requirements"
if ! cmp -s "$reqs" "$stamp"; then
  if "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >&2; then
    cp "$reqs" "$stamp"
  else
    echo "kestrel setup: pip could not install $reqs; interop tests will skip" >&2
    exit 0
  fi
fi
echo "$(cd "$venv" && pwd)/bin/python"
