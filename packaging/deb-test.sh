#!/usr/bin/env bash
# Prove a Kestrel .deb installs and runs on a clean Debian: debootstrap a minimal bookworm
# root into a folder, `apt-get install ./kestrel_*.deb` in it (Depends only, so GDAL, Mesa
# and the rest must resolve from Debian's archive), then run the installed /usr/bin/kestrel:
# --version, `kestrel info` on the packaged demo scene, and a headless `kestrel search` with
# the tiny test model (copied into the root, not packaged), checking what they print.
#   ./packaging/deb-test.sh [DEB]   default: the newest .deb in $CARGO_TARGET_DIR/debian
# Needs root, debootstrap and the network (the Debian mirror, about 130 MB the first time).
# The debootstrap tarball and the downloaded .debs are cached under
# $CARGO_TARGET_DIR/deb-test, so reruns download little. KEEP_ROOT=1 keeps the root.
# Without root or debootstrap, or when the mirror cannot be reached, it says so and exits 0
# (KESTREL_DEB_TEST=require: exit 1); a package that does not install or run fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

skip() {
  echo "deb-test: SKIPPED: $*" >&2
  [ "${KESTREL_DEB_TEST:-}" = require ] && exit 1
  exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || skip "no debootstrap (./packaging/setup-packaging.sh installs it)"

target=${CARGO_TARGET_DIR:-target}
deb=${1:-$(ls -t "$target"/debian/kestrel_*.deb 2>/dev/null | head -n 1)}
[ -f "$deb" ] || { echo "deb-test: no .deb (run ./packaging/deb.sh first)" >&2; exit 1; }
deb=$(realpath "$deb")
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=$(realpath -m "$target/deb-test")
mkdir -p "$cache/archives"

step() { echo "deb-test: $* ($(date +%T))" >&2; }

tarball=$cache/$suite-minbase.tgz
if [ ! -f "$tarball" ]; then
  step "downloading a minimal $suite into $tarball"
  rm -rf "$cache/make-tarball"
  debootstrap --variant=minbase --make-tarball="$tarball.part" "$suite" "$cache/make-tarball" "$mirror" \
    >"$cache/make-tarball.log" 2>&1 || { tail -n 30 "$cache/make-tarball.log" >&2; skip "debootstrap could not download $suite from $mirror"; }
  mv "$tarball.part" "$tarball"
  rm -rf "$cache/make-tarball"
fi

root=$(mktemp -d "$cache/root.XXXXXX")
cleanup() {
  umount "$root/proc" 2>/dev/null || true
  if [ "${KEEP_ROOT:-}" = 1 ]; then echo "deb-test: root kept in $root" >&2; else rm -rf "$root"; fi
}
trap cleanup EXIT

step "unpacking $suite into $root"
debootstrap --variant=minbase --unpack-tarball="$tarball" "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"
mount -t proc proc "$root/proc" 2>/dev/null || echo "deb-test: cannot mount /proc in the root; going on without" >&2
# a throwaway root: dpkg need not fsync every file
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/kestrel-deb-test"
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

step "installing $(basename "$deb") and its dependencies"
cp "$deb" "$root/tmp/"
cp "$cache"/archives/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
# (the root's _apt user cannot read the files copied in as root: apt runs as root)
in_root apt-get -o APT::Sandbox::User=root update -qq || skip "apt-get update cannot reach $mirror"
if ! in_root env DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root install -y -q \
  --no-install-recommends "/tmp/$(basename "$deb")" >"$cache/apt-install.log" 2>&1; then
  tail -n 40 "$cache/apt-install.log" >&2
  grep -q "^E: Failed to fetch" "$cache/apt-install.log" && skip "downloads from $mirror failed"
  echo "deb-test: FAILED: the package does not install on $suite" >&2
  exit 1
fi
grep -E "^(Need to get|After this operation|[0-9]+ upgraded)" "$cache/apt-install.log" >&2 || true
cp "$root"/var/cache/apt/archives/*.deb "$cache/archives/" 2>/dev/null || true

fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }
expect() { # expect WHAT TEXT PATTERN
  grep -qE -- "$3" <<<"$2" || { printf '%s\n' "$2" >&2; fail "$1: no match for /$3/"; }
}

step "checking the installed files"
for f in /usr/bin/kestrel /usr/share/applications/kestrel.desktop \
  /usr/share/icons/hicolor/scalable/apps/kestrel.svg /usr/share/icons/hicolor/256x256/apps/kestrel.png \
  /usr/share/doc/kestrel/copyright /usr/share/doc/kestrel/NOTICE /usr/share/doc/kestrel/THIRD-PARTY.txt \
  /usr/share/doc/kestrel/LICENSE-MIT /usr/share/doc/kestrel/LICENSE-APACHE \
  /usr/share/kestrel/demo/T33UUU_20170216_L1C/T33UUU_20170216T102101_B8A.jp2; do
  [ -f "$root$f" ] || fail "$f is not installed"
done
grep -q "Built with Meta Llama 3" "$root/usr/share/doc/kestrel/NOTICE" || fail "NOTICE lacks the Llama 3 notice"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$root/usr/share/applications/kestrel.desktop" || fail "desktop file"
fi
# What wgpu and winit load at run time (not linked, so only Depends brings them): the Vulkan
# loader with lavapipe's driver, EGL/GL and the X11 libraries.
libs=$(in_root /sbin/ldconfig -p)
for l in libvulkan.so.1 libEGL.so.1 libX11-xcb.so.1 libxkbcommon-x11.so.0 libXcursor.so.1 libXrandr.so.2 libXi.so.6 libwayland-client.so.0; do
  expect "run-time library" "$libs" "$l "
done
ls "$root"/usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || fail "no lavapipe Vulkan driver"
ls "$root"/usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || fail "no Mesa swrast GL driver"

step "running the installed kestrel"
v=$(in_root kestrel --version)
printf '%s\n' "$v" >&2
expect "kestrel --version" "$v" "^kestrel $(dpkg-deb --field "$deb" Version | sed 's/-[^-]*$//')"
expect "kestrel --version" "$v" "^gdal: 3\.6"

demo=/usr/share/kestrel/demo/T33UUU_20170216_L1C
info=$(in_root kestrel info "$demo")
printf '%s\n' "$info" | head -n 12 >&2
expect "kestrel info" "$info" "^Bands \(13\):"
for b in B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12; do
  expect "kestrel info" "$info" "^ +[0-9]+ +$b "
done
expect "kestrel info" "$info" "EPSG:32633"
expect "kestrel info" "$info" "^Level: +L1C"

rm -rf "$root/tmp/msclip_tiny"
cp -r "$repo/tests/fixtures/msclip_tiny" "$root/tmp/"
search=$(in_root env KESTREL_CACHE_DIR=/tmp/kestrel-cache HF_HUB_OFFLINE=1 kestrel search \
  --model /tmp/msclip_tiny/msclip_random.safetensors --query "a lake" --top 5 --csv /tmp/hits.csv "$demo" 2>&1)
printf '%s\n' "$search" | tail -n 8 >&2
head -n 2 "$root/tmp/hits.csv" | cut -c 1-160 >&2
# a header with a score column, then exactly 5 rows whose scores are numbers, best first
python3 - "$root/tmp/hits.csv" <<'PY' || fail "search CSV"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 5, f"{len(rows)} rows, expected 5"
scores = [float(r["score"]) for r in rows]
assert all(-1.0 <= s <= 1.0 for s in scores), scores
assert scores == sorted(scores, reverse=True), scores
assert all(r["scene_id"].startswith("T33UUU_20170216_L1C") and r["status"] == "embedded" for r in rows), rows[0]
print(f"deb-test: search CSV: 5 rows, scores {scores[0]:.4f} .. {scores[-1]:.4f}", file=sys.stderr)
PY
step "PASSED: $(basename "$deb") installs on a clean $suite and runs"
