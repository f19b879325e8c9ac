#!/usr/bin/env bash
# Ours against ONNX Runtime (issue 17) on the same cores, interleaved A B A B,
# and the table of the issue with today's medians of both sides.
#
#   PERSAM_PEERS=/tmp/peers bench/compare_peers.sh
#
# PERSAM_PEERS is a folder made by ../shared/peers/setup.sh (onnx/*.onnx with
# their inputs, bench_ort.js, node_modules/onnxruntime-node); without it the
# script skips with one line. Same random-weight official architectures on
# both sides (values are meaningless, the cost is that of the real models).
#
# Environment (all optional but PERSAM_PEERS):
#   COMPARE_ROUNDS       A B rounds per row (default 3); the table shows medians over rounds
#   COMPARE_THREADS      threads for both sides in the quiet rows (default 2)
#   COMPARE_ORT_RUNS     ORT encoder runs per round after its warm-up (default 3; decoder: 20)
#   COMPARE_DIR          work folder for the random checkpoints, photo and outputs (default: a
#                        temporary folder removed at exit; existing files in it are reused)
#   COMPARE_SKIP_BUSY=1  leave out the busy-machine rows
#   COMPARE_SKIP_VITB=1  leave out every ViT-B encoder row (the slowest)
#   COMPARE_BUSY_ROWS    busy rows to run, of "vit_t decoder vit_b" (default: all three)
#   PERSAM_BIN, PERSAM_BENCH_BIN, MAKE_CHECKPOINT_BIN   default: build/tools/persam,
#                        build/bench/persam_bench, build/tests/make_random_checkpoint
#
# Our figures: encoders and the decoder from persam_bench (warm runs, the mean
# of its iterations per round: encoders 3, the decoder as many as fit in 0.5 s);
# ORT's from bench_ort.js (the median of its runs after the warm-up run). Model
# load: our CLI's 'load_model' stage (segment --embedding: no encoder run)
# against ORT's session creation. The whole command is the wall time of one
# 'persam segment' process with MobileSAM on a 2048 x 1365 JPEG.
#
# Busy rows: the script starts one CPU-bound process pinned to the last core,
# then runs ours with the default threads (all cores), ours with one thread
# (OMP_NUM_THREADS=1, what --threads 1 sets) and ORT with COMPARE_THREADS
# threads, interleaved, while it runs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

peers=${PERSAM_PEERS:-}
if [[ -z "$peers" || ! -f "$peers/onnx/vit_t_encoder.onnx" || ! -d "$peers/node_modules/onnxruntime-node" ]]; then
  echo "skipped: set PERSAM_PEERS to a folder made by ../shared/peers/setup.sh (onnx/ and node_modules/)"
  exit 0
fi
ort_js=$peers/bench_ort.js
[[ -f "$ort_js" ]] || ort_js=$root/../shared/peers/bench_ort.js
py=/usr/bin/python3  # Debian's, with PIL (as compare_amg.sh)
for tool in node "$py"; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done

rounds=${COMPARE_ROUNDS:-3}
threads=${COMPARE_THREADS:-2}
ort_runs=${COMPARE_ORT_RUNS:-3}
persam=${PERSAM_BIN:-$root/build/tools/persam}
bench=${PERSAM_BENCH_BIN:-$root/build/bench/persam_bench}
make_ckpt=${MAKE_CHECKPOINT_BIN:-$root/build/tests/make_random_checkpoint}
for bin in "$persam" "$bench" "$make_ckpt"; do
  [[ -x "$bin" ]] || { echo "error: $bin not found: build it first (ninja -C build)" >&2; exit 1; }
done

if [[ -n "${COMPARE_DIR:-}" ]]; then
  work=$COMPARE_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

# --- inputs: random-weight checkpoints in the official layout, one photo ---
[[ -f "$work/mobile_sam.safetensors" ]] || "$make_ckpt" mobile_sam "$work/mobile_sam.safetensors" 1 f32 >/dev/null
[[ -f "$work/vit_b.safetensors" ]] || "$make_ckpt" vit_b "$work/vit_b.safetensors" 1 f32 >/dev/null
photo=$work/photo_2048x1365.jpg
if [[ ! -f "$photo" ]]; then
  "$py" - "$photo" "$root/../shared/fixtures/perseg-mini/Images/colorful_sneaker/00.png" <<'EOF'
import sys
from PIL import Image
out, src = sys.argv[1], sys.argv[2]
try:
    im = Image.open(src).convert("RGB")
