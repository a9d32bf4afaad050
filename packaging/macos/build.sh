#!/usr/bin/env bash
# Build Kestrel.app and Kestrel-VERSION-macos-ARCH.dmg on macOS (what the release workflow
# runs on macos-14, Apple silicon): a release build with --features metal against Homebrew's
# GDAL, cargo-packager's .app (Cargo.toml [package.metadata.packager], Info.plist here), then
# GDAL's dylibs copied into Contents/Frameworks by dylibbundler and GDAL's and PROJ's data
# into Contents/Resources/share (src/bundle_data.rs finds them), an ad-hoc signature, a dmg.
# Needs: brew install gdal pkg-config dylibbundler; cargo install cargo-packager --locked.
# Not run on the Linux build machines (no macOS there).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname -s)" = Darwin ] || { echo "macos/build.sh: runs on macOS only" >&2; exit 1; }
brew_prefix=$(brew --prefix)
version=$(cargo pkgid --locked -p kestrel | sed 's/.*[#@]//')

cargo build --locked --release --features metal
./packaging/third-party.sh "$(rustc -vV | sed -n 's/^host: //p')" >target/release/THIRD-PARTY.txt
rm -rf target/packager && mkdir -p target/packager/share
cp -R "$brew_prefix/share/gdal" "$brew_prefix/share/proj" target/packager/share/
cargo packager --release --formats app

app=target/release/Kestrel.app
dylibbundler --bundle-deps --overwrite-dir --create-dir \
  --fix-file "$app/Contents/MacOS/kestrel" \
  --dest-dir "$app/Contents/Frameworks" --install-path @executable_path/../Frameworks/
codesign --force --deep --sign - "$app"   # ad-hoc; a Developer ID and notarisation for a real release

# the bundle must run from its own copies: no Homebrew paths left in the binary
if otool -L "$app/Contents/MacOS/kestrel" | grep -q "$brew_prefix"; then
  echo "macos/build.sh: the binary still links Homebrew's libraries" >&2; exit 1
fi
"$app/Contents/MacOS/kestrel" --version
"$app/Contents/MacOS/kestrel" info "$app/Contents/Resources/demo/T33UUU_20170216_L1C" | head -n 12

dmg=target/release/Kestrel-$version-macos-$(uname -m).dmg
hdiutil create -volname Kestrel -srcfolder "$app" -ov -format UDZO "$dmg"
echo "$dmg"
