#!/usr/bin/env bash
# Print the licence notices of the Rust crates the kestrel binary is built from on Linux:
# the list of crates (name, version, licence; cargo tree over Cargo.lock, normal
# dependencies, no dev or build-only ones), then each distinct licence file found in those
# crates' sources (LICENSE*, COPYING*, NOTICE*) once, with the crates it comes from.
# The packages ship the output as THIRD-PARTY.txt next to NOTICE. Needs the crates fetched
# (any cargo build has done that) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-$(rustc -vV | sed -n 's/^host: //p')}
cargo tree --locked -p kestrel -e normal --target "$target" --prefix none --format '{p}|{l}' \
  | sed -e 's/ (\*)$//' | sort -u >"${TMPDIR:-/tmp}/kestrel-crates.$$"
cargo metadata --locked --format-version 1 --filter-platform "$target" \
  | python3 -c '
import json, os, sys
crates = {}
for line in open(sys.argv[1]):
    spec, lic = line.rstrip("\n").split("|", 1)
    name, ver = spec.split()[:2]
    crates[(name, ver.lstrip("v"))] = lic or "(not stated)"
meta = json.load(sys.stdin)
texts = {}  # licence text -> crates that ship it
print("Rust crates in kestrel for %s: %d (name version: licence)\n" % (sys.argv[2], len(crates)))
for p in sorted(meta["packages"], key=lambda p: (p["name"], p["version"])):
    key = (p["name"], p["version"])
    if key not in crates or p["source"] is None:
        continue
    who = "%s %s" % key
    print("%s: %s" % (who, crates[key]))
    d = os.path.dirname(p["manifest_path"])
    for f in sorted(os.listdir(d)):
        if f.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")) and os.path.isfile(os.path.join(d, f)):
            t = open(os.path.join(d, f), errors="replace").read().strip()
            texts.setdefault(t, []).append(who)
for t, who in sorted(texts.items(), key=lambda kv: kv[1][0]):
    print("\n" + "=" * 78 + "\nFrom: " + ", ".join(who) + "\n" + "=" * 78 + "\n" + t)
' "${TMPDIR:-/tmp}/kestrel-crates.$$" "$target"
rm -f "${TMPDIR:-/tmp}/kestrel-crates.$$"
