#!/usr/bin/env bash
# Model load time of ViT-B and MobileSAM (issue 17 targets: <= 250 ms ViT-B
# f32 safetensors, <= 50 ms MobileSAM f32, 2-core machine), plain and packed
# files (`persam convert --packed`).
#
#   bench/load_time.sh [RUNS (default 5)]
#
# Random-weight checkpoints (tests/make_random_checkpoint; the values do not
# change the time), read once first so every run finds them in the page
# cache. Each run is a fresh process (build/bench/load_time: one load).
# Prints the median wall and CPU milliseconds and every run's wall time.
# Environment: PERSAM_BIN (default build/tools/persam), LOAD_TIME (default
# build/bench/load_time), MAKE_CKPT (default build/tests/make_random_checkpoint).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
persam=${PERSAM_BIN:-$root/build/tools/persam}
load_time=${LOAD_TIME:-$root/build/bench/load_time}
make_ckpt=${MAKE_CKPT:-$root/build/tests/make_random_checkpoint}
runs=${1:-5}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for model in vit_b mobile_sam; do
  "$make_ckpt" "$model" "$work/$model.safetensors" 1 f32 >/dev/null
  files=("$work/$model.safetensors")
  if "$persam" convert --help 2>&1 | grep -q -- --packed; then
    "$persam" convert --packed "$work/$model.safetensors" "$work/$model.packed.safetensors" >/dev/null
    files+=("$work/$model.packed.safetensors")
  fi
  for file in "${files[@]}"; do
    cat "$file" >/dev/null
    walls=() cpus=()
    for ((i = 0; i < runs; ++i)); do
      read -r _ wall _ _ cpu _ < <("$load_time" "$file")
      walls+=("$wall") cpus+=("$cpu")
    done
    printf '%-28s f32 load median %7.1f ms wall, %7.1f ms cpu (runs: %s)\n' "$(basename "$file")" \
      "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "${walls[*]}"
    rm -f "$file"
  done
done