except OSError:  # no fixtures: a smooth synthetic picture (JPEG cost depends on content)
    im = Image.radial_gradient("L").convert("RGB")
im.resize((2048, 1365), Image.BICUBIC).save(out, quality=90)
EOF
fi
point=1000,700
for m in mobile_sam vit_b; do
  [[ -f "$work/$m.npy" ]] || "$persam" embed --quiet --model "$work/$m.safetensors" --image "$photo" --out "$work/$m.npy"
done

# --- measuring helpers: each prints seconds ---
ours_bench() {  # ours_bench NAME [env...]: persam_bench's real time per iteration
  local name=$1; shift
  env "$@" "$bench" --benchmark_filter="^$name/" 2>/dev/null |
    awk -v n="$name/" 'index($1, n) == 1 { t = $2; u = $3; s = (u == "ms") ? t / 1e3 : (u == "us") ? t / 1e6 : (u == "s") ? t : t / 1e9; printf "%.4f\n", s; exit }'
}
ort_field() {  # ort_field FIELD MODEL RUNS THREADS
  node "$ort_js" "$peers/onnx/$2.onnx" "$3" "$4" | "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}
ours_load() {  # ours_load MODEL: the CLI's load_model stage
  "$persam" segment --verbose --model "$work/$1.safetensors" --image "$photo" --embedding "$work/$1.npy" \
    --point "$point" --out "$work/out_load" 2>&1 | awk '$1 == "load_model" { printf "%.4f\n", $2 / 1e3 }'
}
whole_command() {  # wall time of one 'persam segment' process with MobileSAM
  local t0 t1
  t0=$(date +%s.%N)
  "$persam" segment --quiet --model "$work/mobile_sam.safetensors" --image "$photo" --point "$point" --out "$work/out_whole"
  t1=$(date +%s.%N)
  "$py" -c "print(f'{$t1 - $t0:.4f}')"
}
median() { "$py" -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x]; print(f'{statistics.median(v):.4f}' if v else 'nan')" "$@"; }
fmt() {  # seconds, shown in ms below 1 s
  "$py" -c "import sys; v=float(sys.argv[1]); print('-' if v != v else (f'{v*1e3:.1f} ms' if v < 1 else f'{v:.2f} s'))" "$1"
}
ratio() { "$py" -c "import sys; a,b=map(float,sys.argv[1:]); print('-' if a != a or b != b or a == 0 else f'{b/a:.2f}x')" "$1" "$2"; }

declare -A A B
run_pair() {  # run_pair KEY "ours command" "theirs command": rounds of A B
  local key=$1 ours=$2 theirs=$3 a=() b=() r
  for ((r = 0; r < rounds; ++r)); do
    a+=("$(eval "$ours")")
    [[ -n "$theirs" ]] && b+=("$(eval "$theirs")")
  done
  A[$key]=$(median "${a[@]}")
  B[$key]=$(median "${b[@]:-}")
  echo "  $key: ours ${a[*]} | ort ${b[*]:-}" >&2
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); threads $threads; rounds $rounds" >&2
export OMP_NUM_THREADS=$threads
if [[ "${COMPARE_SKIP_VITB:-0}" != 1 ]]; then
  run_pair vitb "ours_bench encoder/vit_b" "ort_field median_s vit_b_encoder $ort_runs $threads"
  run_pair vitb_bf16 "ours_bench encoder/vit_b_bf16" ""
  run_pair vitb_int8 "ours_bench encoder/vit_b_int8" ""
fi
run_pair decoder "ours_bench decoder/point" "ort_field median_s vit_b_decoder 20 $threads"
run_pair vitt "ours_bench encoder/vit_t" "ort_field median_s vit_t_encoder $ort_runs $threads"
run_pair vitt_int8 "ours_bench encoder/vit_t_int8" ""
run_pair load_vitb "ours_load vit_b" "ort_field create_s vit_b_encoder 0 $threads"
run_pair load_vitt "ours_load mobile_sam" "ort_field create_s vit_t_encoder 0 $threads"
run_pair whole "whole_command" ""
unset OMP_NUM_THREADS

if [[ "${COMPARE_SKIP_BUSY:-0}" != 1 ]]; then
  last_cpu=$(($(nproc) - 1))
  taskset -c "$last_cpu" sh -c 'while :; do :; done' &
  burner=$!
  trap 'kill $burner 2>/dev/null || true; if [[ -z "${COMPARE_DIR:-}" ]]; then rm -rf "$work"; fi' EXIT
  echo "busy rows: one CPU-bound process on cpu $last_cpu (pid $burner)" >&2
  default_busy="vit_t decoder"
  [[ "${COMPARE_SKIP_VITB:-0}" != 1 ]] && default_busy+=" vit_b"
  read -r -a busy_rows <<<"${COMPARE_BUSY_ROWS:-$default_busy}"
  for row in "${busy_rows[@]}"; do
    case $row in
      vit_t) name=encoder/vit_t onnx=vit_t_encoder runs=$ort_runs ;;
      vit_b) name=encoder/vit_b onnx=vit_b_encoder runs=$ort_runs ;;
      decoder) name=decoder/point onnx=vit_b_decoder runs=20 ;;
    esac
    d=() one=() o=()
    for ((r = 0; r < rounds; ++r)); do
      d+=("$(ours_bench "$name")")
      one+=("$(ours_bench "$name" OMP_NUM_THREADS=1)")
      o+=("$(ort_field median_s "$onnx" "$runs" "$threads")")
    done
    A[busy_$row]=$(median "${d[@]}")
    A[busy1_$row]=$(median "${one[@]}")
    B[busy_$row]=$(median "${o[@]}")
    echo "  busy $row: default ${d[*]} | threads 1 ${one[*]} | ort ${o[*]}" >&2
  done
  kill "$burner"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- the table: medians of both sides, ratio = ORT / ours ---
