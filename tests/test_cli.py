"""The command line: outputs, exit codes, reports, and the guarantees about the user's files."""
import json
import os
import subprocess
import sys

import pytest
from filetree import snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_FILE = """\
import torch
import torch.nn as nn


class Net(nn.Module):  # a model
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))
"""
UNTRANSLATED_FILE = """\
import torch

def f(x):
    return torch.some_api_nobody_has(x)
"""
NO_TORCH = "import os\n\n# torch-free\nprint(os.getcwd())  \r\n"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "migrator", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT)


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "convert" in r.stdout and "check" in r.stdout


def test_file_default_output_beside_input(tmp_path):
    src = tmp_path / "model.py"
    src.write_text(TORCH_FILE)
    r = run(src)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "model_mindspore.py"
    assert "class Net(nn.Cell):  # a model" in out.read_text()
    assert src.read_text() == TORCH_FILE  # input untouched


def test_folder_mirror_and_exit_codes(tmp_path):
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "model.py").write_text(TORCH_FILE)
    (src / "util.py").write_bytes(NO_TORCH.encode())
    (src / "broken.py").write_text("import torch\ndef f(:\n")
    (src / "data.csv").write_text("a,b\n1,2\n")
    before = snapshot(src)
    out = tmp_path / "out"
    r = run(src, "-o", out, "--report", tmp_path / "r.json")
    assert r.returncode == 2, r.stderr
    assert "broken.py" in r.stderr and "syntax error" in r.stderr
    assert (out / "pkg" / "model.py").read_text().count("nn.Cell") == 1
    assert (out / "util.py").read_bytes() == NO_TORCH.encode()  # byte-identical
    assert (out / "data.csv").read_text() == "a,b\n1,2\n"
    assert snapshot(src) == before
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["summary"]["exit_code"] == 2
    statuses = {os.path.basename(f["path"]): f["status"] for f in rep["files"]}
    assert statuses == {"model.py": "converted", "util.py": "no-torch", "broken.py": "error"}


def test_untranslated_exit_1_with_marker_and_position(tmp_path):
    src = tmp_path / "f.py"
    src.write_text(UNTRANSLATED_FILE)
    r = run(src, "-o", tmp_path / "o.py")
    assert r.returncode == 1
    assert "f.py:4:12: untranslated torch.some_api_nobody_has" in r.stderr
    out = (tmp_path / "o.py").read_text()
    assert "# ms-migrate: untranslated torch.some_api_nobody_has" in out
    compile(out, "o.py", "exec")


def test_idempotent(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(TORCH_FILE + "\n" + UNTRANSLATED_FILE.replace("import torch\n", ""))
    run(src, "-o", tmp_path / "a.py")
    run(tmp_path / "a.py", "-o", tmp_path / "b.py")
    assert (tmp_path / "a.py").read_text() == (tmp_path / "b.py").read_text()


def test_diff_writes_nothing(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(TORCH_FILE)
    r = run(src, "--diff")
    assert r.returncode == 0
    assert "-class Net(nn.Module):" in r.stdout and "+class Net(nn.Cell):" in r.stdout
    assert sorted(os.listdir(tmp_path)) == ["m.py"]


def test_inplace(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(TORCH_FILE)
    assert run(src, "--inplace").returncode == 0
    assert "nn.Cell" in src.read_text()


def test_output_inside_input_refused(tmp_path):
    (tmp_path / "a.py").write_text(TORCH_FILE)
    r = run(tmp_path, "-o", tmp_path / "sub")
    assert r.returncode == 2 and "inside the input folder" in r.stderr
    assert not (tmp_path / "sub").exists()


def test_missing_input_named(tmp_path):
    (tmp_path / "a.py").write_text(TORCH_FILE)
    r = run(tmp_path / "nope.py", tmp_path / "a.py", "-o", tmp_path / "out")
    assert r.returncode == 2 and "nope.py" in r.stderr
    assert (tmp_path / "out" / "a.py").exists()


def test_installed_console_script(tmp_path):
    """`pip install .` gives a working `ms-migrate` (run outside the checkout: installed rules)."""
    import shutil

    exe = shutil.which("ms-migrate", path=os.path.dirname(sys.executable)) or shutil.which("ms-migrate")
    if exe is None:
        if os.environ.get("MS_MIGRATE_CI"):
            pytest.fail("ms-migrate is not installed in the CI environment")
        pytest.skip("ms-migrate is not installed in this environment")
    assert subprocess.run([exe, "--help"], capture_output=True, cwd=tmp_path).returncode == 0
    (tmp_path / "m.py").write_text(TORCH_FILE)
    r = subprocess.run([exe, "m.py"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "nn.Dense(4, 2)" in (tmp_path / "m_mindspore.py").read_text()
