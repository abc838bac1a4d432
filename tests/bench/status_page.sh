#!/usr/bin/env bash
# The status page under load: petrad trains at full speed (embedded generator faster than the
# trainer), the page at / is fetched by HAMMER threads back to back, and the control socket's
# `status` round trip is timed at the same time; then the socket alone, with no page traffic,
# for comparison. Prints one JSON line: page fetch p50/p99/max (ms), pages/s, socket p99 with
# and without the page traffic, and the training rate.
#   tests/bench/status_page.sh [BUILD_DIR] [SECONDS=20] [HAMMER=2]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
secs=${2:-20}
hammer=${3:-2}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
python3 - "$build" "$tmp" "$secs" "$hammer" <<'PY'
import http.client, json, os, socket, subprocess, sys, threading, time
build, tmp, secs, hammer = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
sock = os.path.join(tmp, "ctl.sock")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
p = subprocess.Popen([os.path.join(build, "petrad"), "--embedded", "--quiet", "--state-dir", os.path.join(tmp, "st"),
                      "--control-socket", sock, "--set", "embedded.rate=200000", "--set", "metrics.http_port=%d" % port,
                      "--set", "evolution.interval_s=5", "--run-for", "600"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(os.path.join(tmp, "pid"), "w").write(str(p.pid))
while not os.path.exists(sock):
    time.sleep(0.1)
def status():
    c = socket.socket(socket.AF_UNIX); c.connect(sock); c.sendall(b"status\n")
    b = b""
    while not b.endswith(b"\n"):
        b += c.recv(65536)
    c.close()
    return json.loads(b)
time.sleep(12)  # queue full, trainer busy, a few evolution steps
stop = False
page_ms, sizes = [], []
def fetch():
    while not stop:
        a = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10); c.request("GET", "/")
        r = c.getresponse(); body = r.read(); c.close()
        page_ms.append((time.perf_counter() - a) * 1e3); sizes.append(len(body))
        assert r.status == 200 and b"id='health'" in body
def socket_rtts(duration):
    out, t_end = [], time.time() + duration
    while time.time() < t_end:
        a = time.perf_counter(); status(); out.append((time.perf_counter() - a) * 1e3)
        time.sleep(0.01)
    return out
s0 = status(); t0 = time.time()
ts = [threading.Thread(target=fetch) for _ in range(hammer)]
for t in ts: t.start()
loaded = socket_rtts(secs)
stop = True
for t in ts: t.join()
s1 = status(); el = time.time() - t0
quiet = socket_rtts(secs / 2)
def q(v, f):
    v = sorted(v); return round(v[min(len(v) - 1, int(len(v) * f))], 3)
print(json.dumps({"bench": "status_page", "seconds": secs, "fetchers": hammer, "pages": len(page_ms),
                  "pages_per_s": round(len(page_ms) / secs), "page_bytes": max(sizes) if sizes else 0,
                  "page_p50_ms": q(page_ms, .5), "page_p99_ms": q(page_ms, .99), "page_max_ms": round(max(page_ms), 3),
                  "socket_p99_ms_with_pages": q(loaded, .99), "socket_p99_ms_quiet": q(quiet, .99),
                  "train_examples_per_s": round((s1["examples"] - s0["examples"]) / el)}))
p.terminate(); p.wait()
PY
