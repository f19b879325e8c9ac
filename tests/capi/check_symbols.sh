#!/usr/bin/env bash
# libpersam.so exports the C API and nothing else: every dynamic symbol it
# defines is persam_* (the version node PERSAM_1 aside), exactly the
# functions include/persam/persam.h declares, all at version PERSAM_1; and
# its SONAME is libpersam.so.<PERSAM_API_VERSION>.
#   check_symbols.sh LIBPERSAM_SO PERSAM_H
set -euo pipefail
lib=$1
header=$2
for tool in nm readelf; do
  command -v $tool >/dev/null || { echo "skipped: $tool not found"; exit 77; }
done
status=0

api_version=$(sed -n 's/^#define PERSAM_API_VERSION \([0-9]*\).*/\1/p' "$header")
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "SONAME: $soname"
[ "$soname" = "libpersam.so.$api_version" ] || { echo "FAIL: SONAME is not libpersam.so.$api_version"; status=1; }

# "ADDRESS TYPE NAME[@@VERSION]" of every defined dynamic symbol.
defined=$(nm -D --defined-only "$lib")
names=$(awk '{print $3}' <<<"$defined" | sed 's/@.*//' | grep -v -x 'PERSAM_1' | sort -u)
others=$(grep -v '^persam_' <<<"$names" || true)
if [ -n "$others" ]; then
  echo "FAIL: exported symbols that are not persam_*:"
  head -n 20 <<<"$others"
  echo "($(wc -l <<<"$others") in all)"
  status=1
fi
count=$(grep -c '^persam_' <<<"$names" || true)
echo "exported persam_* symbols: $count"

# Every one a function of the header, at the version node PERSAM_1.
declared=$(tr '\n' ' ' <"$header" | grep -o 'PERSAM_API [^;]*' | grep -o 'persam_[a-z0-9_]*(' | tr -d '(' | sort -u)
if [ "$declared" != "$(grep '^persam_' <<<"$names")" ]; then
  echo "FAIL: exported symbols and persam.h's declarations differ (< header, > library):"
  diff <(echo "$declared") <(grep '^persam_' <<<"$names") || true
  status=1
fi
# (nm prints NAME@@VERSION since binutils 2.35; older ones print no versions.)
if grep -q '@' <<<"$defined"; then
  unversioned=$(awk '$3 ~ /^persam_/ && $3 !~ /@@PERSAM_1$/ {print $3}' <<<"$defined")
  if [ -n "$unversioned" ]; then
    echo "FAIL: persam_* symbols outside the version node PERSAM_1: $unversioned"
    status=1
  fi
fi
[ $status -eq 0 ] && echo "PASS: only the $count persam_* functions of persam.h are exported; SONAME $soname"
exit $status
