#!/usr/bin/env python3
"""ms-migrate's wall time against PaConvert's on the same folder, measured alternately.

    python benchmarks/compare_paconvert.py FOLDER --paconvert /path/to/venv/bin/paconvert [--pairs 3]

PaConvert (PyTorch -> Paddle) is installed in a separate virtualenv (`pip install paconvert==3.3.1`);
it is only timed, never imported. Prints each pair and the medians; the goal is ms-migrate <= 0.5x.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def timed(cmd, cwd=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    return time.perf_counter() - t, r.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--paconvert", required=True)
    ap.add_argument("--pairs", type=int, default=3)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ours, theirs = [], []
    for i in range(a.pairs):
        out = tempfile.mkdtemp(prefix="cmp-")
        t_ms, rc_ms = timed([sys.executable, "-m", "migrator", a.folder, "-o", os.path.join(out, "ms"), "-q"], cwd=root)
        t_pc, rc_pc = timed([a.paconvert, "--in_dir", a.folder, "--out_dir", os.path.join(out, "pd"),
                             "--log_dir", os.path.join(out, "log")])
        shutil.rmtree(out, ignore_errors=True)
        ours.append(t_ms)
        theirs.append(t_pc)
        print(f"pair {i + 1}: ms-migrate {t_ms:.2f} s (exit {rc_ms})   PaConvert {t_pc:.2f} s (exit {rc_pc})")
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"median: ms-migrate {med(ours):.2f} s, PaConvert {med(theirs):.2f} s, ratio {med(ours) / med(theirs):.2f}")


if __name__ == "__main__":
    main()
