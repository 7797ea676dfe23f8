"""The checkpoint benchmark script runs (a small size here; the 1 GB figures are recorded in
README.md and come from `python benchmarks/ckpt_bench.py`)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_script_small(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "ckpt_bench.py"), "--size-mb", "16",
                        "--repeat", "1", "--max-ratio", "3", "--dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ratio ms-migrate / bare: time" in r.stdout
