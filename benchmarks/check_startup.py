"""Start-up cost of `ms-migrate check` on one small file, against `python -c "import libcst, click"`.

Issue 6 asks that checking one small file take at most 1.5 times as long as importing libcst and
click (the two libraries the command cannot do without). Both commands run alternately, N times
each, in fresh interpreters; the medians and their ratio are printed.

    python benchmarks/check_startup.py [-n 11] [--max-ratio 1.5]

Exit status 1 when the ratio is above --max-ratio. The command is run the way the `ms-migrate`
console script runs it (`from migrator.cli import main`), with this checkout first on sys.path.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL_FILE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = torch.some_api_nobody_has(x)
        return torch.sigmoid(self.fc2(x))
'''

CONSOLE_SCRIPT = "import sys; from migrator.cli import main; sys.exit(main())"


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if r.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return elapsed


def measure(n: int, path: str, pycache: str) -> tuple[float, float]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # An installed ms-migrate has compiled bytecode (pip compiles on install), as libcst and click
    # have; a checkout run with PYTHONDONTWRITEBYTECODE would recompile every module on every run.
    # Both commands keep their bytecode in one temporary folder, written by the warm-up runs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    baseline = [sys.executable, "-c", "import libcst, click"]
    check = [sys.executable, "-c", CONSOLE_SCRIPT, "check", path]
    timed(baseline, env), timed(check, env)  # warm the page cache, .pyc files and the rules cache
    base, chk = [], []
    for _ in range(n):
        base.append(timed(baseline, env))
        chk.append(timed(check, env))
    return statistics.median(base), statistics.median(chk)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=11, help="runs of each command (default 11)")
    ap.add_argument("--max-ratio", type=float, default=1.5)
    ap.add_argument("--file", help="check this file instead of the built-in small PyTorch file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = os.path.join(tmp, "small_model.py")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(SMALL_FILE)
        base, chk = measure(args.n, path, os.path.join(tmp, "pycache"))
    ratio = chk / base
    print(f"python -c 'import libcst, click': median {base * 1000:.1f} ms over {args.n} runs")
    print(f"ms-migrate check <small file>:     median {chk * 1000:.1f} ms over {args.n} runs")
    print(f"ratio {ratio:.2f} (limit {args.max_ratio})")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
