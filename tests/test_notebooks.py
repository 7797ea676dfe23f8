"""Jupyter notebooks converted as notebooks, and checked (issue 19): structure, layout and outputs
kept, IPython syntax kept verbatim, findings by cell, --diff per cell, the report's cell field,
the parameter map, bad notebooks, `ms-migrate check` (text, JSON, SARIF), the pre-commit hook's
file types, and one converted notebook executed with torch unimportable against the torch original."""
import json
import os
import re
import subprocess
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the `test` extra")
from nbformat import v4  # noqa: E402

from migrator import notebook as nbm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = [sys.executable, "-m", "migrator"]
IN_CI = bool(os.environ.get("MS_MIGRATE_CI") or os.environ.get("CI"))


def make_notebook(*cells, **metadata) -> nbformat.NotebookNode:
    nb = v4.new_notebook()
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                        "language_info": {"name": "python"}, **metadata})
    nb.cells = list(cells)
    for i, c in enumerate(nb.cells):
        c.id = f"cell-{i}"  # fixed ids: the tests name them
    return nb


def course_notebook() -> nbformat.NotebookNode:
    """A small course notebook: prose, an install line, magics, a model in one cell used by the next."""
    return make_notebook(
        v4.new_markdown_cell("# Linear model ü\n\nA *short* lesson. `torch.nn.Linear` is explained here."),
        v4.new_code_cell("!pip install torch torchvision\n%matplotlib inline\nimport torch\nimport torch.nn as nn"),
        v4.new_code_cell("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                         "        self.fc = nn.Linear(3, 2)\n\n    def forward(self, x):\n"
                         "        return torch.relu(self.fc(x))",
                         metadata={"tags": ["model"], "collapsed": False}),
        v4.new_raw_cell("raw text, kept  as is\n"),
        v4.new_code_cell("%%time\nm = Net()\nx = torch.ones(4, 3)\nfiles = !ls\nm?\nprint(m(x).shape)",
                         execution_count=4, outputs=[v4.new_output("stream", text="torch.Size([4, 2])\n")]),
        v4.new_code_cell("y = torch.foo_unknown(x)"),
        v4.new_code_cell("%%bash\necho torch is mentioned here"),
        v4.new_code_cell("print('plain python')", execution_count=7,
                         outputs=[v4.new_output("stream", text="plain python\n")]),
    )


def write(path, nb, **json_kwargs) -> bytes:
    if json_kwargs:
        data = (json.dumps(nb, **json_kwargs) + "\n").encode()
    else:
        data = nbformat.writes(nb).encode() + b"\n"
    path.write_bytes(data)
    return data


def test_cells_structure_outputs_and_ipython_kept():
    nb = course_notebook()
    data = nbformat.writes(nb).encode() + b"\n"
    res = nbm.convert_notebook(data, "course.ipynb")
    assert res.status == "converted", res.error
    out = json.loads(res.output)
    nbformat.validate(nbformat.reads(res.output.decode(), as_version=4))
    before = json.loads(data)
    assert out["metadata"] == before["metadata"]  # the kernel too
    assert [c["id"] for c in out["cells"]] == [c["id"] for c in before["cells"]]
    assert [c["metadata"] for c in out["cells"]] == [c["metadata"] for c in before["cells"]]
    assert out["cells"][0] == before["cells"][0] and out["cells"][3] == before["cells"][3]  # markdown, raw
    src = ["".join(c["source"]) for c in out["cells"]]
    # the install line names mindspore; magics, shell lines and help lines come back verbatim
    assert src[1].splitlines()[:2] == ["!pip install mindspore", "%matplotlib inline"]
    assert "import mindspore" in src[1] and "import torch.nn" not in src[1]
    # a later cell sees the earlier cell's `nn` (the cells are one program)
    assert "class Net(nn.Cell):" in src[2] and "nn.Dense(3, 2)" in src[2] and "def construct" in src[2]
    assert src[4].splitlines()[0] == "%%time" and "files = !ls\nm?\n" in src[4]
    assert "torch.ones" not in src[4]
    # a marker is a comment in its cell
    assert src[5] == "# ms-migrate: untranslated torch.foo_unknown: no MindSpore mapping known\n" \
                     "y = torch.foo_unknown(x)"
    assert src[6] == "%%bash\necho torch is mentioned here"  # not Python: left, with a note
    # changed cells lose their outputs; unchanged ones keep them
    assert out["cells"][4]["outputs"] == [] and out["cells"][4]["execution_count"] is None
    assert out["cells"][7] == before["cells"][7]
    where = sorted((f.cell, f.line, f.col, f.kind, f.api) for f in res.findings)
    assert where == [(2, 1, 1, "warning", "pip install"), (6, 1, 5, "untranslated", "torch.foo_unknown"),
                     (7, 1, 1, "warning", "%%bash")]


