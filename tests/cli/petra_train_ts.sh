#!/usr/bin/env bash
# petra train on a real series (ETTh1 from ../shared/data): --seeds N averages N members'
# weights, which for these linear forecasters is their mean forecast, so its test MSE can be no
# worse than the members' mean test MSE (the squared error is convex): checked against the
# three members trained alone. --stream-first-epoch changes the result; bad --seeds values and
# archs it cannot average are refused with exit 2.
set -u
bin=${PETRA_BIN:?}/petra
csv=${PETRA_SOURCE_DIR:?}/../shared/data/ett/ETTh1.csv
[ -f "$csv" ] || { echo "FAIL: no $csv"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if [ "$1" = 0 ]; then pass=$((pass + 1)); else echo "FAIL: $2"; fail=$((fail + 1)); fi; }
spec="ts window=96 horizon=24 ci=1 arch=dlinear norm=none"
common=(--csv "$csv" --split 8640,2880,2880 --epochs 3 --batch 32 --lr 0.005 --lr-decay 0.5 --json)
mse() { tail -n1 "$1" | python3 -c "import json,sys; print(json.loads(sys.stdin.read())['mse'])"; }
for s in 1 2 3; do
  "$bin" train --spec "$spec" "${common[@]}" --quiet --seed "$s" > "$tmp/m$s" 2> "$tmp/m$s.err"
  ok $? "member seed $s: $(tail -n2 "$tmp/m$s.err")"
done
"$bin" train --spec "$spec" "${common[@]}" --seed 1 --seeds 3 > "$tmp/e" 2> "$tmp/e.err"
ok $? "--seeds 3: $(tail -n2 "$tmp/e.err")"
grep -q "averaged the weights of 3 members (seeds 1..3)" "$tmp/e.err"
ok $? "--seeds 3 does not say it averaged 3 members"
python3 - "$(mse "$tmp/m1")" "$(mse "$tmp/m2")" "$(mse "$tmp/m3")" "$(mse "$tmp/e")" <<'PY'
import sys
m = [float(v) for v in sys.argv[1:4]]
e = float(sys.argv[4])
print(f"members {m}, averaged {e}")
sys.exit(0 if e <= sum(m) / 3 * (1 + 1e-5) and e == e else 1)
PY
ok $? "the averaged model's test MSE exceeds its members' mean"
"$bin" train --spec "$spec" "${common[@]}" --quiet --seed 1 --stream-first-epoch > "$tmp/s" 2> "$tmp/s.err"
ok $? "--stream-first-epoch: $(tail -n2 "$tmp/s.err")"
[ "$(mse "$tmp/s")" != "$(mse "$tmp/m1")" ]
ok $? "--stream-first-epoch gave the shuffled first epoch's result"
# refused: out of range, and an arch whose forecast is not linear in its weights
for bad in "--seeds 0" "--seeds 65" "--seeds x"; do
  "$bin" train --spec "$spec" "${common[@]}" $bad > /dev/null 2> "$tmp/bad.err"
  rc=$?
  [ $rc = 2 ] && grep -q -- "--seeds in 1..64" "$tmp/bad.err"
  ok $? "$bad: exit $rc, $(cat "$tmp/bad.err")"
done
"$bin" train --spec "ts window=96 horizon=24 ci=1 arch=mlp hidden=8 norm=none" "${common[@]}" --seeds 2 \
  > /dev/null 2> "$tmp/bad.err"
rc=$?
[ $rc = 2 ] && grep -q "averages members' weights" "$tmp/bad.err"
ok $? "--seeds with arch=mlp: exit $rc, $(cat "$tmp/bad.err")"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
