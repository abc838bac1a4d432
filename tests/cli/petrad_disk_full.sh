#!/usr/bin/env bash
# Disk full in the state directory: petrad runs (embedded) with a file-size limit that its
# first checkpoints fit under and later ones (the replay buffer grows) do not — writes fail
# with EFBIG as they would with ENOSPC. The daemon must keep training, report the failure
# (health degraded with the reason, checkpoint_failures counted), keep the last good
# checkpoint intact, and a restart without the limit must resume from it.
set -u
bin=${PETRA_BIN:?}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
sock=$tmp/ctl.sock
j() { "$bin/petractl" --socket "$sock" --json "$@"; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print(d$1)"; }

# SIGXFSZ ignored (inherited through exec): over-limit writes fail with EFBIG instead
( trap '' XFSZ; ulimit -f 1536; exec "$bin/petrad" --embedded --quiet --state-dir "$tmp/st" \
    --control-socket "$sock" --set checkpoint.interval_s=1 --set evolution.interval_s=1000 \
    --set health.max_checkpoint_age_s=600 --run-for 120 > "$tmp/out" 2> "$tmp/err" ) &
echo $! > "$tmp/pid"
for i in $(seq 1 300); do [ -S "$sock" ] && break; sleep 0.1; done
ok '[ -S "$sock" ]'
# wait for a good checkpoint, then for failures as the replay buffer fills
for i in $(seq 1 600); do
  s=$(j status 2>/dev/null) || { sleep 0.2; continue; }
  good=$(echo "$s" | field '["checkpoints"]'); bad=$(echo "$s" | field '["checkpoint_failures"]')
  [ "$good" -ge 1 ] && [ "$bad" -ge 2 ] && break
  sleep 0.2
done
ok '[ "${good:-0}" -ge 1 ] || { echo "no good checkpoint"; false; }'
ok '[ "${bad:-0}" -ge 2 ] || { echo "no failed checkpoint"; tail -5 "$tmp/err"; false; }'
"$bin/petractl" --socket "$sock" health > "$tmp/health"; rc=$?
ok '[ $rc -eq 1 ] && grep -q "last checkpoint failed" "$tmp/health" || { cat "$tmp/health"; false; }'
ok 'grep -q "checkpoint_failed" "$tmp/err"'
steps1=$(j status | field '["train_steps"]'); sleep 2; steps2=$(j status | field '["train_steps"]')
ok '[ "$steps2" -gt "$steps1" ] || { echo "training stopped: $steps1 -> $steps2"; false; }'
good_examples=$(grep -o 'checkpoint_written.*' "$tmp/err" | tail -n1 || true)
kill -TERM "$(cat "$tmp/pid")"; wait "$(cat "$tmp/pid")" 2>/dev/null
ok '[ -s "$tmp/st/checkpoint" ]'
size=$(stat -c %s "$tmp/st/checkpoint")
ok '[ "$size" -le $((1536 * 1024)) ]'
# restart without the limit: the last good checkpoint loads
"$bin/petrad" --embedded --quiet --state-dir "$tmp/st" --control-socket "$sock" --run-for 3 \
  > "$tmp/out2" 2> "$tmp/err2"
ok 'grep -q "checkpoint_restored" "$tmp/err2" || { grep -E "error|checkpoint" "$tmp/err2" | head; false; }'
ok '! grep -q "checkpoint_corrupt" "$tmp/err2"'
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
