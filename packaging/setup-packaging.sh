#!/usr/bin/env bash
# Install what building and checking the Linux packages needs, on top of setup-debian.sh:
# dpkg-dev (dpkg-shlibdeps, for cargo-deb's $auto dependencies), debootstrap (the clean root
# of packaging/deb-test.sh), desktop-file-utils (desktop-file-validate) and cargo-deb, pinned.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/env.sh

CARGO_DEB_VERSION=3.8.0
PKGS=(dpkg-dev debootstrap desktop-file-utils xz-utils)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kestrel setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "kestrel setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "kestrel setup: installing cargo-deb $CARGO_DEB_VERSION" >&2
  # in cargo's own temporary target dir, not a CARGO_TARGET_DIR set for Kestrel
  env -u CARGO_TARGET_DIR cargo install --locked --version "$CARGO_DEB_VERSION" cargo-deb
fi
