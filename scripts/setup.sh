#!/usr/bin/env bash
# Installs the build dependencies (Debian packages only), builds in release
# mode and runs the built-in demo. Safe to run again: it only does what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-*: the Python package's tests (NumPy, Pillow) and its Dask example.
# libcurl4-openssl-dev, libssl-dev: `persam download` (HTTP with resume, SHA-256).
# libxxhash-dev: the encoder-weights hash an embedding file records.
packages=(g++ meson ninja-build pkg-config libhwy-dev libomp-dev libstb-dev
          doctest-dev libbenchmark-dev python3-numpy python3-pil python3-distributed
          libcurl4-openssl-dev libssl-dev libxxhash-dev)
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

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release
fi
ninja -C build
echo "setup: built build/tools/persam; running 'persam demo'"
build/tools/persam demo
