#!/usr/bin/env bash
# Training throughput with the evolution running against without it: petrad embedded, its
# generator faster than the trainer (the trainer is the bottleneck), RUNS alternating runs of
# SECONDS each with evolution.interval_s = 86400 (off) and = 0.1 (a step always running, on
# the evolution thread), examples/s measured from `status` between second 10 and the end.
# Prints each run, then the medians and the ratio on/off (the target is >= 0.8).
#   tests/bench/evo_overlap.sh [BUILD_DIR] [SECONDS=30] [RUNS=3]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
secs=${2:-30}
runs=${3:-3}
python3 - "$build" "$secs" "$runs" <<'PY'
import json, os, socket, statistics, subprocess, sys, tempfile, time
build, secs, runs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def run(interval):
    tmp = tempfile.mkdtemp()
    sock = os.path.join(tmp, "ctl.sock")
    p = subprocess.Popen([os.path.join(build, "petrad"), "--embedded", "--quiet", "--state-dir", os.path.join(tmp, "st"),
                          "--control-socket", sock, "--set", "embedded.rate=200000", "--set", "evolution.interval_s=%s" % interval,
                          "--run-for", str(int(secs) + 20)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        time.sleep(0.1)
    def status():
        c = socket.socket(socket.AF_UNIX); c.connect(sock); c.sendall(b"status\n")
        b = b""
        while not b.endswith(b"\n"):
            b += c.recv(1 << 20)
        c.close()
        return json.loads(b)
    time.sleep(10)
    s0, t0 = status(), time.time()
    time.sleep(secs - 10)
    s1, t1 = status(), time.time()
    p.terminate(); p.wait()
    return {"evolution": "off" if interval >= 86400 else "on", "examples_per_s": round((s1["examples"] - s0["examples"]) / (t1 - t0)),
            "evolution_steps": s1["evolution_steps"] - s0["evolution_steps"], "worker": s1.get("evolution_worker")}
res = []
for i in range(runs):
    for interval in (86400, 0.1):
        r = run(interval); res.append(r); print(json.dumps(r), flush=True)
med = {k: statistics.median(r["examples_per_s"] for r in res if r["evolution"] == k) for k in ("off", "on")}
print(json.dumps({"bench": "evo_overlap", "examples_per_s_off": med["off"], "examples_per_s_on": med["on"],
                  "ratio_on_off": round(med["on"] / med["off"], 3),
                  "steps_per_run_on": statistics.median(r["evolution_steps"] for r in res if r["evolution"] == "on")}))
PY
