#!/usr/bin/env bash
# The control socket and petractl against a running petrad (embedded mode): every command,
# a table of bad command lines, peer credentials (clients run as another uid with setpriv),
# 1,000 concurrent clients plus a slowloris client while the daemon keeps training, the
# client limit, Prometheus text over the socket and over HTTP checked by a strict parser,
# reload of a good and a bad configuration, and an orderly stop removing the socket.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 - "${PETRA_BIN:?}" "$tmp" "$here" <<'PY'
import json, os, selectors, signal, socket, stat, subprocess, sys, time, urllib.request, urllib.error
bindir, tmp, here = sys.argv[1:4]
sys.path.insert(0, here)
import promcheck

fails = passes = 0
def check(cond, what, detail=""):
    global fails, passes
    if cond:
        passes += 1
    else:
        fails += 1
        print("FAIL:", what, str(detail)[:600], flush=True)

# the checker itself must reject bad exposition (a table of bad inputs)
good = "# HELP petra_x_total x\n# TYPE petra_x_total counter\npetra_x_total 1\n"
check(promcheck.check(good) == [], "promcheck accepts a valid counter", promcheck.check(good))
bad = {
    "no newline": good[:-1],
    "no TYPE": "# HELP petra_a a\npetra_a 1\n",
    "counter name": "# HELP petra_c c\n# TYPE petra_c counter\npetra_c 1\n",
    "bad value": "# HELP petra_g g\n# TYPE petra_g gauge\npetra_g one\n",
    "bad label": "# HELP petra_g g\n# TYPE petra_g gauge\npetra_g{1a=\"x\"} 1\n",
    "bad escape": "# HELP petra_g g\n# TYPE petra_g gauge\npetra_g{a=\"\\x\"} 1\n",
    "duplicate": "# HELP petra_g g\n# TYPE petra_g gauge\npetra_g 1\npetra_g 2\n",
    "blank line": "# HELP petra_g g\n# TYPE petra_g gauge\n\npetra_g 1\n",
    "prefix": "# HELP other_g g\n# TYPE other_g gauge\nother_g 1\n",
    "hist no inf": "# HELP petra_h h\n# TYPE petra_h histogram\npetra_h_bucket{le=\"1\"} 1\npetra_h_sum 1\npetra_h_count 1\n",
    "hist not cumulative": "# HELP petra_h h\n# TYPE petra_h histogram\npetra_h_bucket{le=\"1\"} 2\npetra_h_bucket{le=\"+Inf\"} 1\npetra_h_sum 1\npetra_h_count 1\n",
    "hist count": "# HELP petra_h h\n# TYPE petra_h histogram\npetra_h_bucket{le=\"+Inf\"} 2\npetra_h_sum 1\npetra_h_count 1\n",
    "interleaved": "# HELP petra_a a\n# TYPE petra_a gauge\n# HELP petra_b b\n# TYPE petra_b gauge\npetra_a 1\npetra_b 1\n",
}
for k, t in bad.items():
    check(promcheck.check(t) != [], f"promcheck rejects: {k}")

port_sock = socket.socket(); port_sock.bind(("127.0.0.1", 0)); http_port = port_sock.getsockname()[1]; port_sock.close()
cfg = os.path.join(tmp, "petrad.conf")
base_cfg = f"""
evolution.interval_s = 1000
snapshot.interval_s = 1000
checkpoint.interval_s = 1000
checkpoint.interval_examples = 100000000
control.timeout_s = 2
control.group = nogroup
control.max_clients = 1200
metrics.http_port = {http_port}
embedded.rate = 20000
"""
open(cfg, "w").write(base_cfg)
st = os.path.join(tmp, "st")
sock = os.path.join(tmp, "ctl.sock")
log = open(os.path.join(tmp, "petrad.log"), "w")
p = subprocess.Popen([os.path.join(bindir, "petrad"), "--config", cfg, "--embedded", "--quiet",
                      "--state-dir", st, "--control-socket", sock, "--run-for", "240"],
                     stdout=subprocess.PIPE, stderr=log, text=True)
