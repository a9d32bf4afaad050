#!/usr/bin/env bash
# Build Kestrel's Debian package with cargo-deb (metadata: [package.metadata.deb] in
# Cargo.toml): target/debian/kestrel_VERSION-1_ARCH.deb, or under $CARGO_TARGET_DIR/debian.
#   ./packaging/deb.sh         a release build (from clean: 36 min on 2 shared cores, 25 min CPU)
#   ./packaging/deb.sh --dev   package the debug binary already built (cargo build / the test
#                              suite), stripped, fast compression: what CI installs to check
#                              the package (packaging/deb-test.sh), not for publishing
#                              (cargo-deb 3.8 warns that it may refuse dev profiles one
#                              day: setup-packaging.sh pins that version)
# Extra arguments go to cargo-deb (e.g. --features cuda). Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/setup-debian.sh
./packaging/setup-packaging.sh
. packaging/env.sh

target=${CARGO_TARGET_DIR:-target}
mode=release
if [ "${1:-}" = --dev ]; then mode=dev; shift; fi
out="$target/debian"
mkdir -p "$out"

if [ "$mode" = dev ]; then
  [ -x "$target/debug/kestrel" ] || { echo "deb.sh --dev: no $target/debug/kestrel; run cargo build first" >&2; exit 1; }
  ./packaging/third-party.sh >"$target/debug/THIRD-PARTY.txt"
  cargo deb --locked --no-build --profile dev --strip --fast --output "$out" "$@" >"$out/.last"
else
  mkdir -p "$target/release"
  ./packaging/third-party.sh >"$target/release/THIRD-PARTY.txt"
  cargo deb --locked --output "$out" "$@" >"$out/.last"
fi
deb=$(tail -n 1 "$out/.last")
rm -f "$out/.last"
ls -l "$deb" >&2
dpkg-deb --field "$deb" Depends >&2
echo "$deb"
