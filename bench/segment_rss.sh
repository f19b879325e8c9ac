#!/usr/bin/env bash
# Peak RSS of one `persam segment` process with MobileSAM, f32 and int8
# (issue 21: memory for small boards; targets <= 150 MB f32, <= 100 MB int8).
#
#   bench/segment_rss.sh PHOTO.jpg [MODEL.safetensors]
#
# PHOTO: the picture to segment (the README's figures: a 2048 x 1365 JPEG,
# as bench/compare_peers.sh makes). MODEL: a MobileSAM checkpoint (default:
# a random-weight one from tests/make_random_checkpoint; the weights' values
# do not change the memory). One foreground point.
# Prints the median of SEGMENT_RSS_RUNS runs (default 3) of GNU time's
# "Maximum resident set size" per precision, in MiB.
# Environment: PERSAM_BIN (default build/tools/persam), MAKE_CKPT (default
# build/tests/make_random_checkpoint).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
persam=${PERSAM_BIN:-$root/build/tools/persam}
make_ckpt=${MAKE_CKPT:-$root/build/tests/make_random_checkpoint}
runs=${SEGMENT_RSS_RUNS:-3}
[[ $# -ge 1 ]] || { echo "usage: $0 PHOTO.jpg [MODEL.safetensors]" >&2; exit 2; }
photo=$1
[[ -f "$photo" ]] || { echo "$0: no photo '$photo'" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "$0: needs GNU time (Debian package 'time')" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=${2:-}
if [[ -z "$model" ]]; then
  model=$work/mobile_sam.safetensors
  "$make_ckpt" mobile_sam "$model" 1 f32 >/dev/null
fi
# Inside any photo of at least 101 x 101 pixels; the prompt does not change
# the memory.
point=100,100

for precision in f32 int8; do
  values=()
  for ((i = 0; i < runs; ++i)); do
    /usr/bin/time -f '%M' -o "$work/rss" "$persam" segment --quiet --model "$model" --image "$photo" \
      --point "$point" --precision "$precision" --out "$work/out_$precision"
    values+=("$(cat "$work/rss")")
  done
  median=$(printf '%s\n' "${values[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  awk -v p="$precision" -v kb="$median" -v all="${values[*]}" \
    'BEGIN { printf "segment MobileSAM %-4s peak RSS %.1f MiB (median; runs in KiB: %s)\n", p, kb / 1024, all }'
done