nan=nan
row() { printf '| %s | %s | %s | %s |\n' "$1" "$(fmt "$2")" "$(fmt "$3")" "$4"; }
echo "| workload | ours | ONNX Runtime | ratio |"
echo "|---|---|---|---|"
if [[ -n "${A[vitb]:-}" ]]; then
  row "ViT-B encoder f32" "${A[vitb]}" "${B[vitb]}" "$(ratio "${A[vitb]}" "${B[vitb]}")"
  row "ViT-B encoder bf16" "${A[vitb_bf16]}" "${B[vitb]}" "$(ratio "${A[vitb_bf16]}" "${B[vitb]}") ($(ratio "${A[vitb_bf16]}" "${A[vitb]}") our f32)"
  row "ViT-B encoder int8" "${A[vitb_int8]}" "${B[vitb]}" "$(ratio "${A[vitb_int8]}" "${B[vitb]}") ($(ratio "${A[vitb_int8]}" "${A[vitb]}") our f32)"
fi
row "decoder + prompt encoder + upscaling, 1 point" "${A[decoder]}" "${B[decoder]}" "$(ratio "${A[decoder]}" "${B[decoder]}")"
row "MobileSAM (TinyViT) encoder f32" "${A[vitt]}" "${B[vitt]}" "$(ratio "${A[vitt]}" "${B[vitt]}")"
row "MobileSAM encoder int8 (vs ORT f32)" "${A[vitt_int8]}" "${B[vitt]}" "$(ratio "${A[vitt_int8]}" "${B[vitt]}") ($(ratio "${A[vitt_int8]}" "${A[vitt]}") our f32)"
row "model load ViT-B f32 (ORT: session creation)" "${A[load_vitb]}" "${B[load_vitb]}" "$(ratio "${A[load_vitb]}" "${B[load_vitb]}")"
row "model load MobileSAM f32 (ORT: session creation)" "${A[load_vitt]}" "${B[load_vitt]}" "$(ratio "${A[load_vitt]}" "${B[load_vitt]}")"
row "persam segment, MobileSAM, 2048x1365 JPEG (process)" "${A[whole]}" "$nan" "-"
if [[ -n "${A[busy_vit_t]:-}" ]]; then
  for r in vit_t vit_b decoder; do
    [[ -n "${A[busy_$r]:-}" ]] || continue
    label=$([[ $r == vit_t ]] && echo "MobileSAM encoder" || ([[ $r == vit_b ]] && echo "ViT-B encoder" || echo "decoder, 1 point"))
    row "busy: $label, default threads" "${A[busy_$r]}" "${B[busy_$r]}" "$(ratio "${A[busy_$r]}" "${B[busy_$r]}")"
    row "busy: $label, --threads 1" "${A[busy1_$r]}" "${B[busy_$r]}" "$(ratio "${A[busy1_$r]}" "${B[busy_$r]}") (default threads: $(ratio "${A[busy_$r]}" "${A[busy1_$r]}") the speed of --threads 1)"
  done
fi
exit 0
