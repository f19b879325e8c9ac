#!/usr/bin/env bash
# Cross-builds the engine for aarch64 (Debian's cross toolchain, multiarch
# arm64 libraries, cross/aarch64-linux-gnu.ini) and runs the tests under qemu
# user-mode emulation. Installs what it needs (only what is missing, like
# scripts/setup.sh). Ends with one line: "arm64: N passed, N failed". Needs
# root (or sudo) for the first install.
#
# Usage: scripts/cross-arm64.sh [--full | --install-only]
# Two variants (README, "ARM64"):
#   default (CI, scripts/test.sh)  build-arm64, -Darm_targets=neon-sve: every
#       kernel file compiled for NEON and SVE only (2 Highway targets, not 5);
#       the runs below marked CI, in two lanes at once (one per core).
#   --full (or PERSAM_ARM64=full)  build-arm64-full, -Darm_targets=all: NEON,
#       SVE, SVE2, SVE_256, SVE2_128; kernels on all five emulated CPUs and
#       the whole engine / PerSAM / precision suites on a NEON and an SVE CPU,
#       no time budget (hours under emulation).
#
# Emulated CPUs (QEMU_CPU; the kernel suite loops over every Highway target
# the CPU supports, hwy::SupportedAndGeneratedTargets(); the other suites
# dispatch to the best one):
#   max,sve=off       NEON with sdot / bfdot (Armv8.6, Apple M2 class)      CI
#   max,sve256=on     SVE (and NEON) at 256-bit vectors (Graviton3 class)   CI
#   cortex-a72        NEON without dot product / bf16 (Raspberry Pi 4)
#   max,sve128=on     SVE2_128, SVE2, SVE, NEON at 128 bits
#   max,sve512=on     SVE2, SVE, NEON at 512 bits
# What does not fit CI: most parity cases that run an encoder on a 1024 x
# 1024 image (PerSAM, PerSAM-F, the bf16 / int8 encoder bounds: dozens of
# encodings at 170-240 s of emulated CPU each); they run with --full. CI runs
# the rest of those suites (decoder parity, PerSAM-F loss and training,
# PerSAM prior, TinyViT layers, precision packing / quantisation: the *_ci
# lists below) and, last and best effort, one more case per lane: the
# TinyViT encoder's parity on NEON; on SVE the decoder's parity on the
# recorded ViT embedding, which SVE emulation makes the lane's most
# expensive case (see below).
#
# Measured 2026-12-03 on the shared 2-core host while two other builds ran
# (an AVX-512 Zen 5 VM; wall times, the lanes share the two cores):
#   build, -Darm_targets=neon-sve: cold (every object a ccache miss) 984 s
#     (2026-12-02, load 15-25), warm (all hits) 13-52 s; -Darm_targets=all
#     cold: 2022 s
#   max,sve=off: kernels_tests 37 passed 104 s, persam_tests (CI list) 18
#     passed 30 s, precision_tests (CI list) 3 passed 1 s, engine_tests (CI
#     list: predictor parity and rejects, TinyViT layers, pre/postprocessing)
#     13 passed 86 s
#   max,sve256=on: 37 passed 186 s, 18 passed 14 s, 3 passed 1 s, 13 passed
#     59 s
#   qemu runs 260 s, the whole script 274 s: 142 cases.
# The same runs on an AVX2-only Zen 3 VM (2026-12-03, CI's own lanes): NEON
# about as fast (69 s, 20 s, 0 s, 74 s), SVE 6-9x slower outside the kernel
# suite (230 s, 121 s, 0 s, and the engine list cut off by the 720 s budget
# in its ViT decoder parity after 369 s). That case alone, one thread: 0.27 s
# natively, 53-97 s on max,sve=off, 476 s on max,sve256=on; per predict call
# 10 s vs 68 s, the transformer's and the upscaling's GEMMs (predicated SVE
# instructions, each an out-of-line helper in qemu's TCG). The SVE lane's
# decoder parity is therefore its best-effort run; the SVE kernels are
# still checked case by case in kernels_tests (GemmStrided, the attention
# and convolution kernels on every target), the decoder graph on NEON.
# Emulation is slow, so each lane's runs go in order against a wall-clock
# budget (PERSAM_ARM64_BUDGET seconds per lane, default 720 in CI, 0 = no
# limit): a run that does not start in time is reported as not run (its
# own line), one cut off by the budget counts as failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# --- install (idempotent) ----------------------------------------------------
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${sudo_cmd[@]}" dpkg --add-architecture arm64
  need_update=1
