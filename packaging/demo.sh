#!/usr/bin/env bash
# Install what is missing, build Kestrel and open the viewer on the bundled demo scene.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/setup-debian.sh
. packaging/env.sh
cargo run --locked --release -- "${@:-assets/demo/T33UUU_20170216_L1C}"
