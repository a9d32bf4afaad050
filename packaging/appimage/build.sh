#!/usr/bin/env bash
# Build Kestrel's AppImage: an AppDir (the binary, AppRun, desktop file and icon, the GDAL,
# PROJ and other libraries it links copied from this system into usr/lib, GDAL's and PROJ's
# data, the demo scene, the notices), packed by appimagetool into
# $CARGO_TARGET_DIR/appimage/Kestrel-VERSION-x86_64.AppImage. Graphics drivers (Mesa, Vulkan,
# GL, X11/Wayland) and glibc stay the host's, as in AppImage's excludelist.
#   ./packaging/appimage/build.sh [--dev] [--check]
#     --dev    use the debug binary already built instead of a release build
#     --check  run the AppDir's kestrel (--version, info, a search with the tiny test model) in
#              a clean minimal Debian root without GDAL (needs root, debootstrap; the tarball
#              packaging/deb-test.sh caches), proving the bundled libraries are enough
# appimagetool is not in Debian or on crates.io: the release workflow downloads it and puts
# it on PATH; without it this script stops after the AppDir and says so.
set -euo pipefail
cd "$(dirname "$0")/../.."
. packaging/env.sh
target=${CARGO_TARGET_DIR:-target}
profile=release check=0
for a in "$@"; do
  case $a in
    --dev) profile=debug ;;
    --check) check=1 ;;
    *) echo "appimage/build.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
if [ "$profile" = release ]; then cargo build --locked --release; fi
bin=$target/$profile/kestrel
[ -x "$bin" ] || { echo "appimage/build.sh: no $bin (cargo build first)" >&2; exit 1; }
version=$(cargo pkgid --locked -p kestrel | sed 's/.*[#@]//')

out=$target/appimage
app=$out/Kestrel.AppDir
rm -rf "$app" && mkdir -p "$app/usr/bin" "$app/usr/lib" "$app/usr/share/doc/kestrel" \
  "$app/usr/share/applications" "$app/usr/share/icons/hicolor/256x256/apps" "$app/usr/share/kestrel"
strip -o "$app/usr/bin/kestrel" "$bin"
install -m 755 packaging/appimage/AppRun "$app/AppRun"
install -m 644 packaging/linux/kestrel.desktop "$app/kestrel.desktop"
install -m 644 packaging/linux/kestrel.desktop "$app/usr/share/applications/"
install -m 644 packaging/linux/kestrel.png "$app/kestrel.png"
install -m 644 packaging/linux/kestrel.png "$app/usr/share/icons/hicolor/256x256/apps/"
ln -s kestrel.png "$app/.DirIcon"
cp -r /usr/share/gdal /usr/share/proj "$app/usr/share/"
cp -r assets/demo "$app/usr/share/kestrel/demo"
cp LICENSE-MIT LICENSE-APACHE packaging/licenses/NOTICE "$app/usr/share/doc/kestrel/"
./packaging/third-party.sh >"$app/usr/share/doc/kestrel/THIRD-PARTY.txt"

# every library the binary links, except the ones the host must provide
host_libs='^(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libgcc_s|libstdc\+\+|libGL.*|libEGL|libGLX.*|libOpenGL|libvulkan|libdrm|libgbm|libglapi|libX11.*|libxcb.*|libwayland-.*|libxkbcommon.*)\.so'
ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
  grep -qE "$host_libs" <<<"$(basename "$lib")" || cp -L "$lib" "$app/usr/lib/"
done
echo "appimage: AppDir $app: $(ls "$app/usr/lib" | wc -l) libraries, $(du -sh "$app" | cut -f1)" >&2

if [ "$check" = 1 ]; then
  [ "$(id -u)" -eq 0 ] && command -v debootstrap >/dev/null || { echo "appimage --check: needs root and debootstrap" >&2; exit 1; }
  tarball=$target/deb-test/bookworm-minbase.tgz
  [ -f "$tarball" ] || { echo "appimage --check: no $tarball (run ./packaging/deb-test.sh once)" >&2; exit 1; }
  root=$(mktemp -d "$out/root.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --unpack-tarball="$(realpath "$tarball")" bookworm "$root" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log" >&2; exit 1; }
  rm -f "$root.log"
  if chroot "$root" /sbin/ldconfig -p | grep -q libgdal; then echo "appimage --check: the root has GDAL" >&2; exit 1; fi
  cp -r "$app" "$root/opt/Kestrel.AppDir"
  cp -r tests/fixtures/msclip_tiny "$root/tmp/"
  run() { chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root KESTREL_CACHE_DIR=/tmp/kc HF_HUB_OFFLINE=1 /opt/Kestrel.AppDir/AppRun "$@"; }
  version_text=$(run --version)
  grep -E "^gdal: " <<<"$version_text" >&2
  info=$(run info /opt/Kestrel.AppDir/usr/share/kestrel/demo/T33UUU_20170216_L1C)
  grep -qE "^Bands \(13\):" <<<"$info" || { echo "appimage --check: FAILED: kestrel info" >&2; exit 1; }
  run search --model /tmp/msclip_tiny/msclip_random.safetensors --query "a lake" --top 5 --csv /tmp/hits.csv \
    /opt/Kestrel.AppDir/usr/share/kestrel/demo/T33UUU_20170216_L1C >/dev/null 2>&1 ||
    { echo "appimage --check: FAILED: kestrel search" >&2; exit 1; }
  rows=$(($(wc -l <"$root/tmp/hits.csv") - 1))
  [ "$rows" -eq 5 ] || { echo "appimage --check: FAILED: $rows rows in the search CSV" >&2; exit 1; }
  echo "appimage --check: PASSED: the AppDir runs info and search in a root without GDAL" >&2
fi

if command -v appimagetool >/dev/null; then
  image=$out/Kestrel-$version-x86_64.AppImage
  ARCH=x86_64 appimagetool --no-appstream "$app" "$image" >&2
  echo "$image"
else
  echo "appimage: appimagetool is not on PATH (not in Debian or on crates.io): stopped at the AppDir $app" >&2
fi
