#!/usr/bin/env bash
# Install what Kestrel needs on Debian 12 (bookworm) and newer: the system libraries
# (GDAL for raster I/O, Mesa for software rendering, Xvfb for headless GUI tests) and a
# Rust toolchain if none is installed. Safe to run again: it only installs what is missing.
set -euo pipefail

PKGS=(
  pkg-config libgdal-dev gdal-bin            # raster I/O (gdal-sys links libgdal)
  libvulkan1 mesa-vulkan-drivers              # wgpu renderer (lavapipe when there is no GPU)
  libegl1 libegl-mesa0 libgl1-mesa-dri        # GL fallback
  libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1   # winit on X11
  xvfb xauth imagemagick                      # headless window tests and screenshots
  ca-certificates curl                        # model download, rustup
  python3-venv                                # the interop tests' venv (DuckDB, pyarrow, GeoPandas)
)

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

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    :
  else
    echo "kestrel setup: installing Rust (rustup, stable)" >&2
    # the default profile brings rustfmt and clippy, which the test script runs
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile default
  fi
fi

# rustfmt and clippy for ./packaging/test.sh (a minimal rustup profile lacks them)
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
