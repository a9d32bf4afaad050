#!/usr/bin/env bash
# A Python venv (.dev/venv, or $KESTREL_VENV) with what the interop tests read Kestrel's files
# with: DuckDB, pyarrow, GeoPandas, rustac (packaging/requirements-interop.txt), and Ray and
# LanceDB for the cluster tests (packaging/requirements-cluster.txt). Prints the venv's
# python on stdout. Best effort: without PyPI it says so on stderr and prints nothing, and the
# interop tests skip with a message.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${KESTREL_VENV:-.dev/venv}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if [ ! -x "$venv/bin/python" ] && ! "$py" -m venv "$venv" >&2; then
  echo "kestrel setup: cannot create a Python venv in $venv (python3-venv missing?); interop tests will skip" >&2
  exit 0
fi
# reinstall only when the requirements changed since the last install; the cluster
# requirements (Ray, LanceDB: large wheels) separately, so their failure costs only the
# cluster tests (which then skip with a message)
install() {
  local reqs=$1 stamp="$venv/.kestrel-$(basename "$1" .txt)"
  cmp -s "$reqs" "$stamp" && return 0
  if "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >&2; then
    cp "$reqs" "$stamp"
  else
    echo "kestrel setup: pip could not install $reqs; the tests that need it will skip" >&2
    return 1
  fi
}
install packaging/requirements-interop.txt || exit 0
install packaging/requirements-cluster.txt || true
echo "$(cd "$venv" && pwd)/bin/python"