@pytest.mark.parametrize("kwargs", [dict(indent=1, ensure_ascii=False), dict(indent=2, ensure_ascii=True),
                                    dict(indent=4, ensure_ascii=False, separators=(",", ":"))])
def test_layout_kept_so_the_file_diff_is_only_code(tmp_path, kwargs):
    nb = course_notebook()
    raw = json.loads(nbformat.writes(nb))
    raw = {k: raw[k] for k in reversed(list(raw))}  # an unusual key order, kept
    data = write(tmp_path / "n.ipynb", raw, **kwargs)
    layout = nbm.load(data).layout
    assert layout.exact and nbm.load(data).dump() == data  # an unchanged notebook: byte for byte
    res = nbm.convert_notebook(data, "n.ipynb")
    assert res.status == "converted"
    out = json.loads(res.output)
    assert list(out) == list(raw)
    # put the changed cells' code and outputs back: the file is then the input, byte for byte
    for a, b in zip(raw["cells"], out["cells"]):
        for key in ("source", "outputs", "execution_count"):
            if key in a:
                b[key] = a[key]
    assert nbm.Layout(**{k: getattr(layout, k) for k in ("indent", "separators", "ensure_ascii", "trailer")}) \
        .dumps(out).encode() == data


def test_unchanged_notebooks_are_returned_byte_for_byte():
    no_torch = nbformat.writes(make_notebook(v4.new_code_cell("%time x = 1\nprint(x)"))).encode()
    assert nbm.convert_notebook(no_torch, "a.ipynb").output == no_torch
    nothing_to_do = nbformat.writes(make_notebook(v4.new_code_cell("import torch"),
                                                  v4.new_code_cell("print(1)"))).encode()
    res = nbm.convert_notebook(nothing_to_do, "b.ipynb")
    assert res.output is not None and res.status in ("converted", "unchanged")


def test_install_lines():
    t = nbm.translate_install
    assert t("!pip install torch torchvision\n") == ("!pip install mindspore\n", ("translated", "pip install",
                                                                                 "torch, torchvision -> mindspore"))
    assert t("%pip install -q numpy torch==2.1.0 matplotlib")[0] == "%pip install -q numpy mindspore matplotlib"
    line = "!pip install torch --index-url https://download.pytorch.org/whl/cpu"
    new, note = t(line)
    assert new == line and note[0] == "warning" and "PyTorch's package index" in note[2]
    assert t("!pip install numpy") == ("!pip install numpy", None)
    assert t("!pip install torchinfo  # needs torch") == ("!pip install torchinfo  # needs torch", None)
    assert t("!pip install torch  # the model\n")[0] == "!pip install mindspore  # the model\n"
    line = "!conda install pytorch torchvision -c pytorch"
    assert t(line)[0] == line and t(line)[1][0] == "warning"
    assert t("!python train.py") == ("!python train.py", None)


def test_install_line_left_with_a_note_once():
    nb = make_notebook(v4.new_code_cell("!conda install pytorch -c pytorch\nimport torch\nx = torch.ones(1)"))
    once = nbm.convert_notebook(nbformat.writes(nb).encode(), "c.ipynb").output
    src = "".join(json.loads(once)["cells"][0]["source"])
    assert src.startswith("# ms-migrate: note install: installs PyTorch packages in a way ms-migrate does not "
                          "translate: left as is; install mindspore instead\n!conda install pytorch -c pytorch\n")
    again = nbm.convert_notebook(once, "c.ipynb")
    assert again.output == once  # converting converted code changes nothing