open(os.path.join(tmp, "pid"), "w").write(str(p.pid))
deadline = time.time() + 60
while not os.path.exists(sock) and time.time() < deadline and p.poll() is None:
    time.sleep(0.1)
check(os.path.exists(sock), "control socket created")

def ctl(*args, user=None):
    cmd = [os.path.join(bindir, "petractl"), "--socket", sock, "--timeout", "20", *args]
    if user:
        cmd = ["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr

def raw(data, timeout=10):
    s = socket.socket(socket.AF_UNIX); s.settimeout(timeout); s.connect(sock)
    s.sendall(data)
    buf = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            buf += c
            if data.count(b"\n") and buf.count(b"\n") >= data.count(b"\n"):
                break
    except socket.timeout:
        pass
    s.close()
    return [json.loads(l) for l in buf.decode().splitlines() if l]

def status():
    rc, out, _ = ctl("--json", "status")
    return json.loads(out) if rc == 0 else {}

def wait_for(pred, secs, what):
    t = time.time() + secs
    while time.time() < t:
        if pred():
            return True
        time.sleep(0.2)
    check(False, what)
    return False

mode = os.stat(sock)
check(stat.S_IMODE(mode.st_mode) == 0o660, "socket mode 0660", oct(mode.st_mode))
check(mode.st_gid == 65534, "socket group is control.group (nogroup)", mode.st_gid)

wait_for(lambda: status().get("examples", 0) > 600, 60, "the daemon trains")
rc, out, err = ctl("health")
check(rc == 0 and out.startswith("ok"), "health ok, exit 0", (rc, out, err))
rc, out, err = ctl("status")
check(rc == 0 and "model_id" in out and "petra.events" in out and "champion.genome" in out,
      "status table", out)
s = status()
for k in ("model_id", "events", "events_per_s", "loss", "metric", "queue_depth", "partitions", "champion",
          "last_snapshot", "last_checkpoint_age_s", "drift_detections"):
    check(k in s, f"status has {k}")
check(s.get("events", 0) > 0 and s.get("partitions"), "status counts events per partition", s)

rc, out, err = ctl("metrics")
probs = promcheck.check(out)
check(rc == 0 and not probs, "socket metrics pass the strict parser", probs[:5])
for name in ("petra_events_total", "petra_train_steps_total", "petra_model_metric", "petra_champion_bytes",
             "petra_consumer_lag_messages", "petra_snapshot_publish_seconds_bucket", "petra_evolution_steps_total"):
    check(name in out, f"metrics include {name}")
time.sleep(1.2)  # the HTTP exposition is refreshed every second
try:
    r = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10)
    body = r.read().decode()
    check(r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), "HTTP 200 text/plain 0.0.4")
    probs = promcheck.check(body)
    check(not probs and "petra_events_total" in body, "HTTP /metrics passes the strict parser", probs[:5])
except Exception as e:
    check(False, "HTTP /metrics", e)
page = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/", timeout=10)
check(page.status == 200 and b"id='health'" in page.read(), "HTTP / is the status page")
try:
    urllib.request.urlopen(f"http://127.0.0.1:{http_port}/nope", timeout=10)
    check(False, "HTTP /nope is 404")
except urllib.error.HTTPError as e:
    check(e.code == 404, "HTTP /nope is 404", e.code)

# pause / resume
rc, out, err = ctl("pause")
check(rc == 0, "pause", err)
time.sleep(1.0)
e1 = status()["events"]; time.sleep(1.5); e2 = status()["events"]
check(e1 == e2, "no events consumed while paused", (e1, e2))
rc, out, err = ctl("health")
check(rc == 1 and "degraded" in out and "paused by the operator" in out, "health degraded while paused, exit 1", out)
check(status().get("operator_paused") is True, "status shows the operator pause")
rc, out, err = ctl("resume")
check(rc == 0, "resume", err)
wait_for(lambda: status()["events"] > e2, 20, "events flow again after resume")
rc, out, err = ctl("health")
check(rc == 0, "health ok after resume", out)

