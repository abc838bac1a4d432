#!/usr/bin/python3
"""Peer models on the real data sets, on petra's own train/test split, for comparison.

Reads the CSVs that tests/data/prepare.py writes (uci-*.csv, cdnow-*.csv) and trains the usual
peers on them:

  uci    logreg, xgboost   on the client's wide row (the 23 raw columns of the original file)
         torch_gru         over the 6 monthly statements
  cdnow  logreg_rfm, xgboost_rfm  on RFM features of the calibration purchases
         torch_gru                over the last 16 calibration purchases
  both   base_rate         a constant prediction (AUC 0.5) and the test positive share

The split is petra's: an entity is in the test part iff FNV-1a 64 of its id string (as written
in the labels CSV) modulo 5 is 0. Nothing is tuned on the test part; every configuration below
is fixed in advance. Prints one JSON object per line (set, peer, auc, train, test, seconds);
seconds is a peer's fit and predict time, and on the base_rate line the reading of the set.

usage: tests/bench/real_data_peers.py --dir DIR [--sets uci,cdnow] [--seed 1] [--epochs 10]
                                      [--threads 1]
"""
import argparse
import csv
import datetime
import json
import math
import os
import sys
import time
from collections import defaultdict

import numpy as np
import xgboost

try:  # the GRU peer is optional: python3-torch is large (deploy/install-deps.sh --bench)
    import torch
except ImportError:
    torch = None
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FNV_OFFSET = 14695981039346656037
FNV_PRIME = 1099511628211
MASK64 = (1 << 64) - 1

CDNOW_CUTOFF = datetime.date(1997, 9, 30)
CDNOW_SEQ_LEN = 16


def fnv1a64(text):
    h = FNV_OFFSET
    for b in text.encode("utf-8"):
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def is_test(entity_id):
    return fnv1a64(entity_id) % 5 == 0


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_labels(path, id_col, label_col):
    """Labels in file order as (ids, y, test mask): the ids are kept as the exact strings
    petra hashes, so the split cannot drift through a number round trip."""
    rows = read_csv(path)
    ids = [r[id_col] for r in rows]
    y = np.array([int(r[label_col]) for r in rows], dtype=np.int64)
    test = np.array([is_test(i) for i in ids], dtype=bool)
    return ids, y, test


def group_events(rows, id_col):
    # the events files are streams in time order, so each entity's list comes out in time order
    by = defaultdict(list)
    for r in rows:
        by[r[id_col]].append(r)
    return by


def slog1p(x):
    return np.sign(x) * np.log1p(np.abs(x))


def day(text):
    return datetime.date.fromisoformat(text)


def emit(set_name, peer, auc, n_train, n_test, seconds, **extra):
    rec = {"set": set_name, "peer": peer, "auc": None if auc is None else round(float(auc), 4), "train": int(n_train), "test": int(n_test),
           "seconds": round(seconds, 2)}
    rec.update(extra)
    print(json.dumps(rec, separators=(",", ":")), flush=True)


# ---------------------------------------------------------------- tabular peers

def run_logreg(x, y, test):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x[~test], y[~test])
    return roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])


def run_xgboost(x, y, test, seed, threads):
    model = xgboost.XGBClassifier(n_estimators=300, max_depth=4, learning_rate=0.05, subsample=0.8,
                                  colsample_bytree=0.8, random_state=seed, n_jobs=threads, tree_method="hist")
    model.fit(x[~test], y[~test])
    return roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])


# ---------------------------------------------------------------- sequence peer

class SeqGRU(torch.nn.Module):
    """Per event: embeddings of the categorical fields ++ z-scored numerics -> Linear(., 32) +
    ReLU -> GRU(32, 64) -> last hidden state -> Linear(64, 1) logit."""

    def __init__(self, cat_sizes, cat_dims, n_num, hidden=64, dense=32):
        super().__init__()
        self.embs = torch.nn.ModuleList(torch.nn.Embedding(n, d) for n, d in zip(cat_sizes, cat_dims))
        self.dense = torch.nn.Linear(sum(cat_dims) + n_num, dense)
        self.gru = torch.nn.GRU(dense, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, cats, nums, lengths):
        parts = [emb(cats[:, :, i]) for i, emb in enumerate(self.embs)] + [nums]
        x = torch.relu(self.dense(torch.cat(parts, dim=-1)))
        # packing makes the last hidden state that of each sequence's own last event, so the
        # padding of short histories never runs through the GRU
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)
        return self.head(h[-1]).squeeze(-1)


def zscore_train(nums, lengths, train):
    """z-score every numeric column with the mean/std of the train part's real (unpadded) events."""
    valid = np.arange(nums.shape[1])[None, :] < lengths[:, None]
    sel = nums[train][valid[train]]
    mean, std = sel.mean(axis=0), sel.std(axis=0)
    std[std == 0] = 1.0
    out = (nums - mean) / std
    out[~valid] = 0.0
    return out.astype(np.float32)