def test_indented_cell_as_ipython_runs_it():
    # IPython runs a cell without its first line's indentation; the cell keeps its indentation
    nb = make_notebook(v4.new_code_cell("import torch"),
                       v4.new_code_cell(" # a comment\n x = torch.ones(2)\n y = torch.foo_unknown(x)\n x"))
    res = nbm.convert_notebook(nbformat.writes(nb).encode(), "i.ipynb")
    assert res.status == "converted", res.error
    src = "".join(json.loads(res.output)["cells"][1]["source"])
    assert src == (" # a comment\n x = ops.ones((2,), dtype=mindspore.float32)\n"
                   " # ms-migrate: untranslated torch.foo_unknown: no MindSpore mapping known\n"
                   " y = torch.foo_unknown(x)\n x")
    assert [(f.cell, f.line, f.col) for f in res.findings if f.kind == "untranslated"] == [(2, 3, 6)]


def test_training_step_split_over_cells_keeps_the_cells():
    # the converter moves a loss computation into a forward function; never out of its cell
    nb = make_notebook(
        v4.new_code_cell("import torch\nimport torch.nn as nn\nmodel = nn.Linear(3, 1)\n"
                         "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nx = torch.ones(4, 3)"),
        v4.new_code_cell("out = model(x)\nloss = out.pow(2).mean()"),
        v4.new_code_cell("opt.zero_grad()\nloss.backward()\nopt.step()"),
        v4.new_code_cell("opt.zero_grad()\nloss = model(x).pow(2).mean()\nloss.backward()\nopt.step()"))
    res = nbm.convert_notebook(nbformat.writes(nb).encode(), "t.ipynb")
    assert res.status == "converted", res.error
    src = ["".join(c["source"]) for c in json.loads(res.output)["cells"]]
    assert src[1] == "out = model(x)\nloss = out.pow(2).mean()"
    assert ("# ms-migrate: untranslated torch.Tensor.backward: the loss is computed in an earlier notebook cell"
            in src[2]) and "loss.backward()" in src[2]
    assert "def forward_fn" in src[3] and "mindspore.value_and_grad(forward_fn" in src[3]


def test_writefile_cell_is_converted_as_a_file():
    nb = make_notebook(v4.new_code_cell("%%writefile model.py\nimport torch\nx = torch.ones(2)\n"))
    res = nbm.convert_notebook(nbformat.writes(nb).encode(), "w.ipynb")
    src = "".join(json.loads(res.output)["cells"][0]["source"])
    assert src.startswith("%%writefile model.py\nimport mindspore\n") and "torch" not in src


def _run_cli(*args, cwd=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)


def test_cli_file_folder_diff_report_and_param_map(tmp_path):
    src = tmp_path / "proj"
    src.mkdir()
    nb_bytes = write(src / "lesson.ipynb", course_notebook())
    (src / "util.py").write_text("import torch\n\ndef ones():\n    return torch.ones(2)\n")
    (src / "data.txt").write_text("kept\n")
    out = tmp_path / "out"
    r = _run_cli(str(src), "-o", str(out), "--report", str(tmp_path / "r.json"))
    assert r.returncode == 1, r.stderr  # one untranslated use
    shown = os.path.join(str(src), "lesson.ipynb")
    assert f"{shown}:cell 6:1:5: untranslated torch.foo_unknown: no MindSpore mapping known" in r.stderr
    assert f"{shown}:cell 2:1:1: note pip install: torch, torchvision -> mindspore" in r.stderr
    converted = json.loads((out / "lesson.ipynb").read_text())
    assert "nn.Dense(3, 2)" in "".join(converted["cells"][2]["source"])
    assert "mindspore" in (out / "util.py").read_text() and (out / "data.txt").read_text() == "kept\n"
    report = json.loads((tmp_path / "r.json").read_text())
    [entry] = [f for f in report["files"] if f["path"].endswith("lesson.ipynb")]
    assert entry["status"] == "converted"
    assert {"cell": 6, "line": 1, "col": 5, "kind": "untranslated", "api": "torch.foo_unknown",
            "reason": "no MindSpore mapping known"} in entry["findings"]
    pmap = json.loads((out / "ms_migrate_param_map.json").read_text())
    assert "Net" in json.dumps(pmap)  # the model defined in the notebook
    assert (src / "lesson.ipynb").read_bytes() == nb_bytes  # inputs untouched

    r = _run_cli(str(src / "lesson.ipynb"), "--diff")
    assert r.returncode == 1
    heads = re.findall(r"^--- a/.*lesson\.ipynb:(cell \d+)$", r.stdout, re.M)
    assert heads == ["cell 2", "cell 3", "cell 5", "cell 6"], r.stdout
    assert "+class Net(nn.Cell):" in r.stdout and '"source"' not in r.stdout
    assert not (src / "lesson_mindspore.ipynb").exists()

    r = _run_cli(str(src / "lesson.ipynb"))  # beside the input, as for .py files
    assert json.loads((src / "lesson_mindspore.ipynb").read_text())["cells"][2] == converted["cells"][2]

    r = _run_cli("--inplace", str(src / "lesson.ipynb"))
    assert r.returncode == 1 and json.loads((src / "lesson.ipynb").read_text()) == converted
    r = _run_cli("--inplace", str(src / "lesson.ipynb"))  # converting converted code changes nothing
    assert json.loads((src / "lesson.ipynb").read_text()) == converted


