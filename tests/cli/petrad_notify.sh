#!/usr/bin/env bash
# systemd notify protocol: a fake NOTIFY_SOCKET receives READY=1 first, WATCHDOG=1 keep-alives
# (WATCHDOG_USEC set), STATUS= lines, and STOPPING=1 on shutdown, in that order.
set -u
bin=${PETRA_BIN:?}/petrad
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$bin" "$tmp" <<'PY'
import os, socket, subprocess, sys, time
bin, tmp = sys.argv[1], sys.argv[2]
path = os.path.join(tmp, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="2000000")
p = subprocess.Popen([bin, "--embedded", "--quiet", "--run-for", "7", "--state-dir", os.path.join(tmp, "st")],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
msgs = []
deadline = time.time() + 30
while time.time() < deadline:
    try:
        msgs.append(s.recv(4096).decode())
    except socket.timeout:
        if p.poll() is not None:
            break
rc = p.wait()
lines = [l for m in msgs for l in m.split("\n")]
fails = 0
def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", what, lines[:20])
check(rc == 0, "exit code 0")
check(lines and lines[0] == "READY=1", "READY=1 first")
check(lines.count("WATCHDOG=1") >= 3, "watchdog keep-alives every second")
check(any(l.startswith("STATUS=") for l in lines), "STATUS lines")
check("STOPPING=1" in lines, "STOPPING=1 sent")
if "STOPPING=1" in lines and "READY=1" in lines:
    check(lines.index("READY=1") < lines.index("STOPPING=1"), "READY before STOPPING")
print(f"{6 - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
PY
