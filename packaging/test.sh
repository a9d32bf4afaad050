#!/usr/bin/env bash
# Install what is missing, then run Kestrel's whole test suite (unit, integration,
# oracle parity, UI snapshot tests). Tests that need ../shared (the larger reference data)
# skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/setup-debian.sh
. packaging/env.sh
cargo test --locked --all-targets "$@"
cargo test --locked --doc