def test_bad_notebooks_are_named_and_the_run_goes_on(tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    (src / "broken.ipynb").write_text('{"cells": [')
    old = json.loads(nbformat.writes(make_notebook(v4.new_code_cell("import torch"))))
    old["nbformat"] = 3
    (src / "old.ipynb").write_text(json.dumps(old))
    write(src / "syntax.ipynb", make_notebook(v4.new_code_cell("import torch"),
                                              v4.new_code_cell("%matplotlib inline\nx = (1,")))
    write(src / "good.ipynb", make_notebook(v4.new_code_cell("import torch\nx = torch.ones(2)")))
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    r = _run_cli(str(src), "--inplace")
    assert r.returncode == 2
    err = r.stderr
    assert re.search(r"broken\.ipynb: error: not a notebook: invalid JSON \(line 1, column 12", err), err
    assert "old.ipynb: error: notebook format 3 is not supported" in err
    assert re.search(r"syntax\.ipynb: error: cell 2, line 2, column \d+: not valid Python, even with its "
                     r"IPython lines set aside", err), err
    for name in ("broken.ipynb", "old.ipynb", "syntax.ipynb"):
        assert (src / name).read_bytes() == before[name]
    assert "mindspore" in (src / "good.ipynb").read_text()
    assert sorted(p.name for p in src.iterdir()) == sorted(before)  # no temporary file left


# ---- check -----------------------------------------------------------------------------------

def test_check_reads_notebooks_text_json_sarif(tmp_path):
    write(tmp_path / "lesson.ipynb", course_notebook())
    (tmp_path / "ok.py").write_text("x = 1\n")
    r = _run_cli("check", str(tmp_path))
    assert r.returncode == 1
    nb = os.path.join(str(tmp_path), "lesson.ipynb")
    assert r.stdout == f"{nb}:cell 6:1:5: MSM001 torch.foo_unknown: no MindSpore translation known to ms-migrate\n"
    assert "2 files checked" in r.stderr or "of 2 files" in r.stderr
    doc = json.loads(_run_cli("check", "--format", "json", nb).stdout)
    assert [(f["cell"], f["line"], f["col"], f["code"]) for f in doc["findings"]] == [(6, 1, 5, "MSM001")]
    sarif = json.loads(_run_cli("check", "--format", "sarif", nb).stdout)
    [result] = sarif["runs"][0]["results"]
    assert result["message"]["text"].startswith("cell 6, line 1, column 5: torch.foo_unknown")
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("lesson.ipynb") and "region" not in loc
    # a converted notebook: markers and torch left, by cell
    out = tmp_path / "converted.ipynb"
    _run_cli(nb, "-o", str(out))
    r = _run_cli("check", str(out))
    assert f"{out}:cell 6:1:1: MSM101 untranslated marker left: torch.foo_unknown" in r.stdout
    # bad notebooks are named, with the reason
    (tmp_path / "broken.ipynb").write_text("{")
    r = _run_cli("check", str(tmp_path / "broken.ipynb"))
    assert r.returncode == 2 and "broken.ipynb:1:1: E001 not a notebook: invalid JSON" in r.stdout


def test_pre_commit_hook_runs_on_notebooks():
    text = open(os.path.join(ROOT, ".pre-commit-hooks.yaml")).read()
    assert re.search(r"^  types_or: \[python, jupyter\]", text, re.M)
    assert not re.search(r"^  types:", text, re.M)


# ---- a converted notebook runs, torch unimportable -------------------------------------------

RUN_NB = [
    "%time\nimport torch\nimport torch.nn as nn\n!echo shell lines run",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 3)\n"
    "        nn.init.constant_(self.fc.weight, 0.25)\n        nn.init.zeros_(self.fc.bias)\n\n"
    "    def forward(self, x):\n        return torch.relu(self.fc(x) - 2.0)",
    "x = torch.arange(12, dtype=torch.float32).reshape(3, 4)\nmodel = Net()\ny = model(x)",
    "print('RESULT', round(float((y * y).sum()), 4))",
]


