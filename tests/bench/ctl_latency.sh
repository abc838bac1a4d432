#!/usr/bin/env bash
# `petractl status` latency while petrad trains at full speed (embedded generator at a rate
# the trainer cannot keep up with, so the queue is full and consumption pauses/resumes).
# Prints one JSON line: p50/p99/max of the whole petractl process (fork+exec+connect+reply)
# and of the socket round trip alone, plus the daemon's training rate during the run.
#   tests/bench/ctl_latency.sh [BUILD_DIR] [N]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
n=${2:-1000}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
python3 - "$build" "$tmp" "$n" <<'PY'
import json, os, socket, subprocess, sys, time
build, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = os.path.join(tmp, "ctl.sock")
p = subprocess.Popen([os.path.join(build, "petrad"), "--embedded", "--quiet", "--state-dir", os.path.join(tmp, "st"),
                      "--control-socket", sock, "--set", "embedded.rate=" + os.environ.get("RATE", "200000"), "--run-for", "600"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(os.path.join(tmp, "pid"), "w").write(str(p.pid))
while not os.path.exists(sock):
    time.sleep(0.1)
def status():
    s = socket.socket(socket.AF_UNIX); s.connect(sock); s.sendall(b"status\n")
    b = b""
    while not b.endswith(b"\n"):
        b += s.recv(65536)
    s.close()
    return json.loads(b)
time.sleep(10)  # past start-up: the queue is full and the trainer busy
s0 = status(); t0 = time.time()
proc, rt = [], []
for i in range(n):
    a = time.perf_counter()
    subprocess.run([os.path.join(build, "petractl"), "--socket", sock, "status"], stdout=subprocess.DEVNULL, check=True)
    proc.append((time.perf_counter() - a) * 1e3)
    a = time.perf_counter(); status(); rt.append((time.perf_counter() - a) * 1e3)
s1 = status(); secs = time.time() - t0
def q(v, f):
    v = sorted(v); return round(v[min(len(v) - 1, int(len(v) * f))], 3)
print(json.dumps({"bench": "ctl_status", "n": n,
                  "petractl_p50_ms": q(proc, .5), "petractl_p99_ms": q(proc, .99), "petractl_max_ms": round(max(proc), 3),
                  "socket_p50_ms": q(rt, .5), "socket_p99_ms": q(rt, .99), "socket_max_ms": round(max(rt), 3),
                  "train_examples_per_s": round((s1["examples"] - s0["examples"]) / secs),
                  "events_per_s": round((s1["events"] - s0["events"]) / secs),
                  "queue_depth": s1["queue_depth"], "queue_capacity": s1["queue_capacity"]}))
p.terminate(); p.wait()
PY
