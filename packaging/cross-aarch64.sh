#!/usr/bin/env bash
# The model crate on aarch64 (ARM64 Linux; Apple silicon and Graviton take the same portable
# kernels): built for aarch64-unknown-linux-gnu with Debian's cross gcc and run under
# qemu-user, its unit tests and integration tests (the tiny oracles' parity, tokenizers,
# checkpoints, hub, fuzz replay). The full-size references are skipped (hours under
# emulation) and so is the one test that re-executes its own binary as two child processes,
# which user-mode emulation cannot start. Best effort: when the cross toolchain cannot be
# installed it says so and exits 0; a failing test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/env.sh
say() { echo "cross-aarch64.sh: $*" >&2; }
target=aarch64-unknown-linux-gnu
need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if ! $sudo apt-get install -y -q "${need[@]}" >/dev/null; then
    say "could not install ${need[*]}: aarch64 not tested"
    exit 0
  fi
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  if ! rustup target add "$target" >/dev/null 2>&1; then
    say "could not add the $target standard library: aarch64 not tested"
    exit 0
  fi
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
export KESTREL_FULL_ORACLE_DIR=/nonexistent KESTREL_FULL_RGB_ORACLE_DIR=/nonexistent
cargo test --locked --target "$target" -p kestrel-model --lib --test it -- \
  --skip two_processes_download_the_file_once
