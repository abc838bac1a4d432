#!/usr/bin/python3
"""Exactly-once check of the trainer's audit files (trainer.audit_file) across restarts,
takeovers and zombies.

An audit file holds, per run of a trainer, "#restored R T" (the checkpoint generation the run
started from, wall ms), then the event ids it trained, with "#checkpoint G" after the ids of
generation G. The model's lineage is the chain of checkpoints each run started from: a run's
generation G belongs to it only if no later run started from a generation below G (a later
run that restored R abandoned everything after R). Ids after a run's last checkpoint were
never checkpointed.

  audit_lineage.py N AUDIT_FILE...   exit 1 unless every id 1..N is in the lineage exactly once
Prints one JSON line: runs, lines, kept, missing, duplicates (in the lineage) and retrained
(trained by some run but abandoned: work a crash threw away).
"""
import json
import sys


def runs_of(path):
    runs, cur = [], None
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#restored"):
            parts = line.split()
            cur = {"restored": int(parts[1]), "t": int(parts[2]) if len(parts) > 2 else 0,
                   "gens": [], "pending": [], "file": path}
            runs.append(cur)
        elif line.startswith("#checkpoint"):
            if cur is not None:
                cur["gens"].append((int(line.split()[1]), cur["pending"]))
                cur["pending"] = []
        elif cur is not None:
            cur["pending"].append(int(line))
    return runs


def main():
    n = int(sys.argv[1])
    runs = [r for p in sys.argv[2:] for r in runs_of(p)]
    runs.sort(key=lambda r: r["t"])
    count = [0] * (n + 1)
    lines = kept = 0
    for k, r in enumerate(runs):
        later = [x["restored"] for x in runs[k + 1:]]
        cut = min(later) if later else float("inf")
        for g, ids in r["gens"]:
            lines += len(ids)
            if g <= cut:
                kept += len(ids)
                for i in ids:
                    if 1 <= i <= n:
                        count[i] += 1
        lines += len(r["pending"])
    missing = sum(1 for i in range(1, n + 1) if count[i] == 0)
    dup = sum(c - 1 for c in count[1:] if c > 1)
    print(json.dumps({"runs": len(runs), "events": n, "lines": lines, "kept": kept, "missing": missing,
                      "duplicates": dup, "retrained": lines - kept}))
    sys.exit(1 if missing or dup else 0)


main()
