#!/usr/bin/env bash
# petra compress: a trained ETTh1 snapshot compressed to int8 (and int4, low-rank) is
# smaller, keeps the hold-out MSE within 2%, and the written snapshot verifies and carries
# its genome; a table of bad invocations fails with the expected exit code and message.
set -u
bin=${PETRA_BIN:?}
src=${PETRA_SOURCE_DIR:?}
csv=$src/../shared/data/ett/ETTh1.csv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
[ -s "$csv" ] || { echo "FAIL: $csv missing"; exit 1; }
"$bin/petra" train --spec "ts window=336 horizon=96 arch=linear ci=1 norm=last" --csv "$csv" \
  --split 8640,2880,2880 --epochs 3 --batch 32 --lr 0.005 --save "$tmp/fp32.bin" > /dev/null 2>&1
ok '[ -s "$tmp/fp32.bin" ]'
for g in "head:bits=8" "head:bits=4" "head:rank=0.25,bits=8"; do
  "$bin/petra" compress --snapshot "$tmp/fp32.bin" --genome "$g" --csv "$csv" --json --out "$tmp/c.bin" \
    > "$tmp/out.json" 2> "$tmp/err"
  ok "[ \$? -eq 0 ] || { cat '$tmp/err'; false; }"
  python3 - "$tmp/out.json" "$g" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
b, a = rows[0], rows[1]
assert b["compress"] == "before" and a["compress"] == "after", rows
assert a["bytes"] < b["bytes"], (sys.argv[2], b["bytes"], a["bytes"])
limit = 0.02 if "rank" not in sys.argv[2] else 0.15
assert a["metric"] <= b["metric"] * (1 + limit), (sys.argv[2], b["metric"], a["metric"])
assert a["holdout"] > 1000 and a["p50_us"] > 0 and a["throughput_per_s"] > 0
print(sys.argv[2], "bytes", b["bytes"], "->", a["bytes"], "mse", b["metric"], "->", a["metric"])
PY
  ok '[ $? -eq 0 ]'
  "$bin/petra" inspect "$tmp/c.bin" > "$tmp/inspect" 2>&1
  ok "grep -q 'sha256 verified' '$tmp/inspect' && grep -q 'version 2 (base 1)' '$tmp/inspect'"
done
# bad invocations: exit code and message
expect() {  # expect CODE PATTERN -- ARGS...
  local code=$1 pat=$2; shift 3
  "$bin/petra" compress "$@" > "$tmp/o" 2> "$tmp/e"; local rc=$?
  ok "[ $rc -eq $code ] && grep -q -- '$pat' '$tmp/e' || { echo 'rc=$rc'; cat '$tmp/e'; false; }"
}
expect 2 "are required" -- --snapshot "$tmp/fp32.bin" --csv "$csv"
expect 2 "genome" -- --snapshot "$tmp/fp32.bin" --genome "head:bits=7" --csv "$csv"
expect 1 "No such file" -- --snapshot "$tmp/nope.bin" --genome "head:bits=8" --csv "$csv"
expect 2 "already compressed" -- --snapshot "$tmp/c.bin" --genome "head:bits=8" --csv "$csv"
head -c 1000 "$tmp/fp32.bin" > "$tmp/trunc.bin"
expect 1 "trunc.bin" -- --snapshot "$tmp/trunc.bin" --genome "head:bits=8" --csv "$csv"
printf 'date,a\n2020-01-01,1\n' > "$tmp/narrow.csv"
expect 1 "columns" -- --snapshot "$tmp/fp32.bin" --genome "head:bits=8" --csv "$tmp/narrow.csv"
# the ETTh1 table: five genomes in the bench format; int8 is a quarter of fp32 and keeps the
# MSE within 2% (the issue's target); an unknown preset is refused
"$bin/petra" bench compress --preset etth1 --csv "$csv" > "$tmp/table" 2> "$tmp/table.err"
ok "[ \$? -eq 0 ] || { cat '$tmp/table.err'; false; }"
ok "python3 - '$tmp/table' <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 5, rows
keys = {'bench', 'preset', 'genome', 'bytes', 'p50_us', 'p99_us', 'throughput_per_s', 'metric', 'metric_name'}
assert all(keys <= set(r) and r['preset'] == 'etth1' and r['metric_name'] == 'mse' for r in rows), rows
fp32, int8 = rows[0], rows[1]
assert fp32['genome'] == 'fp32' and int8['genome'] == 'head:bits=8', rows
assert int8['bytes'] <= 0.3 * fp32['bytes'], (int8, fp32)
assert abs(int8['metric'] / fp32['metric'] - 1) < 0.02, (int8, fp32)
PY"
"$bin/petra" bench compress --preset nope > /dev/null 2> "$tmp/e"; rc=$?
ok "[ $rc -eq 2 ] && grep -q unknown '$tmp/e'"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