# log level
rc, out, err = ctl("loglevel", "debug")
check(rc == 0 and status().get("log_level") == "debug", "loglevel debug")
rc, out, err = ctl("loglevel", "loud")
check(rc == 64 and "loud" in err, "petractl rejects a bad level as a usage error", (rc, err))
ctl("loglevel", "info")

# evolve / snapshot / checkpoint on demand (their timers are set to 1000 s here)
s0 = status()
rc, out, err = ctl("evolve")
check(rc == 0, "evolve", err)
wait_for(lambda: status()["evolution_steps"] > s0["evolution_steps"], 60, "evolve runs a step")
rc, out, err = ctl("population")
check(rc == 0 and "genome" in out and "metric" in out, "population table", out[:300])
r = raw(b"population\n")
check(r and r[0]["ok"] and len(r[0]["members"]) >= 4 and any(m["evaluated"] for m in r[0]["members"]),
      "population JSON lists evaluated members", r)
r = raw(b"pareto\n")
check(r and r[0]["ok"] and isinstance(r[0]["members"], list), "pareto JSON", r)
# without evolution.cores a core trial is refused, saying why; status says the search is off
r = raw(b"core-trial\n")
check(r and not r[0]["ok"] and "evolution.cores is empty" in r[0]["error"], "core-trial refused without cores", r)
st = status()
check(st["core"]["search"] is False and st["core"]["trials"] == 0 and st["core"]["live"].startswith("gru="),
      "status core: the configured core, no search", st.get("core"))
pub0 = status()["last_snapshot"]["published"]
rc, out, err = ctl("snapshot")
check(rc == 0, "snapshot", err)
wait_for(lambda: status()["last_snapshot"]["published"] > pub0, 30, "snapshot published on demand")
ck0 = status()["checkpoints"]
rc, out, err = ctl("checkpoint")
check(rc == 0, "checkpoint", err)
wait_for(lambda: status()["checkpoints"] > ck0, 30, "checkpoint written on demand")

# reload: a good change applies, a bad file is refused and the running configuration kept
open(cfg, "w").write(base_cfg + "log.level = warn\n")
rc, out, err = ctl("reload")
check(rc == 0 and status().get("log_level") == "warn", "reload applies log.level", (rc, err))
open(cfg, "w").write(base_cfg + "log.level = warn\nno.such.key = 1\n")
rc, out, err = ctl("reload")
check(rc == 1 and "no.such.key" in err, "reload of a bad file fails naming the key", (rc, err))
rc, out, err = ctl("health")
check(rc == 0, "still healthy after a failed reload", out)
# a restart-only key changed: the reload is refused naming it, nothing applies
open(cfg, "w").write(base_cfg + "log.level = info\nmodel.id = another-model\ntrainer.batch = 7\n")
rc, out, err = ctl("reload")
check(rc == 1 and "model.id" in err and "trainer.batch" in err and "restart" in err,
      "reload refuses restart-only keys, naming them", (rc, err))
check(status().get("log_level") == "warn" and status()["model_id"] == "petra-default",
      "nothing of a refused reload applies", status().get("log_level"))
# every reloadable key, by SIGHUP: each shows in status, and the intervals take effect at once
# (timers re-armed; the trainer takes its settings in order from its queue)
new = {"snapshot.interval_s": 1, "metrics.interval_s": 2, "checkpoint.interval_s": 1,
       "checkpoint.interval_examples": 99999999, "evolution.interval_s": 1, "evolution.latency_budget_ratio": 0.6,
       "evolution.metric_tolerance": 0.01, "health.max_lag": 123456, "health.max_checkpoint_age_s": 777,
       "health.trainer_stall_s": 55, "health.no_skill_after": 1234, "control.timeout_s": 3,
       "control.max_clients": 1300}