fi
# cmake + doctest-dev: the cross build finds the header-only doctest through
# its CMake package. ccache: the cross compiler's objects are cached too.
# xxHash: the model identity. The engine decodes JPEG and PNG (libjpeg-turbo,
# libspng) and writes PNG (libdeflate); WebP and HEIF are optional and left
# out of the cross build (-Dwebp/-Dheif disabled), which spares libheif's
# codec stack under :arm64.
packages=(crossbuild-essential-arm64 qemu-user-static cmake doctest-dev pkg-config ccache
          libhwy-dev:arm64 libstb-dev:arm64 libgomp1:arm64 libjpeg62-turbo-dev:arm64
          libspng-dev:arm64 libdeflate-dev:arm64 libxxhash-dev:arm64)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cross-arm64: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq -o DPkg::Lock::Timeout=900
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    -o DPkg::Lock::Timeout=900 "${missing[@]}" >/dev/null || { echo "arm64: 0 passed, 1 failed"; exit 1; }
elif [ "${need_update:-0}" = 1 ]; then
  "${sudo_cmd[@]}" apt-get update -qq -o DPkg::Lock::Timeout=900
fi

# scripts/setup.sh installs the packages above through this script.
[ "${1:-}" = --install-only ] && exit 0

# --- build -------------------------------------------------------------------
full=0
[ "${1:-}" = --full ] || [ "${PERSAM_ARM64:-}" = full ] && full=1
if [ "$full" = 1 ]; then
  build=build-arm64-full arm_targets=all budget=${PERSAM_ARM64_BUDGET:-0}
else
  build=build-arm64 arm_targets=neon-sve budget=${PERSAM_ARM64_BUDGET:-720}
fi
build_start=$SECONDS
# Only the four suites (and the libraries they link): -Dapps=false drops the
# CLI, C API, AMG, server, video and their tests from the build graph.
targets=(tests/kernels_tests tests/engine_tests tests/persam_tests tests/precision_tests)
if [ ! -f "$build/build.ninja" ]; then
  cross_files=(--cross-file cross/aarch64-linux-gnu.ini)
  # Meson only puts ccache in front of native compilers; a second cross file
  # does it for the cross compiler when ccache is installed.
  if command -v ccache >/dev/null; then
    mkdir -p "$build-ccache"
    printf "[binaries]\nc = ['ccache', 'aarch64-linux-gnu-gcc']\ncpp = ['ccache', 'aarch64-linux-gnu-g++']\n" \
      > "$build-ccache/ccache.ini"
    cross_files+=(--cross-file "$build-ccache/ccache.ini")
  fi
  meson setup "$build" "${cross_files[@]}" --buildtype=release -Dapps=false -Dbench=disabled \
    -Dtests=enabled -Dwebp=disabled -Dheif=disabled -Darm_targets="$arm_targets" >/dev/null \
    || { echo "arm64: 0 passed, 1 failed"; exit 1; }
elif ! python3 -c "import json,sys; o={x['name']: x['value'] for x in json.load(open(sys.argv[1]))}; sys.exit(o.get('arm_targets') != sys.argv[2])" \
       "$build/meson-info/intro-buildoptions.json" "$arm_targets"; then
  # A build directory from before the option, or with the other target set.
  meson setup --reconfigure "$build" -Darm_targets="$arm_targets" >/dev/null || { echo "arm64: 0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build" "${targets[@]}" || { echo "arm64: 0 passed, 1 failed"; exit 1; }
echo "cross-arm64: build $((SECONDS - build_start)) s ($build, -Darm_targets=$arm_targets)"

# --- run under qemu ----------------------------------------------------------
qemu=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)
# One OpenMP thread: two emulated threads meeting at OpenMP barriers ran a
# 13 x 17 GEMM for minutes on a busy 2-core host (0.17 s with one thread,
# OMP_WAIT_POLICY=passive did not help). The kernels' per-target code is the
# same at any thread count; the threaded paths are tested natively.
export OMP_NUM_THREADS=1
log_dir=$build/qemu-logs
rm -rf "$log_dir"
mkdir -p "$log_dir"
qemu_start=$SECONDS
# run LANE CPU SUITE [doctest args...]: one suite on one emulated CPU; its
# doctest summary goes to the lane's result file (a run that ends without
# one is a failure).
# With BEST_EFFORT=N in its environment, a run needs N s of the lane's
# budget left to start, and one the budget cuts off is reported on its own
# line and counted as not run (not as passed); a failure still counts.
run() {
  local lane=$1 cpu=$2 suite=$3
  shift 3
  local results="$log_dir/lane-$lane.results" limit=() needed=${BEST_EFFORT:-10}
  if [ "$budget" -gt 0 ]; then
    local left=$((lane_deadline - SECONDS))
    if [ "$left" -le "$needed" ]; then
      echo "cross-arm64: $suite $* on $cpu not run: ${left} s left of the lane's ${budget} s budget, it needs ~${needed} s"
      return
    fi
    limit=(timeout "$left")
  fi
  local log="$log_dir/${suite}-${cpu//[,=]/_}.log" start=$SECONDS
  [ -e "$log" ] && log="${log%.log}-2.log"  # a suite's second run on this CPU
  # -d: each case's time in the log, to see what the budget goes to.
  QEMU_CPU=$cpu "${limit[@]}" "${qemu[@]}" "$build/tests/$suite" -d "$@" >"$log" 2>&1
  local status=$? summary
  if [ -n "${BEST_EFFORT:-}" ] && [ "$status" -eq 124 ]; then
    echo "cross-arm64: $suite $* on $cpu cut off by the lane's budget after $((SECONDS - start)) s: not run (not counted), see $log"
    return
  fi
  summary=$(sed -n 's/.*\[doctest\] test cases: *[0-9]* | *\([0-9]*\) passed | *\([0-9]*\) failed.*/\1 \2/p' "$log")
  if [ -z "$summary" ]; then
    summary="0 1"
    echo "cross-arm64: $suite on $cpu died or ran out of time (status $status), see $log" >&2
    tail -n 20 "$log" >&2
  elif [ "$status" -ne 0 ]; then
    grep -B2 -A12 'ERROR\|FATAL' "$log" | head -n 60 >&2
  fi
  echo "$summary" >>"$results"
  read -r p f <<<"$summary"
  echo "cross-arm64: $suite on $cpu: $p passed, $f failed ($((SECONDS - start)) s)"
}

