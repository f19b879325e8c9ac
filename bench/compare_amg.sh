#!/usr/bin/env bash
# Automatic mask generation ('persam everything') against the official PyTorch
# SamAutomaticMaskGenerator, on the same cores, interleaved A B A B.
#
#   REF_SRC=/path/holding/per_segment_anything bench/compare_amg.sh
#
# Environment (all optional except REF_SRC):
#   REF_SRC           folder that holds the official per_segment_anything/ (skips without it)
#   AMG_BENCH_DIR     work folder for the checkpoint, photo and outputs (default: a temp dir,
#                     removed at exit); an existing vit_b_rand.pth / photo_1024x768.png is reused
#   AMG_ROUNDS        A B rounds per workload (default 3)
#   AMG_THREADS       threads for both sides (default 2)
#   AMG_CROP_LAYERS   crop_n_layers values to run (default "0 1")
#   AMG_POINTS        points_per_side (default 32)
#   AMG_SRC_IMAGE     photo to make the 1024x768 image from
#                     (default ../shared/fixtures/perseg-mini/Images/colorful_sneaker/00.png)
#   AMG_TORCH_WARMUP  untimed generate() runs inside each amg_torch.py call (default 0: one call
#                     takes minutes, ~13 min for 32x32 points at crop_n_layers 0 on 2 EPYC vCPUs)
#   AMG_CPUS          if set, both sides run under 'taskset -c $AMG_CPUS'
#   PERSAM_BIN        our CLI (default build/tools/persam)
#   AMG_TORCH_ONLY=1  run only the PyTorch side (to check the setup before our CLI exists)
#
# Ours must print, with --timing, lines 'timing: encoder X s' and 'timing: generate Y s'
# (generation after the encoder, summed over crops). PyTorch's side is bench/amg_torch.py
# (AMG_TORCH_WARMUP untimed runs inside each call, then one timed run).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3

if [[ -z "${REF_SRC:-}" || ! -d "${REF_SRC}/per_segment_anything" ]]; then
  echo "skipped: set REF_SRC to the folder that holds the official per_segment_anything/"
  exit 0
fi
if ! "$py" -c 'import torch, torchvision, PIL, numpy' 2>/dev/null; then
  echo "skipped: $py cannot import torch, torchvision, PIL and numpy" \
       "(apt-get install python3-torch python3-torchvision python3-pil libopenblas0-openmp)"
  exit 0
fi
export REF_SRC

rounds=${AMG_ROUNDS:-3}
threads=${AMG_THREADS:-2}
crop_layers=${AMG_CROP_LAYERS:-"0 1"}
points=${AMG_POINTS:-32}
persam=${PERSAM_BIN:-$root/build/tools/persam}
src_image=${AMG_SRC_IMAGE:-$root/../shared/fixtures/perseg-mini/Images/colorful_sneaker/00.png}
torch_only=${AMG_TORCH_ONLY:-0}
torch_warmup=${AMG_TORCH_WARMUP:-0}

pin=()
if [[ -n "${AMG_CPUS:-}" ]]; then pin=(taskset -c "$AMG_CPUS"); fi

if [[ "$torch_only" != 1 && ! -x "$persam" ]]; then
  echo "error: $persam not found or not executable: build first (meson compile -C build)," \
       "set PERSAM_BIN, or AMG_TORCH_ONLY=1" >&2
  exit 1
fi

if [[ -n "${AMG_BENCH_DIR:-}" ]]; then
  work=$AMG_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/amg_bench.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi

ckpt=$work/vit_b_rand.pth
photo=$work/photo_1024x768.png
if [[ ! -s "$ckpt" ]]; then
  echo "making $ckpt (ViT-B, torch.manual_seed(0) random init)"
  "$py" "$here/amg_torch.py" --model vit_b --save-checkpoint "$ckpt" >/dev/null
fi
if [[ ! -s "$photo" ]]; then
  if [[ ! -f "$src_image" ]]; then
    echo "error: source photo $src_image not found (set AMG_SRC_IMAGE)" >&2
    exit 1
  fi
  "$py" "$here/amg_torch.py" --make-image "$photo" --from "$src_image" >/dev/null
