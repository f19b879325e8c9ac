#!/usr/bin/env bash
# The doctest suites under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/); any report fails (-fno-sanitize-recover=undefined, ASan
# aborts by default). Ends with "sanitize: N passed, N failed" (doctest test
# cases). SANITIZE_SUITES picks the meson suites (default: the checkpoint
# readers with the hostile-input tests, the kernels, and the image codecs
# with their hostile files; the AMG, PerSAM and CLI suites run the same
# code at full model size and take too long at ASan speed for CI's budget:
# run them with SANITIZE_SUITES="amg persam cli" by hand).
set -uo pipefail
cd "$(dirname "$0")/.."
suites=${SANITIZE_SUITES:-"weights kernels image"}
# -DHWY_COMPILE_ONLY_STATIC=1: Highway kernels for the static -march target
# only (one copy instead of one per CPU target), which cuts this build's
# compile time; the dispatching release build tests the others.
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbench=disabled "-Dcpp_args=-fno-sanitize-recover=undefined -DHWY_COMPILE_ONLY_STATIC=1" >/dev/null 2>&1 ||
    { echo "sanitize: 0 passed, 1 failed (configure)"; exit 1; }
fi
# The plugin modules too (base/module_loader.h): the image suite decodes
# HEIF through build-asan/modules/libpersam_heif.so.
targets="tools/persam $(ninja -C build-asan -t targets all | sed -n 's|^\(modules/lib[A-Za-z0-9_]*\.so\): .*|\1|p' | sort -u)"
for suite in $suites; do targets="$targets tests/${suite}_tests"; done
if ! nice ninja -C build-asan $targets >build-asan/sanitize-build.log 2>&1; then
  tail -n 30 build-asan/sanitize-build.log
  echo "sanitize: 0 passed, 1 failed (build)"
  exit 1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan_suppressions.txt:print_suppressions=0
# shellcheck disable=SC2086
nice meson test -C build-asan --no-rebuild --print-errorlogs -t 3 $suites >/dev/null
status=$?
log=build-asan/meson-logs/testlog.txt
passed=0 failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
  sed -n 's/.*\[doctest\] test cases: *[0-9]* | *\([0-9]*\) passed | *\([0-9]*\) failed.*/\1 \2/p' "$log")
grep -E 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$log" | head -n 10
died=$(grep -c -E '^ *[0-9]+/[0-9]+ .*(TIMEOUT|SIGSEGV|SIGABRT|killed by signal|FAIL)' "$log" || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=$((died > 0 ? died : 1)); fi
echo "sanitize: $passed passed, $failed failed"
exit $status