def run_gru(cats, cat_sizes, cat_dims, nums, lengths, y, test, seed, epochs, batch=64):
    torch.manual_seed(seed)
    nums = zscore_train(nums, lengths, ~test)
    cats_t = torch.from_numpy(cats.astype(np.int64))
    nums_t = torch.from_numpy(nums)
    len_t = torch.from_numpy(lengths.astype(np.int64))
    y_t = torch.from_numpy(y.astype(np.float32))
    tr = torch.from_numpy(np.flatnonzero(~test))
    te = torch.from_numpy(np.flatnonzero(test))

    model = SeqGRU(cat_sizes, cat_dims, nums.shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = tr[torch.randperm(len(tr), generator=gen)]
        for i in range(0, len(order), batch):
            b = order[i:i + batch]
            opt.zero_grad()
            lossf(model(cats_t[b], nums_t[b], len_t[b]), y_t[b]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(cats_t[b], nums_t[b], len_t[b]) for b in te.split(1024)])
    return roc_auc_score(y[test], scores.numpy())


# ---------------------------------------------------------------- UCI credit default

def uci_inputs(directory):
    ids, y, test = read_labels(os.path.join(directory, "uci-labels.csv"), "client", "default")
    events = group_events(read_csv(os.path.join(directory, "uci-events.csv")), "client")
    n = len(ids)
    months = 6
    wide = np.zeros((n, 23), dtype=np.float64)
    cat_cols = ("pay_status", "sex", "education", "marriage")
    raw_cats = np.zeros((n, months, len(cat_cols)), dtype=np.int64)
    nums = np.zeros((n, months, 5), dtype=np.float64)
    for i, cid in enumerate(ids):
        ev = events.get(cid, [])
        if len(ev) != months:
            raise SystemExit(f"real_data_peers.py: client {cid} has {len(ev)} events, expected {months}")
        first = ev[0]
        # the original file's column order: statics, then each monthly block newest (September) first
        newest_first = ev[::-1]
        wide[i, :5] = [float(first[c]) for c in ("limit_bal", "sex", "education", "marriage", "age")]
        wide[i, 5:11] = [float(e["pay_status"]) for e in newest_first]
        wide[i, 11:17] = [float(e["bill"]) for e in newest_first]
        wide[i, 17:23] = [float(e["pay_amt"]) for e in newest_first]
        prev = None
        for t, e in enumerate(ev):
            d = day(e["time"])
            gap = 0 if prev is None else (d - prev).days
            prev = d
            raw_cats[i, t] = [int(e[c]) for c in cat_cols]
            nums[i, t] = [slog1p(float(e["bill"])), math.log1p(gap), slog1p(float(e["pay_amt"])),
                          math.log1p(float(e["limit_bal"])), math.log1p(float(e["age"]))]
    # pay_status has a documented closed range (-2..8 -> 0..10); the other codes go through a train
    # vocabulary with index 0 for a code train never saw, so a test-only code cannot index out of range
    cats = np.zeros_like(raw_cats)
    cats[:, :, 0] = np.clip(raw_cats[:, :, 0] + 2, 0, 10)
    sizes = [11]
    for j in range(1, len(cat_cols)):
        vocab = {v: k + 1 for k, v in enumerate(sorted(set(raw_cats[~test, :, j].ravel().tolist())))}
        cats[:, :, j] = np.vectorize(lambda v: vocab.get(v, 0))(raw_cats[:, :, j])
        sizes.append(len(vocab) + 1)
    lengths = np.full(n, months, dtype=np.int64)
    return y, test, wide, cats, sizes, [4, 2, 2, 2], nums, lengths


# ---------------------------------------------------------------- CDNOW repeat buying

