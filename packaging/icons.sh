#!/usr/bin/env bash
# Render the committed icons from the hand-written packaging/linux/kestrel.svg: the 256 px
# PNG (Linux), the .icns (macOS) and the .ico (Windows). Run after editing the SVG.
# Needs: apt-get install librsvg2-bin icnsutils imagemagick
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in 16 32 48 128 256 512; do rsvg-convert -w "$s" -h "$s" linux/kestrel.svg -o "$tmp/$s.png"; done
cp "$tmp/256.png" linux/kestrel.png
png2icns macos/kestrel.icns "$tmp/16.png" "$tmp/32.png" "$tmp/128.png" "$tmp/256.png" "$tmp/512.png" >/dev/null
convert "$tmp/16.png" "$tmp/32.png" "$tmp/48.png" "$tmp/256.png" windows/kestrel.ico