text = base_cfg + "log.level = info\n" + "".join(f"{k} = {v}\n" for k, v in new.items())
open(cfg, "w").write(text)
# input paused and the trainer's queue drained first: a checkpoint mark waits behind the queued
# examples (8,192 at 20,000 events/s), and a sanitizer build trains them slower than its timer
# fires, so the count of checkpoints would measure the trainer, not the timer
rc, out, err = ctl("pause")
check(rc == 0, "pause before the reload", err)
wait_for(lambda: status().get("queue_depth", -1) == 0, 120, "the trainer drains its queue while paused")
st0 = status()
os.kill(p.pid, signal.SIGHUP)
wait_for(lambda: status()["settings"] == {k: float(v) if isinstance(v, float) else v for k, v in new.items()}, 10,
         "SIGHUP applies every reloadable key")
check(status().get("log_level") == "info", "SIGHUP applies log.level")
wait_for(lambda: status()["checkpoints"] >= st0["checkpoints"] + 3, 30, "checkpoint.interval_s 1000 -> 1 re-arms its timer")
wait_for(lambda: status()["last_snapshot"]["published"] > st0["last_snapshot"]["published"], 15,
         "snapshot.interval_s 1000 -> 1 reaches the trainer")
wait_for(lambda: status()["evolution_steps"] >= st0["evolution_steps"] + 2, 30,
         "evolution.interval_s 1000 -> 1 reaches the trainer")
# and back, through petractl
open(cfg, "w").write(base_cfg + "log.level = warn\n")
rc, out, err = ctl("reload")
check(rc == 0 and status()["settings"]["checkpoint.interval_s"] == 1000, "petractl reload restores the intervals", (rc, err))
ck1 = status()["checkpoints"]
time.sleep(3)
check(status()["checkpoints"] <= ck1 + 1, "checkpoint timer back to 1000 s", (ck1, status()["checkpoints"]))
rc, out, err = ctl("resume")
check(rc == 0, "resume after the reload checks", err)

# bad command lines: one JSON error each, the connection stays usable
table = [(b"\n", "empty"), (b"frobnicate\n", "unknown command"), (b"status extra\n", "takes no arguments"),
         (b"loglevel\n", "needs one argument"), (b"loglevel a b\n", "needs one argument"),
         (b"\x01status\n", "not printable"), (b"st\xc3\xa4tus\n", "not printable"), (b"HEALTH\n", "unknown command")]
for line, want in table:
    r = raw(line + b"health\n")
    check(len(r) == 2 and r[0]["ok"] is False and want in r[0]["error"] and r[1]["ok"] is True,
          f"bad line {line!r} -> error '{want}' then the next command works", r)
r = raw(b"x" * 300 + b"\n")
check(len(r) == 1 and r[0]["ok"] is False and "too long" in r[0]["error"], "over-long line refused", r)
r = raw(b"health\r\nstatus\n")
check(len(r) == 2 and r[0]["command"] == "health" and r[1]["command"] == "status", "pipelined commands, CRLF ok", r)

# peer credentials: files first (0660 root:nogroup), then SO_PEERCRED with the file opened up
rc, out, err = ctl("health", user=(65534, 12345))
check(rc == 3, "other uid without file access: unreachable (exit 3)", (rc, err))
os.chmod(sock, 0o666)
rc, out, err = ctl("health", user=(65534, 12345))
check(rc == 1 and "permission denied" in err, "other uid and group refused by peer credentials", (rc, out, err))
rc, out, err = ctl("health", user=(65534, 65534))
check(rc == 0, "a member of control.group is allowed", (rc, out, err))
os.chmod(sock, 0o660)
rc, out, err = ctl("health", user=(65534, 65534))
check(rc == 0, "control.group member allowed through the file mode too", (rc, out, err))
check("control_refused" in open(os.path.join(tmp, "petrad.log")).read(), "refusals are logged")

