#!/usr/bin/env bash
# The C API as an installed package: `meson install` into a scratch DESTDIR
# (never the real system), the installed files, then tests/capi/segment_point.c
# built with `pkg-config --cflags --libs persam` against that tree, run on a
# fixture and compared with the installed `persam segment`'s mask_0.png.
#   install_test.sh BUILD_DIR SOURCE_DIR
# Exit 77 (meson: skipped) without the fixtures or a C compiler.
set -euo pipefail
# meson test points LD_LIBRARY_PATH at the build tree: this test must not use it.
unset LD_LIBRARY_PATH
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)

# As tests/fixtures.cc: $PERSAM_FIXTURES, else ../shared/fixtures beside the source.
if [ -n "${PERSAM_FIXTURES:-}" ] && [ -d "$PERSAM_FIXTURES" ]; then
  fixtures=$PERSAM_FIXTURES
elif [ -d "$src/../shared/fixtures/ref" ]; then
  fixtures=$src/../shared/fixtures
else
  echo "skipped: capi install test (fixtures not found: set PERSAM_FIXTURES or place ../shared/fixtures)"
  exit 77
fi
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null || ! command -v pkg-config >/dev/null; then
  echo "skipped: capi install test (no C compiler or pkg-config)"
  exit 77
fi

tmp=$(mktemp -d /tmp/persam_capi_install_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root

echo "== meson install --destdir $dest"
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet

# The prefix and libdir as configured (e.g. /usr/local, lib/x86_64-linux-gnu).
pc=$(find "$dest" -name persam.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no persam.pc under $dest"; exit 1; }
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
prefix=$dest$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=prefix persam)
echo "prefix: ${prefix#"$dest"}, libdir: ${libdir#"$dest"}"

status=0
for f in "$prefix/bin/persam" "$libdir/libpersam.so.1" "$libdir/libpersam.so" "$libdir/libpersam.a" \
         "$prefix/include/persam/persam.h" "$pc"; do
  if [ -e "$f" ]; then echo "installed: ${f#"$dest"}"; else echo "FAIL: missing ${f#"$dest"}"; status=1; fi
done
[ "$(readlink "$libdir/libpersam.so")" = libpersam.so.1 ] || [ "$(readlink -f "$libdir/libpersam.so")" = "$(readlink -f "$libdir/libpersam.so.1")" ] ||
  { echo "FAIL: libpersam.so does not lead to libpersam.so.1"; status=1; }
cmp -s "$prefix/include/persam/persam.h" "$src/include/persam/persam.h" ||
  { echo "FAIL: the installed persam.h differs from include/persam/persam.h"; status=1; }
[ $status -eq 0 ] || exit $status

# A user's build: the flags come from the installed persam.pc alone.
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$pcdir
flags=$(pkg-config --cflags --libs persam)
echo "pkg-config --cflags --libs persam: $flags"
echo "pkg-config --modversion persam: $(pkg-config --modversion persam)"
# C99, pedantic and warning-free; the header also compiles as C++.
"$CC" -std=c99 -pedantic -Wall -Wextra -Werror -O1 -o "$tmp/segment_point" "$src/tests/capi/segment_point.c" $flags
if command -v c++ >/dev/null; then
  echo '#include "persam/persam.h"' | c++ -std=c++11 -Wall -Wextra -Werror -pedantic -x c++ -fsyntax-only \
    $(pkg-config --cflags persam) -
fi
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH
# The checker reads PNG and PGM with stb_image (Debian's libstb-dev headers).
stb_cflags=$(pkg-config --cflags stb 2>/dev/null || echo -I/usr/include/stb)
"$CC" -std=c99 -O1 -o "$tmp/mask_diff" "$src/tests/capi/mask_diff.c" $stb_cflags -lm

# It runs on the installed library (no rpath into the build tree).
if readelf -d "$tmp/segment_point" | grep -q -E 'R(UN)?PATH'; then
  echo "FAIL: segment_point has an rpath"; exit 1
fi
export LD_LIBRARY_PATH=$libdir
resolved=$(ldd "$tmp/segment_point" | awk '/libpersam\.so/ {print $3}')
echo "libpersam.so.1 -> $resolved"
case $resolved in "$dest"/*) ;; *) echo "FAIL: libpersam.so.1 resolved outside the DESTDIR"; exit 1 ;; esac

model=$fixtures/models/sam_vit_tiny.pth
image=$fixtures/perseg-mini/Images/cat/01.png
x=638.5 y=439.75  # exact in float (the C API's type) and double (the CLI's)
echo "== segment_point $x $y"
"$tmp/segment_point" "$model" "$image" $x $y "$tmp/mask.pgm" | tee "$tmp/out.txt"
grep -q '^mask 0: score ' "$tmp/out.txt" || { echo "FAIL: no score line"; exit 1; }
echo "== persam segment --point $x,$y"
"$prefix/bin/persam" segment --model "$model" --image "$image" --point $x,$y --out "$tmp/cli" | tee "$tmp/cli.txt"
# The CLI prints "mask 0: score S, area A px (P%)": the same score and area.
cli_line=$(grep '^mask 0: score ' "$tmp/cli.txt" | sed 's/ px.*/ px/')
api_line=$(grep '^mask 0: score ' "$tmp/out.txt")
echo "CLI: $cli_line"
echo "API: $api_line"
[ "$cli_line" = "$api_line" ] || { echo "FAIL: score / area lines differ"; exit 1; }
"$tmp/mask_diff" "$tmp/cli/mask_0.png" "$tmp/mask.pgm"

# The plugin modules (base/module_loader.h): installed in <libdir>/persam,
# and found there from the installed executable (<bindir>/../<libdir>/persam)
# and library (<libdir>/persam), not from the build tree (unreachable from
# the DESTDIR) nor the configured prefix (not this DESTDIR).
unset PERSAM_MODULE_DIR
for m in "$build"/modules/libpersam_*.so; do
  f=$libdir/persam/$(basename "$m")
  if [ -e "$f" ]; then echo "installed: ${f#"$dest"}"; else echo "FAIL: missing ${f#"$dest"}"; exit 1; fi
done
echo "== installed persam download (the download module; no network needed)"
out=$("$prefix/bin/persam" download --url http://127.0.0.1:1/x.pth --sha256 "$(printf 'a%.0s' {1..64})" \
  --dir "$tmp/dl" 2>&1 || true)
echo "$out"
case $out in *"(curl: "*) ;; *) echo "FAIL: the installed persam did not load its download module"; exit 1 ;; esac
if [ -e "$libdir/persam/libpersam_heif.so" ]; then
  echo "== installed libpersam.so on a damaged HEIF file (the HEIF module)"
  printf '\0\0\0\030ftypheic\0\0\0\0mif1heic' > "$tmp/bad.heic"
  out=$("$tmp/segment_point" "$model" "$tmp/bad.heic" 1 1 "$tmp/bad.pgm" 2>&1 || true)
  echo "$out"
  case $out in *"could not"*|*"not built"*) echo "FAIL: libpersam.so did not load its HEIF module"; exit 1 ;; esac
  case $out in *HEIF*) ;; *) echo "FAIL: no HEIF decoder error"; exit 1 ;; esac
fi
echo "PASS: installed C API and persam segment give the same mask; the installed modules load"
