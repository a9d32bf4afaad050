#!/usr/bin/env bash
# Install what is missing, then check and test the whole workspace: formatting, clippy with
# warnings as errors, then every crate's unit, integration, oracle parity and UI snapshot
# tests, and the doc tests. Tests that need ../shared (the larger reference data) skip with a
# message when it is absent. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/setup-debian.sh
. packaging/env.sh
# DuckDB / pyarrow / GeoPandas / rustac for the interop and STAC tests (they skip when this fails)
if [ -z "${KESTREL_PYTHON:-}" ]; then
  KESTREL_PYTHON=$(./packaging/setup-python.sh) || true
  export KESTREL_PYTHON
fi
# The full-size seeded references (torch + open_clip from PyPI, generated, about 4 min; the
# full-size parity tests skip when this cannot run or ../shared is absent)
./packaging/oracle.sh || echo "packaging/oracle.sh failed: the full-size parity tests skip" >&2
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --all-targets "$@"
cargo test --locked --workspace --doc