# 1,000 concurrent clients + a slowloris client, while training continues
steps0 = status()["train_steps"]
slow = socket.socket(socket.AF_UNIX); slow.connect(sock); slow.setblocking(False)
slow_t0 = time.time()
sel = selectors.DefaultSelector()
clients = []
for i in range(1000):
    c = socket.socket(socket.AF_UNIX); c.connect(sock); c.setblocking(False)
    clients.append(c)
for c in clients:
    c.send(b"health\n")
    sel.register(c, selectors.EVENT_READ, bytearray())
ok = 0; t_end = time.time() + 60; slow_closed = None; slow_buf = b""; sent_slow = 0
while (ok < 1000 or slow_closed is None) and time.time() < t_end:
    for key, _ in sel.select(timeout=0.1):
        data = key.fileobj.recv(65536)
        key.data.extend(data)
        if b"\n" in key.data or not data:
            if b'"ok":true' in key.data:
                ok += 1
            sel.unregister(key.fileobj); key.fileobj.close()
    if slow_closed is None:
        try:  # read first: the timeout reply arrives just before the close
            chunk = slow.recv(4096)
            slow_buf += chunk
            if not chunk:
                slow_closed = time.time() - slow_t0
        except BlockingIOError:
            pass
        except ConnectionResetError:
            slow_closed = time.time() - slow_t0
        if slow_closed is None and time.time() - slow_t0 > 0.3 * sent_slow:
            try:
                slow.send(b"s"); sent_slow += 1
            except (BrokenPipeError, ConnectionResetError):
                slow_closed = time.time() - slow_t0
                try:
                    slow_buf += slow.recv(4096)
                except OSError:
                    pass
check(ok == 1000, "1000 concurrent clients all answered", ok)
check(slow_closed is not None and slow_closed < 10 and b"timeout" in slow_buf,
      "slowloris client dropped after control.timeout_s with an error", (slow_closed, slow_buf))
wait_for(lambda: status()["train_steps"] > steps0, 30, "training continued during the client storm")

# more than control.max_clients at once: the excess get an error, the daemon stays fine
held = []
for i in range(1300):
    c = socket.socket(socket.AF_UNIX); c.connect(sock); held.append(c)
time.sleep(0.5)
refused = 0
for c in held:
    c.setblocking(False)
    try:
        if b"too many" in c.recv(4096):
            refused += 1
    except BlockingIOError:
        pass
for c in held:
    c.close()
check(refused >= 100, "clients beyond control.max_clients (1200) refused", refused)
rc, out, err = ctl("health")
check(rc == 0, "healthy after the client limit was hit", out)

# clients that hang up before their reply (a probe giving up): petrad ignores SIGPIPE, it does
# not die of writing to them
for _ in range(200):
    c = socket.socket(socket.AF_UNIX); c.connect(sock)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00") # RST on close
    c.sendall(b"status\npopulation\nmetrics\n")
    c.close()
time.sleep(0.5)
check(p.poll() is None, "alive after 200 clients hung up before their replies", p.poll())
rc, out, err = ctl("health")
check(rc == 0, "healthy after the hang-ups", out)

# orderly stop
p.send_signal(signal.SIGTERM)
out, _ = p.communicate(timeout=120)
check(p.returncode == 0, "exit 0 on SIGTERM", p.returncode)
check(not os.path.exists(sock), "socket removed on exit")
last = out.strip().splitlines()[-1] if out.strip() else "{}"
check(json.loads(last).get("train_steps", 0) > 0, "final summary line", last)
rc, out, err = ctl("health")
check(rc == 3, "health of a stopped daemon: unreachable (exit 3)", (rc, err))
print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
PY