fi

# One value per line in $work/results.tsv: crop_layers side what seconds
results=$work/results.tsv
: >"$results"

run_ours() {  # crop_layers round
  local layers=$1 round=$2 out log enc gen
  out=$work/ours_c${layers}_r${round}
  log=$out.log
  mkdir -p "$out"
  if ! "${pin[@]}" "$persam" everything --model "$ckpt" --image "$photo" --out "$out" \
      --threads "$threads" --points-per-side "$points" --crop-n-layers "$layers" --timing >"$log" 2>&1; then
    echo "error: persam everything failed (crop_n_layers $layers); its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  enc=$(sed -nE 's/^timing: encoder ([0-9.eE+-]+) s$/\1/p' "$log" | tail -n1)
  gen=$(sed -nE 's/^timing: generate ([0-9.eE+-]+) s$/\1/p' "$log" | tail -n1)
  if [[ -z "$enc" || -z "$gen" ]]; then
    echo "error: no 'timing: encoder X s' / 'timing: generate Y s' lines from persam everything; its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  printf '%s\tours\tencoder\t%s\n%s\tours\tgenerate\t%s\n' "$layers" "$enc" "$layers" "$gen" >>"$results"
  printf '  ours   crop_n_layers=%s round %s: encoder %s s, generate %s s\n' "$layers" "$round" "$enc" "$gen"
}

run_torch() {  # crop_layers round
  local layers=$1 round=$2 log line
  log=$work/torch_c${layers}_r${round}.log
  if ! "${pin[@]}" "$py" "$here/amg_torch.py" --model vit_b --checkpoint "$ckpt" --image "$photo" \
      --threads "$threads" --warmup "$torch_warmup" --runs 1 --points-per-side "$points" --crop-n-layers "$layers" >"$log" 2>&1; then
    echo "error: amg_torch.py failed (crop_n_layers $layers); its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  line=$(grep -E '^\{' "$log" | tail -n1)
  "$py" -c '
import json, sys
d = json.loads(sys.argv[1]); L = sys.argv[2]
enc, gen, n = d["median_encoder_s"], d["median_generate_s"], d["n_masks"]
print(f"{L}\ttorch\tencoder\t{enc}\n{L}\ttorch\tgenerate\t{gen}")
print(f"  torch  crop_n_layers={L} round {sys.argv[3]}: encoder {enc} s, generate {gen} s, {n} masks",
      file=sys.stderr)
' "$line" "$layers" "$round" >>"$results"
}

echo "work dir $work; $rounds rounds; $threads threads; ${points}x${points} points; crop_n_layers: $crop_layers"
for layers in $crop_layers; do
  for ((r = 1; r <= rounds; r++)); do
    if [[ "$torch_only" != 1 ]]; then run_ours "$layers" "$r"; fi
    run_torch "$layers" "$r" 2>&1
  done
done

"$py" - "$results" "$points" <<'EOF'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
for line in open(sys.argv[1]):
    layers, side, what, s = line.split()
    vals[(layers, side, what)].append(float(s))
pts = sys.argv[2]
med = lambda k: statistics.median(vals[k]) if vals.get(k) else None  # noqa: E731
fmt = lambda v: f"{v:9.3f}" if v is not None else "        -"  # noqa: E731
for what, title in (("generate", "mask generation after the encoder"), ("encoder", "encoder (set_image, summed over crops)")):
    print(f"\n{title}: medians in s")
    print(f"{'workload':<28} {'ours':>9} {'PyTorch':>9} {'PyTorch/ours':>13}")
    for layers in sorted({k[0] for k in vals}):
        o, t = med((layers, "ours", what)), med((layers, "torch", what))
        ratio = f"{t / o:12.2f}x" if o and t else "            -"
        print(f"{'vit_b ' + pts + 'x' + pts + ' crop_n_layers=' + layers:<28} {fmt(o)} {fmt(t)} {ratio}")
EOF
