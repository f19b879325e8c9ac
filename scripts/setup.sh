#!/usr/bin/env bash
# Installs the build dependencies (Debian packages only), builds in release
# mode and runs the built-in demo. Safe to run again: it only does what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang, libclang-rt-14-dev: libFuzzer for scripts/fuzz.sh.
# python3-*: the Python package's tests (NumPy, Pillow) and its Dask example;
# python3-opencv: our PNG/JPEG files read back as the reference reads them.
# Image codecs: libjpeg-turbo, libspng (+ zlib, which the tests use too),
# libdeflate (the PNG writer's compressor),
# libwebp and libheif (both optional at build time: meson -Dwebp, -Dheif).
# libxxhash-dev: weights hashes (model identity).
# libcurl4-openssl-dev, libssl-dev: `persam download` (HTTP with resume, SHA-256).
# libpng-dev: DAVIS label PNGs (video/); libssl-dev: SHA-256 (download, tests).
# libavformat-dev, libavcodec-dev, libswscale-dev, libavutil-dev: video files
# in `persam video --video` (optional at build time: meson -Dffmpeg).
# libcpp-httplib-dev: `persam serve`; chromium, chromium-driver and
# python3-selenium: its browser test (tests/server/). time (GNU time):
# bench/segment_rss.sh's peak RSS.
packages=(g++ meson ninja-build pkg-config libhwy-dev libomp-dev libstb-dev
          libjpeg62-turbo-dev libspng-dev libdeflate-dev zlib1g-dev libwebp-dev libheif-dev
          doctest-dev libbenchmark-dev python3-numpy python3-pil python3-distributed
          python3-opencv clang libclang-rt-14-dev
          libcpp-httplib-dev chromium chromium-driver python3-selenium
          libpng-dev libssl-dev libxxhash-dev libcurl4-openssl-dev
          libavformat-dev libavcodec-dev libswscale-dev libavutil-dev time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The aarch64 cross toolchain, qemu and the arm64 multiarch libraries for the
# cross build that scripts/test.sh runs under qemu (the list lives in
# scripts/cross-arm64.sh); without them test.sh skips that part.
if [ "$(uname -m)" = x86_64 ]; then
  bash scripts/cross-arm64.sh --install-only >/dev/null ||
    echo "setup: could not install the arm64 cross toolchain; scripts/test.sh will skip the arm64 tests"
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release
fi
ninja -C build
echo "setup: built build/tools/persam; running 'persam demo'"
build/tools/persam demo
