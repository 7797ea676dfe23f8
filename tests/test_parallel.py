"""Folder conversion in parallel gives byte-identical outputs and reports to the serial path."""
import json
import os
import shutil
import subprocess
import sys

from filetree import snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_parallel_and_serial_outputs_and_reports_are_identical(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "samples"), src / "samples")
    shutil.copytree(os.path.join(ROOT, "tests"), src / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "broken.py").write_text("import torch\ndef f(:\n")
    reports = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(out), "-j", jobs,
                            "--report", str(tmp_path / f"r{jobs}.json")], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2, r.stderr  # broken.py
        rep = json.loads((tmp_path / f"r{jobs}.json").read_text())
        for f in rep["files"]:
            f["output"] = os.path.relpath(f["output"], out) if f.get("output") else None
        rep["summary"]["helper_modules_written"] = [os.path.relpath(p, out) for p in rep["summary"]["helper_modules_written"]]
        reports[jobs] = (rep, r.stderr.replace(str(out), "OUT"))
    assert snapshot(tmp_path / "out1") == snapshot(tmp_path / "out2")
    assert reports["1"][0] == reports["2"][0]
    assert len(reports["1"][0]["files"]) > 10
