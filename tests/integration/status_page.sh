#!/usr/bin/env bash
# The live status page as a person sees it: petrad trains from the real broker with the
# metrics HTTP port on; the page at / is loaded in headless Chromium (Debian's chromium),
# its DOM (after rendering) checked for the health badge, the champion and the Pareto plot,
# and a screenshot kept in the build directory (status_page.png); the page carries a CSP that
# forbids loading anything, and while it is fetched back to back the control socket keeps
# answering.
set -u
bs=$(cat "${PETRA_KAFKA_DIR:?}/bootstrap")
bin=${PETRA_BIN:?}
t=page-$$-$RANDOM
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
command -v chromium > /dev/null || { echo "FAIL: chromium not installed (deploy/install-deps.sh installs it)"; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bin/petra" gen --kind tx --count 150000 --seed 3 --brokers "$bs" --events-topic "$t.events" \
  --labels-topic "$t.labels" > /dev/null 2>&1
"$bin/petrad" --quiet --state-dir "$tmp/state" --control-socket "$tmp/ctl.sock" --set kafka.brokers="$bs" \
  --set kafka.group_id="$t" --set topics.events="$t.events" --set topics.labels="$t.labels" \
  --set topics.snapshots="$t.snapshots" --set topics.metrics="$t.metrics" --set topics.deadletter="$t.dead" \
  --set consumer.auto.offset.reset=earliest --set evolution.interval_s=2 --set snapshot.interval_s=2 \
  --set metrics.http_port="$port" --run-for 90 > "$tmp/out" 2> "$tmp/err" &
echo $! > "$tmp/pid"
# wait for a champion (an evolution step that found a feasible member: the Pareto archive is
# empty until one does, and a first step may find none), at most 75 s of petrad's 90
for i in $(seq 1 150); do
  "$bin/petractl" --socket "$tmp/ctl.sock" --json status 2>/dev/null | grep -o '"champion":{"genome":"[^"]*"' | grep -qv '"fp32"$' && break
  sleep 0.5
done
sleep 1
url="http://127.0.0.1:$port/"
curl -s -D "$tmp/headers" -o "$tmp/page.html" "$url"
ok "grep -qi '^content-type: text/html' $tmp/headers"
ok "grep -qi \"^content-security-policy: default-src 'none'\" $tmp/headers"
ok "grep -q \"id='health'\" $tmp/page.html"
ok "! grep -q '<script' $tmp/page.html"
ok "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/nope)\" = 404 ]"
ok "curl -s http://127.0.0.1:$port/metrics | grep -q '^petra_events_total'"

chrome() { timeout 90 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$tmp/chrome" --window-size=1280,1100 "$@" 2> "$tmp/chrome.log"; }
chrome --dump-dom "$url" > "$tmp/dom.html"
ok "[ -s $tmp/dom.html ]"
ok "grep -Eq \"<span id=\\\"health\\\" class=\\\"badge (ok|degraded)\\\">(ok|degraded)</span>\" $tmp/dom.html"
champ=$(python3 -c "import re,sys; m=re.search(r'<td id=\"champion\">([^<]*)</td>', open(sys.argv[1]).read()); print(m.group(1) if m else '')" "$tmp/dom.html")
echo "champion on the page: ${champ:0:120}"
ok "[ -n \"$champ\" ]"
members=$(grep -o 'class="member"' "$tmp/dom.html" | wc -l)
echo "Pareto members drawn: $members; history charts: $(grep -o 'class="series"' "$tmp/dom.html" | wc -l)"
ok "grep -q '<svg[^>]*id=\"pareto\"' $tmp/dom.html && [ $members -ge 1 ]"
ok "[ \$(grep -o 'class=\"series\"' $tmp/dom.html | wc -l) -eq 4 ]"
shot=$bin/status_page.png
chrome --screenshot="$shot" "$url" > /dev/null
ok "[ -s $shot ] && [ \"\$(head -c 8 $shot | od -An -tx1 | tr -d ' \n')\" = 89504e470d0a1a0a ]"
ok "[ \$(stat -c %s $shot) -gt 20000 ]"
echo "screenshot: $shot ($(stat -c %s "$shot" 2>/dev/null) bytes)"

# fetched back to back for 5 s, the control socket still answers each status within its timeout
( end=$((SECONDS + 5)); while [ $SECONDS -lt $end ]; do curl -s -o /dev/null "$url"; done ) &
hp=$!
good=0
for i in $(seq 1 20); do
  "$bin/petractl" --socket "$tmp/ctl.sock" --timeout 2 status > /dev/null 2>&1 && good=$((good + 1))
  sleep 0.2
done
wait $hp
ok "[ $good -eq 20 ]"
kill "$(cat "$tmp/pid")" 2>/dev/null
wait "$(cat "$tmp/pid")" 2>/dev/null
rm -f "$tmp/pid"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
