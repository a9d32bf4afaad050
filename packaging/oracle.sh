#!/usr/bin/env bash
# Generate the full-size seeded reference models with the public open_clip_torch, for the
# full-size parity tests (crates/kestrel-model/tests/it/full.rs, oracle_rgb.rs,
# oracle_rsmclip.rs): Llama3-MS-CLIP ViT-B/16 (10 bands) into $KESTREL_FULL_ORACLE_DIR
# (default /tmp/oracle/seed0), RemoteCLIP-ViT-B-32, RemoteCLIP-RN50 and RS-M-CLIP-ViT-B-32
# into $KESTREL_FULL_RGB_ORACLE_DIR (default /tmp/oracle-rgb), and there too a tiny RS-M-CLIP
# with open_clip's cls_pooler (packaging/oracle/rsmclip_cls_pooler.py; a few seconds). The weights are too big to
# store (7.5 GB in both layouts) and reproducible from the seed, so they are made, not kept.
#
# Needs ../shared/oracle (the generators; a user's clone has none: then this says so and the
# tests skip), a venv with torch from PyPI ($KESTREL_ORACLE_VENV, default .dev/venv-oracle;
# about 2 min to install, 5.6 GB) and about 14 GB free on /tmp. Generating takes about 2 min
# on 2 cores, peak 8 GB of memory. Existing outputs are kept. Exits 0 whenever it cannot run,
# so the tests that need it skip with their own message.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/oracle
say() { echo "oracle.sh: $*" >&2; }
if [ ! -f "$shared/msclip_oracle.py" ] || [ ! -f "$shared/rgb/rgbclip_oracle.py" ]; then
  say "no $shared generators: the full-size parity tests skip"
  exit 0
fi
ms=$(realpath -m "${KESTREL_FULL_ORACLE_DIR:-/tmp/oracle/seed0}")
rgb=$(realpath -m "${KESTREL_FULL_RGB_ORACLE_DIR:-/tmp/oracle-rgb}")
models=(RemoteCLIP-ViT-B-32 RemoteCLIP-RN50 RSMCLIP-ViT-B-32)
cls=RSMCLIP-Tiny-ClsPooler
missing=()
for m in "${models[@]}"; do
  [ -f "$rgb/$m/reference.json" ] || missing+=("$m")
done
if [ -f "$ms/msclip_random.safetensors" ] && [ ${#missing[@]} -eq 0 ] &&
  [ -f "$rgb/$cls/reference.json" ]; then
  say "full-size references already in $ms and $rgb"
  exit 0
fi
mkdir -p "$ms" "$rgb"
free_gb=$(df -P -BG "$rgb" | awk 'NR==2 {sub("G","",$4); print $4}')
if [ "$free_gb" -lt 14 ]; then
  say "only ${free_gb} GB free on $rgb (14 needed): the full-size parity tests skip"
  exit 0
fi
venv=${KESTREL_ORACLE_VENV:-.dev/venv-oracle}
if ! "$venv/bin/python" -c 'import torch, open_clip, transformers, tifffile' 2>/dev/null; then
  say "installing torch and open_clip into $venv (PyPI, about 2 min)"
  if ! { python3 -m venv "$venv" &&
    "$venv/bin/pip" install -q --disable-pip-version-check -r packaging/requirements-oracle.txt; }; then
    say "could not install packaging/requirements-oracle.txt: the full-size parity tests skip"
    exit 0
  fi
fi
py="$(cd "$venv" && pwd)/bin/python"
if [ ! -f "$ms/msclip_random.safetensors" ]; then
  say "Llama3-MS-CLIP ViT-B/16 -> $ms"
  "$py" "$shared/msclip_oracle.py" --seed 0 --out-dir "$ms" \
    --images ../shared/data/msclip-examples >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "${missing[*]} -> $rgb"
  # RS-M-CLIP tokenised with the small XLM-R-layout test tokenizer: real multilingual
  # queries (its ids fit the full 250 002-token vocabulary).
  (cd "$shared/rgb" && "$py" rgbclip_oracle.py --seed 0 --models "${missing[@]}" \
    --xlmr-tokenizer xlmr-test-tokenizer.json --out-root "$rgb" >/dev/null)
fi
if [ ! -f "$rgb/$cls/reference.json" ]; then
  say "$cls -> $rgb"
  "$py" packaging/oracle/rsmclip_cls_pooler.py --shared "$shared/rgb" --out-root "$rgb" >/dev/null
fi
say "done: $(du -sh "$ms" | cut -f1) in $ms, $(du -sh "$rgb" | cut -f1) in $rgb"
