#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and runs
# every build-fuzz/tests/fuzz/fuzz_* for a bounded time on a temporary copy
# of its seed corpus (tests/fuzz/corpus/<name>/). Prints each target's
# executions per second and coverage (libFuzzer's final "cov:"), then
# "fuzz: N passed, N failed"; a crash, timeout, OOM or sanitizer report
# fails its target. FUZZ_SECONDS sets the time per target (default 20).
# FUZZ_SEED seeds libFuzzer's mutations (default 1, so that a CI run is
# reproducible: a finding shows up in every run until it is fixed, not in one
# run in ten); FUZZ_SEED=0 lets libFuzzer pick a new seed, as longer
# exploratory runs should.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
seed=${FUZZ_SEED:-1}
# Highway kernels for the static (-march) target only: the fuzz targets need
# the engine to link, not its dispatch, and this halves its compile time.
if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++ meson setup build-fuzz -Dfuzz=true -Dtests=disabled -Dbench=disabled --buildtype=release \
    -Dcpp_args=-DHWY_COMPILE_ONLY_STATIC=1 >/dev/null 2>&1 || { echo "fuzz: 0 passed, 1 failed (configure)"; exit 1; }
fi
# The fuzz targets and the plugin modules (fuzz_image decodes HEIF through
# build-fuzz/modules/libpersam_heif.so, found with PERSAM_MODULE_DIR).
targets=$(ninja -C build-fuzz -t targets all |
  sed -n 's|^\(tests/fuzz/fuzz_[A-Za-z0-9_]*\): .*|\1|p; s|^\(modules/lib[A-Za-z0-9_]*\.so\): .*|\1|p' | sort -u)
export PERSAM_MODULE_DIR=$PWD/build-fuzz/modules
if [ -z "$targets" ] || ! nice ninja -C build-fuzz $targets >build-fuzz/fuzz-build.log 2>&1; then
  tail -n 30 build-fuzz/fuzz-build.log
  echo "fuzz: 0 passed, 1 failed (build)"
  exit 1
fi
# One OpenMP thread: libFuzzer runs one input at a time, and a team per
# model construction only adds start-up cost (and noise) to each run.
export OMP_NUM_THREADS=1
passed=0 failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for exe in build-fuzz/tests/fuzz/fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  name=$(basename "$exe"); name=${name#fuzz_}
  mkdir -p "$work/$name"
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/$name/"
  log="$work/$name.log"
  if nice "$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -seed="$seed" \
      -artifact_prefix="$work/$name-" "$work/$name" >"$log" 2>&1; then
    status=ok; passed=$((passed + 1))
  else
    status=FAILED; failed=$((failed + 1))
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  printf 'fuzz_%-14s %-6s %8s execs/s  cov %-6s (%s runs in %s s)\n' "$name" "$status" "${rate:-?}" "${cov:-?}" \
    "${execs:-?}" "$seconds"
  if [ "$status" = FAILED ]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 10
    mkdir -p build-fuzz/artifacts && cp "$work/$name"-* build-fuzz/artifacts/ 2>/dev/null
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
