#!/usr/bin/python3
"""Turn the real data sets in ../shared/data into event streams and label files for petra.

Writes four CSVs into --out (created if missing):

  uci-events.csv    client,time,bill,pay_status,pay_amt,limit_bal,age,sex,education,marriage
                    one event per client-month (April..September 2005), sorted by time then client
  uci-labels.csv    client,time,default            one row per client at 2005-10-01
  cdnow-events.csv  customer,time,dollars,cds      calibration purchases (<= 1997-09-30),
                                                   sorted by time then customer
  cdnow-labels.csv  customer,time,buys_again       one row per customer at 1997-09-30: any
                                                   purchase in 1997-10-01..1998-06-30

Values are the files' own (no scaling). The data files are read in place and never copied:
the outputs are derived streams meant for a scratch directory, not for the repository.

With --split, each file also gets a -train and a -test copy (uci-events-train.csv, ...): an
entity is in the test part when FNV-1a 64 of its id is 0 mod 5, the split petra train and
tests/bench/real_data_peers.py use. With --scaled, uci-events-scaled.csv and
cdnow-events-scaled.csv hold the numeric columns log-scaled by hand (signed log1p), for the
raw-versus-hand-scaled comparison of tests/bench/real_data.sh.

usage: tests/data/prepare.py [--data DIR] --out DIR [--limit N] [--split] [--scaled]
"""
import argparse
import csv
import math
import os
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data"))

# UCI month index k: 1 = September (newest) .. 6 = April (oldest). The repayment-status
# columns skip PAY_1 (the file's own naming), so September's status is PAY_0.
UCI_MONTHS = {6: "2005-04-01", 5: "2005-05-01", 4: "2005-06-01", 3: "2005-07-01", 2: "2005-08-01", 1: "2005-09-01"}
UCI_LABEL_TIME = "2005-10-01"
CDNOW_CAL_END = "19970930"
CDNOW_HOLDOUT_END = "19980630"


def as_int(text, where):
    """The file was written by R, which prints some round numbers as 5e+05: give back the same
    value as a plain integer string, and refuse anything that is not a whole number."""
    if text.lstrip("-").isdigit():
        return str(int(text))
    d = Decimal(text)
    if d != d.to_integral_value():
        raise SystemExit(f"prepare.py: {where}: {text!r} is not an integer")
    return str(int(d))


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def prepare_uci(data, out, limit):
    src = os.path.join(data, "uci-credit-default", "UCI_Credit_Card.csv")
    events, labels = [], []
    with open(src, newline="") as f:
        r = csv.DictReader(f)
        for n, row in enumerate(r):
            if limit and n >= limit:
                break
            where = f"{src} row {n + 2}"
            cid = as_int(row["ID"], where)
            static = [as_int(row[c], where) for c in ("LIMIT_BAL", "AGE", "SEX", "EDUCATION", "MARRIAGE")]
            for k, day in UCI_MONTHS.items():
                pay = row["PAY_0" if k == 1 else f"PAY_{k}"]
                events.append((day, int(cid), [cid, day, as_int(row[f"BILL_AMT{k}"], where), as_int(pay, where),
                                               as_int(row[f"PAY_AMT{k}"], where)] + static))
            labels.append((int(cid), [cid, UCI_LABEL_TIME, as_int(row["default.payment.next.month"], where)]))
    # ISO dates sort as strings; client ids must sort as numbers ("10" after "9")
    events.sort(key=lambda e: (e[0], e[1]))
    labels.sort(key=lambda e: e[0])
    write_csv(os.path.join(out, "uci-events.csv"),
              ["client", "time", "bill", "pay_status", "pay_amt", "limit_bal", "age", "sex", "education", "marriage"],
              [e[2] for e in events])
    write_csv(os.path.join(out, "uci-labels.csv"), ["client", "time", "default"], [l[1] for l in labels])
    pos = sum(l[1][2] == "1" for l in labels)
    print(f"uci-events.csv: {len(events)} rows, {len(labels)} clients", file=sys.stderr)
    print(f"uci-labels.csv: {len(labels)} rows, {len(labels)} clients, positive rate {pos / max(len(labels), 1):.4f}",
          file=sys.stderr)


def iso(yyyymmdd):
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"


