#!/usr/bin/python3
"""R1 against PyTorch 1.13 (Debian python3-torch), same model, same batch, 1 thread.

Builds R1 in PyTorch: Embedding(400, 16) ++ 16 numeric inputs -> Linear(32, 32) + ReLU ->
GRU(32, 64) -> last state -> Linear(64, 1), BCE-with-logits, Adam(lr=1e-3); batch 64,
sequence length 32. Measures training throughput (sequences/s) and batch-1 inference
latency (p50/p99, µs), runs `petra bench train|infer --preset r1` for ours, and prints both
and the ratios: three rounds, each side measured in turn (petra first in odd rounds, PyTorch
first in even ones) for at least S seconds and 300 timed training steps, then the medians of
the rounds and the ratio of the medians (this machine's noise is of the size of the effect).

usage: tests/bench/vs_pytorch.py [PATH_TO_petra] [--seconds S] [--rounds N]
"""
import json
import os
import subprocess
import sys
import time

import torch

SECONDS = 3.0
ROUNDS = 3
MIN_STEPS = 300
PETRA = "build/petra"
args = sys.argv[1:]
while args:
    a = args.pop(0)
    if a == "--seconds":
        SECONDS = float(args.pop(0))
    elif a == "--rounds":
        ROUNDS = int(args.pop(0))
    else:
        PETRA = a

torch.set_num_threads(1)
torch.manual_seed(1)
B, L, V, E, N, D, H = 64, 32, 400, 16, 16, 32, 64


class R1(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.dense = torch.nn.Linear(E + N, D)
        self.gru = torch.nn.GRU(D, H, batch_first=True)
        self.head = torch.nn.Linear(H, 1)

    def forward(self, codes, nums):
        x = torch.cat([self.emb(codes), nums], dim=-1)
        x = torch.relu(self.dense(x))
        _, h = self.gru(x)
        return self.head(h[-1]).squeeze(-1)


def torch_train():
    model = R1()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.BCEWithLogitsLoss()
    batches = [(torch.randint(0, V, (B, L)), torch.randn(B, L, N), torch.randint(0, 2, (B,)).float())
               for _ in range(16)]
    for i in range(5):
        c, n, y = batches[i]
        opt.zero_grad()
        lossf(model(c, n), y).backward()
        opt.step()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS or steps < MIN_STEPS:
        c, n, y = batches[steps % 16]
        opt.zero_grad()
        lossf(model(c, n), y).backward()
        opt.step()
        steps += 1
    return steps * B / (time.perf_counter() - t0)


def torch_infer(reps=2000):
    model = R1().eval()
    xs = [(torch.randint(0, V, (1, L)), torch.randn(1, L, N)) for _ in range(64)]
    lat = []
    with torch.no_grad():
        for i in range(200):
            model(*xs[i % 64])
        for i in range(reps):
            t0 = time.perf_counter()
            model(*xs[i % 64])
            lat.append((time.perf_counter() - t0) * 1e6)
    lat.sort()
    return lat[len(lat) // 2], lat[len(lat) * 99 // 100]


def petra(what):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([PETRA, "bench", what, "--preset", "r1", "--seconds", str(SECONDS)],
                         capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


import statistics

rounds = []
for r in range(ROUNDS):
    sides = ["petra", "torch"] if r % 2 == 0 else ["torch", "petra"]
    got = {}
    for side in sides:
        if side == "torch":
            got["pt_train"] = torch_train()
            got["pt_p50"], got["pt_p99"] = torch_infer()
        else:
            t = petra("train")
            # petra bench train runs for --seconds; at R1's rate that is far more than 300 steps
            assert t["steps"] >= MIN_STEPS, t
            got["pe_train"] = t["examples_per_s"]
            i = petra("infer")
            got["pe_p50"], got["pe_p99"] = i["p50_us"], i["p99_us"]
    rounds.append(got)
    print(f"round {r + 1}: training petra {got['pe_train']:.0f} vs pytorch {got['pt_train']:.0f} seq/s "
          f"({got['pe_train'] / got['pt_train']:.2f}x); batch-1 p50 petra {got['pe_p50']:.1f} vs pytorch "
          f"{got['pt_p50']:.1f} us ({got['pt_p50'] / got['pe_p50']:.1f}x lower)", flush=True)
med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
pe_train, pt_train, pt_p50, pt_p99 = med["pe_train"], med["pt_train"], med["pt_p50"], med["pt_p99"]
print(f"R1 training, batch {B}, 1 thread, medians of {ROUNDS}: petra {pe_train:.0f} seq/s, pytorch {pt_train:.0f} seq/s, "
      f"ratio {pe_train / pt_train:.2f}x")
print(f"R1 inference, batch 1, 1 thread, medians of {ROUNDS}: petra p50 {med['pe_p50']:.1f} us p99 {med['pe_p99']:.1f} us, "
      f"pytorch p50 {pt_p50:.1f} us p99 {pt_p99:.1f} us, p50 ratio {pt_p50 / med['pe_p50']:.1f}x lower")
print(json.dumps({"bench": "vs_pytorch", "preset": "r1", "rounds": ROUNDS, "petra_train_per_s": round(pe_train),
                  "pytorch_train_per_s": round(pt_train), "train_ratio": round(pe_train / pt_train, 2),
                  "petra_p50_us": med["pe_p50"], "petra_p99_us": med["pe_p99"],
                  "pytorch_p50_us": round(pt_p50, 1), "pytorch_p99_us": round(pt_p99, 1),
                  "infer_p50_ratio": round(pt_p50 / med["pe_p50"], 1), "torch": torch.__version__}))
