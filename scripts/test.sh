#!/usr/bin/env bash
# Runs every test suite (the golden-fixture parity tests need ../shared/fixtures
# or PERSAM_FIXTURES) and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build || { echo "0 passed, 1 failed"; exit 1; }
meson test -C build --print-errorlogs "$@"
status=$?
# Hostile input: every reader fuzzed (clang, libFuzzer), the suites under
# ASan + UBSan; each prints its own summary, a failure counts once here.
extra_failed=0
bash scripts/fuzz.sh || extra_failed=$((extra_failed + 1))
bash scripts/sanitize.sh || extra_failed=$((extra_failed + 1))
# The aarch64 cross build, tested under qemu (scripts/cross-arm64.sh: NEON +
# SVE targets only, kernel suite and the parity cases that fit on a NEON and
# an SVE emulated CPU, two lanes at once; README "ARM64"). On by default;
# PERSAM_ARM64=0 skips it, PERSAM_ARM64=full runs every target and every
# case (hours). Warm ccache: build ~1 min + the two lanes (<=
# PERSAM_ARM64_BUDGET, 720 s each); cold build 16 min on a busy host
# (figures in cross-arm64.sh's header). Its "arm64: N passed, N failed"
# line joins the totals below; a failing or unparsable run fails the run.
# Skipped with one line where setup.sh could not install the cross
# toolchain or qemu.
arm_passed=0 arm_failed=0
if [ "${PERSAM_ARM64:-1}" = 0 ]; then
  echo "arm64: skipped (PERSAM_ARM64=0)"
elif [ "$(uname -m)" != x86_64 ]; then
  echo "arm64: skipped: the cross build runs on x86_64 hosts (on aarch64 the suites above are the ARM run)"
elif ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  echo "arm64: skipped: aarch64-linux-gnu-g++ or qemu-aarch64-static missing (scripts/setup.sh installs them on Debian)"
else
  arm_start=$SECONDS
  arm_mode=()
  [ "${PERSAM_ARM64:-}" = full ] && arm_mode=(--full)
  # The output is shown through the inherited stderr (cat >&2): tee
  # /dev/stderr would open it again, which truncates a log file that
  # stderr was redirected to (everything printed before was lost).
  arm_line=$(bash scripts/cross-arm64.sh "${arm_mode[@]}" 2>&1 | tee >(cat >&2) | tail -n 1)
  echo "arm64: cross build + qemu tests took $((SECONDS - arm_start)) s"
  if [[ $arm_line =~ ^arm64:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    arm_passed=${BASH_REMATCH[1]} arm_failed=${BASH_REMATCH[2]}
  else
    arm_failed=1
  fi
fi
# Count doctest test cases across the suites; a suite that died before its
# summary counts as one failure.
print_summary() {
  local log=build/meson-logs/testlog.txt passed=0 failed=0 skipped=0
  while read -r p f s; do
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  done < <(sed -n 's/.*\[doctest\] test cases: *[0-9]* | *\([0-9]*\) passed | *\([0-9]*\) failed | *\([0-9]*\) skipped.*/\1 \2 \3/p' "$log")
  local suites_failed
  suites_failed=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' build/meson-logs/testlog.txt | tail -n 1)
  # Python's unittest (the `python` suite): "Ran N tests", then "OK" or
  # "FAILED (failures=F, errors=E)", with "skipped=S" in either.
  local ran py_failed py_skipped
  ran=$(sed -n 's/^Ran \([0-9]*\) tests\? in.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
  py_failed=$(grep -E '^FAILED \(' "$log" | grep -oE '(failures|errors)=[0-9]+' | awk -F= '{s += $2} END {print s + 0}')
  py_skipped=$(grep -E '^(OK|FAILED) \(' "$log" | grep -oE 'skipped=[0-9]+' | awk -F= '{s += $2} END {print s + 0}')
  passed=$((passed + ran - py_failed - py_skipped)); failed=$((failed + py_failed)); skipped=$((skipped + py_skipped))
  local died
  died=$(grep -c -E '^ *[0-9]+/[0-9]+ .*(TIMEOUT|SIGSEGV|SIGABRT|killed by signal)' "$log" || true)
  failed=$((failed + died))
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=${suites_failed:-1}; fi
  passed=$((passed + arm_passed)); failed=$((failed + extra_failed + arm_failed))
  echo "$passed passed, $failed failed, $skipped skipped"
}
print_summary
[ "$extra_failed" -eq 0 ] && [ "$arm_failed" -eq 0 ] || status=1
exit $status