# The GEMM suite's large double-reference case (many sizes x epilogues x
# every target against a double-precision product) does not finish under
# emulation (cut off after 12 min on max,sve256=on, the four cases before it
# passed): it runs on x86 only; GemmStrided, the bf16 / int8 references and the
# dot-product-vs-widening equality still check the GEMM on every Arm target.
# The thread-count bit-identity cases (kernels_threads_test.cc) set 2 and 3
# OpenMP threads themselves, and emulated threads meeting at barriers crawl
# (see OMP_NUM_THREADS above): the GEMM case alone ran 440-455 s per lane in
# the 2026-12-02 CI run and filled the budget. They test how the loops are
# split, which is the same code on every target; they run natively.
heavy='Gemm f32 matches double reference*,*bit-identical for any thread count*'
# CI's share of the parity suites: every case that does not encode a
# 1024 x 1024 image (doctest -tc patterns; a comma separates patterns, so
# names with commas are matched by a prefix and *). Each lane then runs one
# more case, last and best effort (see the header): it starts only with
# 300 s of the lane's budget left, and one the budget cuts off (a host busy
# with other work) is reported and not counted.
engine_ci='predictor matches the reference*,predictor rejects*,fixture model config*,preprocessing*,postprocessing*,attention bias indices*,PatchMerging*,Conv2d_BN*,DepthwiseConv3x3HwcRows*,Im2ColRows*,TransposeMatrix*'
persam_ci='GrayForeground*,CountMaskPair*,EvaluatePredictions*,ScanPerSegDataset*,PerSAM-F loss*,CosineAnnealingLR*,AdamW*,TrainMaskWeights*,NormalizeReferenceMask*,SelectReferenceCells*,ArgMax*,MaskBox*,TargetGuidedAttention*'
precision_ci='precision names*,packing stored*,int8 quantisation helpers*'
tinyvit_encoder_ci='TinyViT encoder matches the reference*'
vit_decoder_parity='predictor matches the reference on the recorded ViT embedding'

# lane N CPU [kernels | BEST_EFFORT_CASE]: the runs of one lane, in priority
# order; "kernels": the kernel suite only; BEST_EFFORT_CASE: the engine_tests
# case this lane runs last (CI variant), and so not in its engine CI list.
lane() {
  local n=$1 cpu=$2 only=${3:-}
  lane_deadline=$((SECONDS + budget))
  run "$n" "$cpu" kernels_tests -tce="$heavy"
  if [ "$only" = kernels ]; then
    return
  elif [ "$full" = 1 ]; then
    for suite in engine_tests persam_tests precision_tests; do run "$n" "$cpu" "$suite"; done
  else
    run "$n" "$cpu" persam_tests -tc="$persam_ci"
    run "$n" "$cpu" precision_tests -tc="$precision_ci"
    run "$n" "$cpu" engine_tests -tc="$engine_ci" -tce="$only"
    BEST_EFFORT=300 run "$n" "$cpu" engine_tests -tc="$only"
  fi
}
# The two lanes run at once: each qemu process is one emulated thread.
lane 1 max,sve=off "$tinyvit_encoder_ci" &   # best target NEON (with sdot, bfdot)
lane 2 max,sve256=on "$vit_decoder_parity" &  # best target SVE at 256 bits (svdot)
wait
if [ "$full" = 1 ]; then
  lane 3 cortex-a72 kernels &      # NEON, portable int8 / bf16
  lane 4 max,sve128=on kernels &   # SVE2_128 at 128 bits
  wait
  lane 5 max,sve512=on kernels     # SVE, SVE2 at 512 bits
fi
echo "cross-arm64: qemu runs $((SECONDS - qemu_start)) s"
read -r passed failed < <(cat "$log_dir"/lane-*.results | awk '{p += $1; f += $2} END {print p + 0, f + 0}')
echo "arm64: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
