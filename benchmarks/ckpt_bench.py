"""Benchmark: `ms-migrate ckpt` against a bare torch.load + mindspore.save_checkpoint of the same
tensors, in the same run (issue 5: the ratio must stay <= 1.5 for time and for peak memory).

    python benchmarks/ckpt_bench.py                # about 1.1 GB of float32 (the recorded figures)
    python benchmarks/ckpt_bench.py --size-mb 64   # quick

It writes a generated model (a ModuleList of blocks: Linear, BatchNorm1d, Conv1d, so names are
renamed, dropped and transformed), converts it with the CLI to get the parameter map, saves a
random state_dict of the requested size, then runs each side in its own process (interleaved,
--repeat times) and reports wall time and peak resident memory (os.wait4's ru_maxrss) of each.
Both sides import torch and mindspore; the conversion also reads the map and checks every name.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH = 2048  # one Linear(WIDTH, WIDTH) is 16 MiB of float32

MODEL = '''\
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.bn = nn.BatchNorm1d(width)
        self.conv = nn.Conv1d(8, 8, 3)

    def forward(self, x):
        return self.bn(self.fc(x))


class Big(nn.Module):
    def __init__(self, n, width):
        super().__init__()
        self.blocks = nn.ModuleList()
        for _ in range(n):
            self.blocks.append(Block(width))
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)
'''

BASELINE = '''\
import sys, torch, mindspore
sd = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
mindspore.save_checkpoint([{"name": k, "data": mindspore.Tensor(v.numpy())} for k, v in sd.items()], sys.argv[2])
'''


def make_state(path: str, size_mb: int) -> tuple[int, int]:
    import torch

    n = max(1, round(size_mb * 2 ** 20 / (WIDTH * WIDTH * 4)))
    g = torch.Generator().manual_seed(0)
    sd = {}
    for i in range(n):
        p = f"blocks.{i}."
        sd[p + "fc.weight"] = torch.randn(WIDTH, WIDTH, generator=g)
        sd[p + "fc.bias"] = torch.randn(WIDTH, generator=g)
        sd[p + "bn.weight"] = torch.rand(WIDTH, generator=g)
        sd[p + "bn.bias"] = torch.randn(WIDTH, generator=g)
        sd[p + "bn.running_mean"] = torch.randn(WIDTH, generator=g)
        sd[p + "bn.running_var"] = torch.rand(WIDTH, generator=g) + 0.5
        sd[p + "bn.num_batches_tracked"] = torch.tensor(7)
        sd[p + "conv.weight"] = torch.randn(8, 8, 3, generator=g)
        sd[p + "conv.bias"] = torch.randn(8, generator=g)
    sd["head.weight"] = torch.randn(10, WIDTH, generator=g)
    sd["head.bias"] = torch.randn(10, generator=g)
    torch.save(sd, path)
    return n, len(sd)


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one child process."""
    env = dict(os.environ, GLOG_v="3", ONEDNN_MAX_CPU_ISA="AVX2")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1100, help="state_dict size in MiB (default 1100)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side, interleaved (best time, highest memory)")
    ap.add_argument("--dir", help="work folder (default: a temporary folder, removed afterwards)")
    ap.add_argument("--max-ratio", type=float, default=1.5)
    args = ap.parse_args(argv)
    work = args.dir or tempfile.mkdtemp(prefix="ckpt_bench_")
    os.makedirs(work, exist_ok=True)
    try:
        src = os.path.join(work, "big.py")
        with open(src, "w") as fh:
            fh.write(MODEL)
        pmap = os.path.join(work, "map.json")
        r = subprocess.run([sys.executable, "-m", "migrator", src, "-o", os.path.join(work, "big_ms.py"),
                            "--param-map", pmap, "-q"], cwd=ROOT, capture_output=True, text=True)
        if r.returncode not in (0, 1):
            raise SystemExit(r.stderr)
        pth = os.path.join(work, "big.pth")
        t0 = time.perf_counter()
        n_blocks, n_tensors = make_state(pth, args.size_mb)
        size = os.path.getsize(pth)
        print(f"state_dict: {n_tensors} tensors in {n_blocks} blocks, {size / 2**30:.2f} GiB "
              f"(generated and saved in {time.perf_counter() - t0:.1f} s)")
        base_script = os.path.join(work, "baseline.py")
        with open(base_script, "w") as fh:
            fh.write(BASELINE)
        sides = {
            "torch.load + mindspore.save_checkpoint": [sys.executable, base_script, pth, os.path.join(work, "bare.ckpt")],
            "ms-migrate ckpt": [sys.executable, "-m", "migrator", "ckpt", pth, "-o", os.path.join(work, "ours.ckpt"),
                                "--param-map", pmap, "--model", "Big", "-q"],
        }
        results: dict[str, list] = {k: [] for k in sides}
        for _ in range(args.repeat):
            for name, cmd in sides.items():
                results[name].append(measure(cmd))
        best = {k: (min(t for t, _ in v), max(m for _, m in v)) for k, v in results.items()}
        for name, (t, m) in best.items():
            runs = ", ".join(f"{x:.2f}" for x, _ in results[name])
            print(f"{name:40} time {t:7.2f} s (runs: {runs})   peak memory {m:8.0f} MiB")
        (bt, bm), (ot, om) = best["torch.load + mindspore.save_checkpoint"], best["ms-migrate ckpt"]
        print(f"ratio ms-migrate / bare: time {ot / bt:.2f}, peak memory {om / bm:.2f} (limit {args.max_ratio})")
        ours, bare = os.path.getsize(os.path.join(work, "ours.ckpt")), os.path.getsize(os.path.join(work, "bare.ckpt"))
        print(f"checkpoint sizes: ms-migrate {ours / 2**20:.0f} MiB, bare {bare / 2**20:.0f} MiB")
        return 0 if ot / bt <= args.max_ratio and om / bm <= args.max_ratio else 1
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