def prepare_cdnow(data, out, limit):
    src = os.path.join(data, "cdnow", "CDNOW_master.txt")
    kept = {}          # customer (int) -> buys again in the hold-out period; insertion = file order
    calib = []         # (date, customer, row)
    with open(src) as f:
        header = f.readline().split()
        if header != ["customer_id", "date", "number_of_cds", "dollar_value"]:
            raise SystemExit(f"prepare.py: {src}: unexpected header {header}")
        for line_no, line in enumerate(f, start=2):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4 or len(parts[1]) != 8 or not parts[1].isdigit():
                raise SystemExit(f"prepare.py: {src} line {line_no}: cannot parse {line!r}")
            cust, date, cds, dollars = int(parts[0]), parts[1], parts[2], parts[3]
            if cust not in kept:
                if limit and len(kept) >= limit:
                    continue
                kept[cust] = 0
            if date <= CDNOW_CAL_END:
                calib.append((date, cust, [str(cust), iso(date), dollars, cds]))
            elif date <= CDNOW_HOLDOUT_END:
                kept[cust] = 1
    # stable sort keeps a customer's same-day purchases in file order
    calib.sort(key=lambda e: (e[0], e[1]))
    in_calib = {e[1] for e in calib}
    # a customer without calibration purchases has no history to predict from (none expected:
    # the whole cohort first bought in Q1 1997), so it gets no label
    labels = sorted(c for c in kept if c in in_calib)
    write_csv(os.path.join(out, "cdnow-events.csv"), ["customer", "time", "dollars", "cds"], [e[2] for e in calib])
    write_csv(os.path.join(out, "cdnow-labels.csv"), ["customer", "time", "buys_again"],
              [[str(c), iso(CDNOW_CAL_END), str(kept[c])] for c in labels])
    pos = sum(kept[c] for c in labels)
    print(f"cdnow-events.csv: {len(calib)} rows, {len(in_calib)} customers", file=sys.stderr)
    print(f"cdnow-labels.csv: {len(labels)} rows, {len(labels)} customers, positive rate "
          f"{pos / max(len(labels), 1):.4f} ({len(kept) - len(labels)} customers without calibration purchases)",
          file=sys.stderr)


def fnv1a64(text):
    h = 14695981039346656037
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def split_file(out, name, entity_col):
    """name.csv -> name-train.csv and name-test.csv by the entity hash."""
    with open(os.path.join(out, name + ".csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    i = header.index(entity_col)
    write_csv(os.path.join(out, name + "-train.csv"), header, [r for r in body if fnv1a64(r[i]) % 5 != 0])
    write_csv(os.path.join(out, name + "-test.csv"), header, [r for r in body if fnv1a64(r[i]) % 5 == 0])


def slog(v):
    x = float(v)
    return f"{math.copysign(math.log1p(abs(x)), x):.6f}"


def scaled_copy(out, name, columns):
    """name.csv -> name-scaled.csv with the given columns replaced by their signed log1p."""
    with open(os.path.join(out, name + ".csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    idx = [header.index(c) for c in columns]
    for r in body:
        for i in idx:
            r[i] = slog(r[i])
    write_csv(os.path.join(out, name + "-scaled.csv"), header, body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="the shared data directory (default: %(default)s)")
    ap.add_argument("--out", required=True, help="directory to write the CSVs into (created if missing)")
    ap.add_argument("--limit", type=int, default=0,
                    help="keep only the first N entities of each set in file order, for quick runs (0 = all)")
    ap.add_argument("--split", action="store_true", help="also write -train/-test copies by entity hash")
    ap.add_argument("--scaled", action="store_true", help="also write hand log-scaled copies of the event files")
    a = ap.parse_args()
    if a.limit < 0:
        ap.error("--limit must be >= 0")
    os.makedirs(a.out, exist_ok=True)
    prepare_uci(a.data, a.out, a.limit)
    prepare_cdnow(a.data, a.out, a.limit)
    if a.scaled:
        scaled_copy(a.out, "uci-events", ["bill", "pay_amt", "limit_bal", "age"])
        scaled_copy(a.out, "cdnow-events", ["dollars", "cds"])
    if a.split:
        for name, ent in (("uci-events", "client"), ("uci-labels", "client"), ("cdnow-events", "customer"),
                          ("cdnow-labels", "customer")):
            split_file(a.out, name, ent)


if __name__ == "__main__":
    main()
