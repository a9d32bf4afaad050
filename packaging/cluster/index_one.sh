#!/usr/bin/env bash
# Kestrel's one-scene-per-index job step, shared by the Kubernetes Indexed Job
# (k8s-index-job.yaml: $JOB_COMPLETION_INDEX) and AWS Batch array jobs
# ($AWS_BATCH_JOB_ARRAY_INDEX): picks line INDEX (0-based, counting only scene lines: blank
# lines and `#` comments are skipped, as `kestrel index --manifest` does) of the manifest and
# runs `kestrel index --out-dir --skip-existing --json --progress json` on that one scene,
# exec'd so that the job engine sees kestrel's own exit code (0 done, 2 bad input: do not
# retry, 75 transient: retry, 1 other; see packaging/cluster/README.md).
#
# Environment:
#   KESTREL_MANIFEST  the manifest (relative scene paths are taken from its folder)   required
#   KESTREL_OUT_DIR   the shard folder                                                 required
#   KESTREL_MODEL     kestrel's --model (a registry name or a .safetensors)           optional
#   KESTREL_BIN       the kestrel binary (default: kestrel on PATH)                    optional
# Arguments are passed on to `kestrel index` (e.g. --stride 112 --readers 4).
set -uo pipefail

index=${JOB_COMPLETION_INDEX:-${AWS_BATCH_JOB_ARRAY_INDEX:-}}
bad() { echo "index_one: $*" >&2; exit 2; }
[ -n "$index" ] || bad "neither JOB_COMPLETION_INDEX nor AWS_BATCH_JOB_ARRAY_INDEX is set"
[[ "$index" =~ ^[0-9]+$ ]] || bad "the index '$index' is not a whole number"
manifest=${KESTREL_MANIFEST:?index_one: set KESTREL_MANIFEST}
out_dir=${KESTREL_OUT_DIR:?index_one: set KESTREL_OUT_DIR}
[ -f "$manifest" ] || bad "the manifest $manifest is missing"

scene=$(awk -v want="$index" '
  { sub(/^[ \t\r]+/, ""); sub(/[ \t\r]+$/, "") }
  $0 == "" || substr($0, 1, 1) == "#" { next }
  n++ == want { print; exit }' "$manifest")
[ -n "$scene" ] || bad "the manifest $manifest has no scene line $index (0-based)"
case $scene in
  /*) ;;
  *) scene="$(cd "$(dirname "$manifest")" && pwd)/$scene" ;;
esac

model=()
[ -n "${KESTREL_MODEL:-}" ] && model=(--model "$KESTREL_MODEL")
exec "${KESTREL_BIN:-kestrel}" index --out-dir "$out_dir" --skip-existing --json \
  --progress json "${model[@]}" "$@" -- "$scene"