def cdnow_inputs(directory):
    ids, y, test = read_labels(os.path.join(directory, "cdnow-labels.csv"), "customer", "buys_again")
    events = group_events(read_csv(os.path.join(directory, "cdnow-events.csv")), "customer")
    n = len(ids)
    rfm = np.zeros((n, 6), dtype=np.float64)
    nums = np.zeros((n, CDNOW_SEQ_LEN, 4), dtype=np.float64)
    lengths = np.zeros(n, dtype=np.int64)
    for i, cid in enumerate(ids):
        ev = events.get(cid, [])
        if not ev:
            raise SystemExit(f"real_data_peers.py: customer {cid} has no calibration purchases")
        dates = [day(e["time"]) for e in ev]
        dollars = np.array([float(e["dollars"]) for e in ev])
        cds = np.array([float(e["cds"]) for e in ev])
        n_days = len(set(dates))
        # BG/NBD's frequency counts repeat purchase days, not order lines (several lines a day are
        # one purchase occasion)
        rfm[i] = [n_days - 1, (dates[-1] - dates[0]).days, (CDNOW_CUTOFF - dates[0]).days,
                  dollars.sum() / n_days, dollars.sum(), cds.sum()]
        # gaps from the full history, so the first event of a truncated window still carries its gap
        gaps = [0] + [(b - a).days for a, b in zip(dates, dates[1:])]
        keep = slice(max(0, len(ev) - CDNOW_SEQ_LEN), len(ev))
        seq = np.stack([slog1p(dollars[keep]), np.log1p(cds[keep]), np.log1p(np.array(gaps[keep], dtype=float)),
                        np.log1p(np.array([(CDNOW_CUTOFF - d).days for d in dates[keep]], dtype=float))], axis=1)
        lengths[i] = len(seq)
        nums[i, :len(seq)] = seq
    cats = np.zeros((n, CDNOW_SEQ_LEN, 0), dtype=np.int64)
    return y, test, rfm, cats, nums, lengths


# ---------------------------------------------------------------- driver

def share(y):
    return round(float(y.mean()), 4) if len(y) else None


def both_classes(set_name, y, test):
    """A --limit run can leave a part with one class only, where neither fitting nor AUC means
    anything: say so instead of failing."""
    ok = all(len(np.unique(y[m])) == 2 for m in (test, ~test))
    if not ok:
        print(f"real_data_peers.py: {set_name}: train or test part has one class only, peers skipped",
              file=sys.stderr)
    return ok


def timed(fn, *args):
    t0 = time.perf_counter()
    auc = fn(*args)
    return auc, time.perf_counter() - t0


def gru_wanted(a, set_name):
    """The GRU peer runs unless --no-torch or PyTorch is missing; either way it says so."""
    if a.no_torch or torch is None:
        why = "--no-torch" if a.no_torch else "python3-torch is not installed"
        print(f"real_data_peers: {set_name}: torch_gru not run ({why})", file=sys.stderr)
        return False
    return True


def bench_uci(a):
    t0 = time.perf_counter()
    y, test, wide, cats, sizes, dims, nums, lengths = uci_inputs(a.dir)
    ntr, nte = int((~test).sum()), int(test.sum())
    emit("uci", "base_rate", 0.5, ntr, nte, time.perf_counter() - t0,
         positive_rate=share(y[test]), train_positive_rate=share(y[~test]))
    if not both_classes("uci", y, test):
        return
    auc, s = timed(run_logreg, wide, y, test)
    emit("uci", "logreg", auc, ntr, nte, s)
    auc, s = timed(run_xgboost, wide, y, test, a.seed, a.threads)
    emit("uci", "xgboost", auc, ntr, nte, s)
    if gru_wanted(a, "uci"):
        auc, s = timed(run_gru, cats, sizes, dims, nums, lengths, y, test, a.seed, a.epochs)
        emit("uci", "torch_gru", auc, ntr, nte, s)


def bench_cdnow(a):
    t0 = time.perf_counter()
    y, test, rfm, cats, nums, lengths = cdnow_inputs(a.dir)
    ntr, nte = int((~test).sum()), int(test.sum())
    emit("cdnow", "base_rate", 0.5, ntr, nte, time.perf_counter() - t0,
         positive_rate=share(y[test]), train_positive_rate=share(y[~test]))
    if not both_classes("cdnow", y, test):
        return
    # every RFM column is nonnegative; the log tames their long tails for the linear model
    auc, s = timed(run_logreg, np.log1p(rfm), y, test)
    emit("cdnow", "logreg_rfm", auc, ntr, nte, s)
    auc, s = timed(run_xgboost, rfm, y, test, a.seed, a.threads)
    emit("cdnow", "xgboost_rfm", auc, ntr, nte, s)
    if gru_wanted(a, "cdnow"):
        auc, s = timed(run_gru, cats, [], [], nums, lengths, y, test, a.seed, a.epochs)
        emit("cdnow", "torch_gru", auc, ntr, nte, s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="directory with the CSVs from tests/data/prepare.py")
    ap.add_argument("--sets", default="uci,cdnow", help="comma separated subset of uci,cdnow (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="seed of xgboost and torch (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=10, help="GRU training epochs (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="threads for xgboost and torch (default: %(default)s)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch GRU peer")
    a = ap.parse_args()
    sets = [s for s in a.sets.split(",") if s]
    unknown = set(sets) - {"uci", "cdnow"}
    if unknown:
        ap.error(f"unknown set(s): {', '.join(sorted(unknown))}")
    if torch is not None:
        torch.set_num_threads(a.threads)
    for s in sets:
        {"uci": bench_uci, "cdnow": bench_cdnow}[s](a)


if __name__ == "__main__":
    sys.exit(main())