def _kernel_or_skip():
    pytest.importorskip("nbclient", reason="nbclient is in the `test` extra")
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        KernelSpecManager().get_kernel_spec("python3")
    except (ImportError, NoSuchKernel) as exc:
        msg = f"no python3 Jupyter kernel ({exc}); install one: python -m ipykernel install --sys-prefix"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


def _execute(path, cwd, pythonpath=None):
    """Run a notebook top to bottom in a fresh kernel; its printed text."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    old = os.environ.get("PYTHONPATH")
    if pythonpath:
        os.environ["PYTHONPATH"] = os.pathsep.join([pythonpath] + ([old] if old else []))
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_converted_notebook_runs_without_torch(tmp_path):
    _kernel_or_skip()
    src = tmp_path / "src"
    src.mkdir()
    write(src / "lesson.ipynb", make_notebook(*[v4.new_code_cell(c) for c in RUN_NB]))
    out = tmp_path / "out"
    r = _run_cli(str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    blocker = tmp_path / "no_torch"  # torch unimportable for the converted notebook's kernel
    blocker.mkdir()
    for name in ("torch", "torchvision", "torchaudio"):
        (blocker / f"{name}.py").write_text("raise ImportError('torch is not installed here')\n")
    got = _execute(out / "lesson.ipynb", out, pythonpath=str(blocker))
    want = _execute(src / "lesson.ipynb", src)
    number = re.compile(r"RESULT (\S+)")
    assert number.search(want) and number.search(got), (want, got)
    assert abs(float(number.search(got).group(1)) - float(number.search(want).group(1))) <= 1e-4
    assert "shell lines run" in got


def test_check_suppressions_and_writefile_cells_in_notebooks():
    nb = make_notebook(v4.new_markdown_cell("# torch"),
                       v4.new_code_cell("import torch\n%time 1"),
                       v4.new_code_cell("a = torch.foo1(1)  # ms-migrate: ignore[MSM001]\nb = torch.foo2(2)"),
                       v4.new_code_cell("%%writefile t.py\nimport torch\ntorch.foo3(1)"),
                       v4.new_code_cell("%%bash\necho torch.foo4"))
    got = nbm.check_notebook(nbformat.writes(nb).encode(), "n.ipynb")
    assert [f.text() for f in got] == [
        "n.ipynb:cell 3:2:5: MSM001 torch.foo2: no MindSpore translation known to ms-migrate",
        "n.ipynb:cell 4:3:1: MSM001 torch.foo3: no MindSpore translation known to ms-migrate"]
    bad = make_notebook(v4.new_code_cell("import torch"), v4.new_code_cell("!ls\nx = = 1"))
    [f] = nbm.check_notebook(nbformat.writes(bad).encode(), "b.ipynb")
    assert (f.cell, f.line, f.code) == (2, 2, "E002") and "IPython lines set aside" in f.message
