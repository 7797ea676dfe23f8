#!/usr/bin/env python3
"""Conversion speed on any folder, next to the libcst floor, in one run.

    python benchmarks/bench_convert.py FOLDER [--jobs N] [--repeat 1]

Prints: files, lines, ms-migrate wall time (the CLI, default --jobs = all cores) and lines/s,
peak memory of the ms-migrate process tree (sum of RSS, sampled every 20 ms), and the libcst floor:
parse + a no-op transformer visit + printing back, every file, in this one process. The ratio
is ms-migrate's wall time over the floor's.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time


def python_files(root):
    out = []
    for dp, dns, fns in os.walk(root):
        dns[:] = sorted(d for d in dns if d not in (".git", "__pycache__"))
        out += [os.path.join(dp, f) for f in sorted(fns) if f.endswith(".py")]
    return out


def libcst_floor(files):
    import libcst as cst

    class Noop(cst.CSTTransformer):
        pass

    t = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        try:
            module = cst.parse_module(data)
        except Exception:
            continue
        module.visit(Noop()).bytes
    return time.perf_counter() - t


def run_ms_migrate(src, jobs):
    import psutil

    out = tempfile.mkdtemp(prefix="bench-out-")
    cmd = [sys.executable, "-m", "migrator", src, "-o", os.path.join(out, "o"), "-q"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    peak = 0
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = threading.Event()

    def sample():
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.02)

    th = threading.Thread(target=sample)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t
    done.set()
    th.join()
    shutil.rmtree(out, ignore_errors=True)
    return wall, peak, proc.returncode, err.decode(errors="replace").strip().splitlines()[-1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="alternate runs and report medians")
    a = ap.parse_args()
    files = python_files(a.folder)
    lines = sum(open(f, "rb").read().count(b"\n") for f in files)
    walls, floors, peaks = [], [], []
    for _ in range(a.repeat):
        wall, peak, rc, tail = run_ms_migrate(a.folder, a.jobs)
        walls.append(wall)
        peaks.append(peak)
        floors.append(libcst_floor(files))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    wall, floor, peak = med(walls), med(floors), max(peaks)
    print(f"folder      {a.folder}")
    print(f"files       {len(files)}   lines {lines}")
    print(f"ms-migrate  {wall:.2f} s  ({lines / wall:,.0f} lines/s, jobs={a.jobs or os.cpu_count()}, exit {rc})  peak memory {peak / 2**20:.0f} MB")
    print(f"libcst floor {floor:.2f} s  ({lines / floor:,.0f} lines/s, parse + no-op visit + print, one process)")
    print(f"ratio       {wall / floor:.2f}  (ms-migrate wall / libcst floor; runs: {a.repeat})")
    if tail:
        print(f"summary     {tail[0]}")


if __name__ == "__main__":
    main()
