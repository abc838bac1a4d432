"""Strict checker of the Prometheus text exposition format 0.0.4, as petra writes it.

check(text) returns a list of problems (empty = valid). Rules beyond the bare grammar, all
from the exposition format documentation and Prometheus naming practice:
  - every line is `# HELP name text`, `# TYPE name type` or a sample; no blank lines;
    the text ends with a newline;
  - names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label values
    are quoted with only \\\\, \\" and \\n escapes; values are floats, NaN, +Inf or -Inf;
  - each family has one HELP and one TYPE, given before its samples; samples of a family
    are contiguous; no series (name + labels) appears twice;
  - counters end in _total; histograms have _bucket series with a numeric `le`, ascending
    and cumulative, ending in le="+Inf" whose value equals _count, and one _sum and _count;
  - with prefix set, every family name starts with it.
Run as a program it checks stdin and prints the problems (exit 1 if any)."""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LNAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LVAL = r'"(?:\\[\\"n]|[^"\\\n])*"'
SAMPLE = re.compile(
    rf"^({NAME})(?:\{{((?:{LNAME}={LVAL})(?:,{LNAME}={LVAL})*,?)?\}})? (\S+)(?: (-?[0-9]+))?$")
LABEL = re.compile(rf"({LNAME})=({LVAL})")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def value(s):
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", s):
        raise ValueError(s)
    return float(s)


def check(text, prefix="petra_"):
    probs = []
    if not text.endswith("\n"):
        probs.append("does not end with a newline")
    helps, types, seen, done = {}, {}, set(), set()
    current = None
    hist = {}  # family -> {"buckets": {labels_wo_le: [(le, v)]}, "sum": n, "count": {labels: v}}
    for no, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        where = f"line {no}"
        if line.startswith("#"):
            m = re.fullmatch(rf"# (HELP|TYPE) ({NAME}) (.*)", line)
            if not m:
                probs.append(f"{where}: comment is neither HELP nor TYPE: {line!r}")
                continue
            kind, name, rest = m.groups()
            if prefix and not name.startswith(prefix):
                probs.append(f"{where}: {name} lacks the {prefix} prefix")
            if name in done:
                probs.append(f"{where}: {name} reopened after its samples")
            table = helps if kind == "HELP" else types
            if name in table:
                probs.append(f"{where}: second {kind} for {name}")
            if kind == "TYPE" and rest not in TYPES:
                probs.append(f"{where}: unknown type {rest!r}")
            if kind == "HELP" and re.search(r"\\[^\\n]", rest):
                probs.append(f"{where}: bad escape in HELP")
            if kind == "TYPE" and name in seen_families(seen):
                probs.append(f"{where}: TYPE after samples of {name}")
            table[name] = rest
            if current and current != name:
                done.add(current)
            current = name
            continue
        m = SAMPLE.match(line)
        if not m:
            probs.append(f"{where}: not a sample: {line!r}")
            continue
        name, labels, val, _ts = m.groups()
        try:
            v = value(val)
        except ValueError:
            probs.append(f"{where}: bad value {val!r}")
            continue
        lab = LABEL.findall(labels or "")
        names = [k for k, _ in lab]
        if len(set(names)) != len(names):
            probs.append(f"{where}: repeated label name")
        fam = name
        typ = None
        for suf in ("_bucket", "_sum", "_count", ""):
            base = name[: -len(suf)] if suf and name.endswith(suf) else (name if not suf else None)
            if base and types.get(base) in ("histogram", "summary"):
                fam, typ = base, types[base]
                break
        if typ is None:
            typ = types.get(name)
        if typ is None:
            probs.append(f"{where}: sample {name} without a TYPE")
        if fam not in helps:
            probs.append(f"{where}: sample {name} without a HELP")
        if fam != current:
            probs.append(f"{where}: sample of {fam} outside its family block")
        if fam in done:
            probs.append(f"{where}: samples of {fam} not contiguous")
        key = (name, tuple(sorted(lab)))
        if key in seen:
            probs.append(f"{where}: duplicate series {name}{{{labels or ''}}}")
        seen.add(key)
        if typ == "counter":
            if not name.endswith("_total"):
                probs.append(f"{where}: counter {name} does not end in _total")
            if v < 0 or math.isnan(v):
                probs.append(f"{where}: counter {name} is {v}")
        if typ == "histogram":
            h = hist.setdefault(fam, {"buckets": {}, "sum": 0, "count": {}})
            rest = tuple(sorted((k, x) for k, x in lab if k != "le"))
            if name == fam + "_bucket":
                le = dict(lab).get("le")
                if le is None:
                    probs.append(f"{where}: bucket without le")
                    continue
                try:
                    lev = value(le.strip('"'))
                except ValueError:
                    probs.append(f"{where}: bad le {le}")
                    continue
                h["buckets"].setdefault(rest, []).append((lev, v))
            elif name == fam + "_sum":
                h["sum"] += 1
            elif name == fam + "_count":
                h["count"][rest] = v
            else:
                probs.append(f"{where}: {name} is not a histogram series of {fam}")
    for fam, h in hist.items():
        if not h["buckets"]:
            probs.append(f"{fam}: histogram without buckets")
        for rest, bs in h["buckets"].items():
            les = [b[0] for b in bs]
            if les != sorted(les) or len(set(les)) != len(les):
                probs.append(f"{fam}: le not ascending")
            if not les or les[-1] != math.inf:
                probs.append(f"{fam}: no le=\"+Inf\" bucket")
            vals = [b[1] for b in bs]
            if any(b < a for a, b in zip(vals, vals[1:])):
                probs.append(f"{fam}: buckets not cumulative")
            if rest not in h["count"]:
                probs.append(f"{fam}: no _count")
            elif vals and vals[-1] != h["count"][rest]:
                probs.append(f"{fam}: +Inf bucket {vals[-1]} != _count {h['count'][rest]}")
        if h["sum"] != len(h["buckets"]):
            probs.append(f"{fam}: _sum missing or repeated")
    for name in types:
        if name not in helps:
            probs.append(f"{name}: TYPE without HELP")
    return probs


def seen_families(seen):
    return {n for n, _ in seen}


if __name__ == "__main__":
    p = check(sys.stdin.read())
    for x in p:
        print(x)
    sys.exit(1 if p else 0)
