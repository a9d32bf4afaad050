#!/usr/bin/env bash
# Build the Windows installer, Kestrel_VERSION_x64-setup.exe (NSIS, through cargo-packager;
# Cargo.toml [package.metadata.packager]), in Git Bash on Windows (what the release workflow
# runs on windows-2022). GDAL comes from conda-forge (libgdal-core): $CONDA_PREFIX must be that
# environment. gdal-sys links Library/lib/gdal.lib (GDAL_HOME, GDAL_VERSION); the installer
# carries every DLL of the environment's Library/bin next to kestrel.exe and GDAL's and PROJ's
# data in share/ (src/bundle_data.rs finds them). Not run on the Linux build machines.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${CONDA_PREFIX:?activate the conda environment with libgdal-core first}"
lib=$(cygpath -u "$CONDA_PREFIX")/Library
GDAL_HOME=$(cygpath -w "$lib")
export GDAL_HOME
GDAL_VERSION=$("$lib/bin/gdalinfo.exe" --version 2>/dev/null | sed -n 's/^GDAL \([0-9.]*\).*/\1/p' || true)
[ -n "$GDAL_VERSION" ] || GDAL_VERSION=$(sed -n 's/.*GDAL_RELEASE_NAME *"\([0-9.]*\)".*/\1/p' "$lib/include/gdal_version.h")
export GDAL_VERSION
echo "windows/build.sh: GDAL $GDAL_VERSION from $GDAL_HOME" >&2

cargo build --locked --release
./packaging/third-party.sh x86_64-pc-windows-msvc >target/release/THIRD-PARTY.txt
rm -rf target/packager && mkdir -p target/packager/bin target/packager/share
cp "$lib"/bin/*.dll target/packager/bin/
cp -r "$lib/share/gdal" "$lib/share/proj" target/packager/share/

# the binary runs with the DLLs next to it and finds PROJ's database in share/
cp target/packager/bin/*.dll target/release/
mkdir -p target/release/share && cp -r target/packager/share/* target/release/share/
target/release/kestrel.exe --version
target/release/kestrel.exe info assets/demo/T33UUU_20170216_L1C | head -n 12

cargo packager --release --formats nsis
ls target/release/*-setup.exe
