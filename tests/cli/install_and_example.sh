#!/usr/bin/env bash
# cmake --install lays out programs, library, headers, petra.pc, unit and config; the
# scoring example in README.md compiles against the installed libpetra with pkg-config alone
# and scores a snapshot that `petra train` wrote.
set -u
build=${PETRA_BIN:?}
src=${PETRA_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

cmake --install "$build" --prefix "$tmp/p" > "$tmp/install.log" 2>&1
ok '[ $? -eq 0 ]'
for f in sbin/petrad bin/petractl bin/petra include/petra/model.h include/petra/snapshot.h \
         include/petra/petra.pb-c.h lib/systemd/system/petrad.service etc/petra/petrad.conf; do
  ok "[ -e '$tmp/p/$f' ]"
done
pc=$(find "$tmp/p" -name petra.pc | head -n1)
ok '[ -n "$pc" ]'
lib=$(dirname "$(dirname "$pc")")
ok "ls '$lib'/libpetra.so* >/dev/null 2>&1 && [ -e '$lib/libpetra.a' ]"

# the README's example, verbatim
awk '/<!-- example: score.c -->/{f=1; next} f && /^```c/{g=1; next} g && /^```/{exit} g{print}' \
  "$src/README.md" > "$tmp/score.c"
ok '[ -s "$tmp/score.c" ]'
PKG_CONFIG_PATH="$(dirname "$pc")" cc -std=c11 -Wall -Wextra -Werror ${PETRA_EXTRA_CFLAGS:-} "$tmp/score.c" -o "$tmp/score" \
  $(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs petra) 2> "$tmp/cc.log"
ok '[ $? -eq 0 ] || { cat "$tmp/cc.log"; false; }'
"$build/petra" train --spec "ts window=24 horizon=4 arch=linear ci=1 norm=last" \
  --csv "$src/../shared/data/ett/ETTh1.csv" --split 2000,500,500 --epochs 2 --quiet \
  --save "$tmp/m.snap" > /dev/null
ok '[ -s "$tmp/m.snap" ]'
out=$(LD_LIBRARY_PATH="$lib" "$tmp/score" "$tmp/m.snap" 2>&1)
echo "$out"
ok 'grep -q "^outputs 28" <<<"$out"'
ok 'grep -qE "^first [-0-9.]+" <<<"$out"'
head -c 300 "$tmp/m.snap" > "$tmp/bad.snap"
out=$(LD_LIBRARY_PATH="$lib" "$tmp/score" "$tmp/bad.snap" 2>&1)
ok '[ $? -ne 0 ] && grep -q "not a decodable ModelSnapshot" <<<"$out"'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
