"""The generated helper module (issue 15): converted files import the runtime helpers they use
from one module written into the output, and run the ways people run ported code."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import pytest

from migrator import helper_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# a DataLoader built from keyword arguments known at run time needs the MsDataLoader helper
LOADER = textwrap.dedent("""\
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    def make_loader(n=8):
        kw = {"batch_size": 4}
        ds = TensorDataset(torch.arange(n, dtype=torch.float32).reshape(n, 1), torch.zeros(n))
        return DataLoader(ds, **kw)
    """)


def _convert(*args, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "migrator", *map(str, args), "-q"], capture_output=True, text=True,
                       cwd=cwd or ROOT)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r


def _run(args, cwd, env_path=None) -> str:
    env = dict(os.environ, PYTHONPATH=env_path or "")
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _write(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_helpers_define_no_name_twice():
    """All helpers share one module: two of them defining one name would overwrite each other."""
    seen: dict[str, str] = {}
    for h in helper_module.all_helpers():
        for name in helper_module.exports(h):
            assert name not in seen, f"{name} is defined by both {seen[name]} and {h}"
            seen[name] = h


def test_module_with_every_helper_parses_and_lists_them():
    text = helper_module.module_text(helper_module.all_helpers())
    ast.parse(text)
    assert helper_module.helpers_in(text.encode()) == helper_module.closure(helper_module.all_helpers())


def test_project_layout_every_way_it_is_run(tmp_path):
    """A root script, a script in tools/ run from the root and from its own folder, a package
    module imported, `python -c`: one helper module at the root, the same class everywhere."""
    src = tmp_path / "proj"
    _write(src, {
        "pkg/__init__.py": "",
        "pkg/data.py": LOADER,
        "pkg/other.py": "import torch\nfrom torch.utils.data import DataLoader\n\n"
                        "def wrap(ds, **kw):\n    return DataLoader(ds, **kw)\n",
        "train.py": "import torch\nfrom pkg.data import make_loader\n\n"
                    "total = sum(float(x.sum()) for x, y in make_loader())\nprint('total', total)\n",
        "tools/train.py": "import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))\n"
                          "import torch\nfrom torch.utils.data import DataLoader\nfrom pkg.data import make_loader\n\n"
                          "loader = make_loader()\nprint('same class', isinstance(loader, DataLoader))\n",
    })
    out = tmp_path / "out"
    _convert(src, "-o", out)
    assert (out / "ms_helpers.py").exists() and (out / "tools" / "ms_helpers.py").exists()
    assert not (out / "pkg" / "ms_helpers.py").exists() or \
        helper_module.is_generated((out / "pkg" / "ms_helpers.py").read_bytes())
    for f in ("pkg/data.py", "tools/train.py"):
        text = (out / f).read_text()
        assert "from ms_helpers import" in text and "def MsDataLoader" not in text and "class MsDataLoader" not in text
    assert _run(["train.py"], out).strip() == "total 28.0"
    assert _run(["tools/train.py"], out).strip() == "same class True"  # from the project root
    assert _run(["train.py"], out / "tools").strip() == "same class True"  # from its own folder
    assert _run(["-c", "import pkg.data as d; print(type(d.make_loader()).__name__)"], out).strip() == "MsDataLoader"
    # two converted modules share one helper class
    both = _run(["-c", "import pkg.data as d, pkg.other as o, ms_helpers as h; "
                       "print(type(d.make_loader()) is type(o.wrap(d.make_loader().dataset, batch_size=2)) is h.MsDataLoader)"], out)
    assert both.strip() == "True"


def test_package_root_imports_relatively(tmp_path):
    """The output root is a package (a library converted as itself): files import the helpers
    package-relatively, so the package runs wherever it is imported from, under any name."""
    src = tmp_path / "lib"
    _write(src, {"__init__.py": "", "data.py": LOADER, "sub/__init__.py": "",
                 "sub/deep.py": "import torch\nfrom torch.utils.data import DataLoader\n\n"
                                "def loader(ds):\n    kw = {}\n    return DataLoader(ds, **kw)\n"})
    out = tmp_path / "site" / "mylib_ms"
    _convert(src, "-o", out)
    assert "from .ms_helpers import" in (out / "data.py").read_text()
    assert "from ..ms_helpers import" in (out / "sub" / "deep.py").read_text()
    assert not (out / "sub" / "ms_helpers.py").exists()
    got = _run(["-c", "import mylib_ms.data as d, mylib_ms.sub.deep as s; l = d.make_loader(); "
                      "print(len(list(l)), type(s.loader(l.dataset)) is type(l))"], tmp_path / "site")
    assert got.strip() == "2 True"


def test_a_helper_acting_on_import_is_imported_from_the_package_root(tmp_path):
    """A file two levels down that needs only a helper acting on import (a format spec on a tensor)
    imports the module from the package root (`from .. import ms_helpers`), not from its own folder."""
    src = tmp_path / "lib"
    _write(src, {"__init__.py": "", "sub/__init__.py": "from .deep import show\n",
                 "sub/deep.py": "import torch\n\n\ndef show(n):\n    return f'{torch.ones(n).sum():.2f}'\n"})
    out = tmp_path / "site" / "mylib_ms"
    _convert(src, "-o", out)
    assert "from .. import ms_helpers" in (out / "sub" / "deep.py").read_text()
    assert _run(["-c", "import mylib_ms.sub as s; print(s.show(3))"], tmp_path / "site").strip() == "3.00"


def test_imports_after_the_first_torch_use(tmp_path):
    """A script that imports numpy below its first torch use: the helper import comes with the
    imports, and nothing of the helpers runs before the script's own lines."""
    (tmp_path / "s.py").write_text(textwrap.dedent("""\
        import torch
        x = torch.zeros(3)
        import numpy as np
        from torch.utils.data import DataLoader, TensorDataset
        kw = {"batch_size": 2}
        dl = DataLoader(TensorDataset(torch.from_numpy(np.arange(4.0, dtype=np.float32))), **kw)
        print([float(b[0].sum()) for b in dl])
        """))
    _convert(tmp_path / "s.py", "-o", tmp_path / "out" / "s.py")
    assert _run(["s.py"], tmp_path / "out").strip() == "[1.0, 5.0]"


def test_single_files_converted_one_by_one_share_the_module(tmp_path):
    """Two scripts converted by two runs into one folder: the module keeps the first one's helpers."""
    (tmp_path / "a.py").write_text(LOADER + "\nprint(len(list(make_loader())))\n")
    (tmp_path / "b.py").write_text("import torch\n\n\ndef f(x):\n    with torch.no_grad():\n        return x * 2\n\n"
                                   "torch.save({'w': torch.ones(2)}, 'w.pt')\nprint(float(torch.load('w.pt')['w'].sum()))\n")
    _convert(tmp_path / "a.py", tmp_path / "b.py", "-o", tmp_path / "o1")  # one run
    out = tmp_path / "o2"
    _convert(tmp_path / "a.py", "-o", out / "a.py")
    _convert(tmp_path / "b.py", "-o", out / "b.py")
    assert _run(["a.py"], out).strip() == "2"
    assert _run(["b.py"], out).strip() == "2.0"
    assert (out / "ms_helpers.py").read_bytes() == (tmp_path / "o1" / "ms_helpers.py").read_bytes()


def test_converting_the_output_again_changes_nothing(tmp_path):
    src = tmp_path / "p"
    _write(src, {"train.py": LOADER + "\nprint(len(list(make_loader())))\n", "tools/t.py": LOADER})
    _convert(src, "-o", tmp_path / "o1")
    _convert(tmp_path / "o1", "-o", tmp_path / "o2")
    for dp, _, fs in os.walk(tmp_path / "o1"):
        for f in fs:
            a = os.path.join(dp, f)
            b = os.path.join(tmp_path / "o2", os.path.relpath(a, tmp_path / "o1"))
            with open(a, "rb") as x, open(b, "rb") as y:
                assert x.read() == y.read(), a


def test_a_user_module_of_that_name_is_never_shadowed(tmp_path):
    src = tmp_path / "p"
    _write(src, {"ms_helpers.py": "VALUE = 42\n", "train.py": "from ms_helpers import VALUE\n" + LOADER
                 + "\nprint(VALUE, len(list(make_loader())))\n"})
    out = tmp_path / "o"
    _convert(src, "-o", out)
    assert (out / "ms_helpers.py").read_text() == "VALUE = 42\n"
    assert "from ms_helpers_2 import MsDataLoader" in (out / "train.py").read_text()
    assert _run(["train.py"], out).strip() == "42 2"


def test_diff_shows_the_module_as_a_new_file_and_check_ignores_it(tmp_path):
    (tmp_path / "a.py").write_text(LOADER)
    r = _convert(tmp_path / "a.py", "--diff")
    assert "+from ms_helpers import MsDataLoader" in r.stdout and "+# Generated by ms-migrate" in r.stdout
    assert not os.path.exists(tmp_path / "ms_helpers.py")
    _convert(tmp_path / "a.py", "-o", tmp_path / "o" / "a.py")
    r = subprocess.run([sys.executable, "-m", "migrator", "check", str(tmp_path / "o")], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0 and "ms_helpers" not in r.stdout, r.stdout + r.stderr


def test_no_grad_outside_differentiated_code_is_dropped():
    from migrator.convert import convert_source

    src = textwrap.dedent("""\
        import torch
        import torch.nn as nn


        class M(nn.Module):
            def forward(self, x):
                with torch.no_grad():
                    s = x.sum()
                return x * s


        @torch.no_grad()
        def evaluate(m, x):
            return m(x)


        def test(m, x):
            with torch.no_grad():  # evaluation
                # the loss
                y = m(x)
            return y
        """)
    out = convert_source(src.encode(), "m.py").output.decode()
    assert "_no_grad" not in out.replace("ms_no_grad", "")
    assert out.count("ms_no_grad") == 2  # the import, and the block in the model's construct
    assert "def evaluate" in out and "@" not in out
    assert "    # evaluation\n    # the loss\n    y = m(x)\n" in out


def test_a_helper_name_the_user_uses_is_imported_under_another_name(tmp_path):
    (tmp_path / "a.py").write_text("import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n\n\n"
                                   "class MsDataLoader:  # the user's own class of that name\n    pass\n\n\n"
                                   "kw = {'batch_size': 3}\n"
                                   "dl = DataLoader(TensorDataset(torch.ones(6, 2)), **kw)\n"
                                   "print(len(list(dl)), MsDataLoader.__module__)\n")
    _convert(tmp_path / "a.py", "-o", tmp_path / "o" / "a.py")
    text = (tmp_path / "o" / "a.py").read_text()
    assert "from ms_helpers import MsDataLoader as MsDataLoader_" in text
    assert _run(["a.py"], tmp_path / "o").strip() == "2 __main__"


def test_a_helper_a_template_names_follows_the_files_spelling(tmp_path):
    """`torch.device('cpu')` becomes the Device helper through a rule template; where the file uses
    the name Device itself, the import says `Device as Device_` and the call must say Device_ too."""
    (tmp_path / "a.py").write_text("import torch\n\n\n"
                                   "class Device:  # the user's own class of that name\n    pass\n\n\n"
                                   "def f(x, device: torch.device = torch.device('cpu')):\n"
                                   "    return (x.to(device) * 2).sum().item(), device.type\n\n\n"
                                   "print(*f(torch.ones(3)), Device.__module__)\n")
    _convert(tmp_path / "a.py", "-o", tmp_path / "o" / "a.py")
    text = (tmp_path / "o" / "a.py").read_text()
    assert "Device as Device_" in text and "Device_('cpu')" in text, text
    assert _run(["a.py"], tmp_path / "o").strip() == "6.0 cpu __main__"


def test_helper_import_where_the_only_torch_import_went():
    """timm's hardcorenas.py: its one torch import goes and nothing of MindSpore is imported in
    its place; the comments it carried move onto the helper import (an internal error before)."""
    from migrator.convert import convert_source

    src = ('"""doc"""\nfrom functools import partial\n\n# layers\nimport torch.nn as nn\n\nfrom .x import y\n\n'
           'act = partial(nn.BatchNorm2d, momentum=0.01)\n')
    res = convert_source(src.encode(), "m.py")
    assert res.status == "converted", res.error
    out = res.output.decode()
    assert "# layers\n" in out and "from ms_helpers import TorchBatchNorm2d\n" in out
    assert out.index("from .x import y") < out.index("from ms_helpers import") < out.index("act = ")


def test_a_notebook_gets_the_helper_module_beside_it(tmp_path):
    """A notebook's kernel starts in the notebook's folder: the module is written there."""
    import json

    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import torch\nfrom torch.utils.data import DataLoader, TensorDataset"),
                nbformat.v4.new_markdown_cell("# data"),
                nbformat.v4.new_code_cell('kw = {"batch_size": 2}\ndl = DataLoader(TensorDataset(torch.ones(4, 2)), **kw)\n'
                                          "print(len(list(dl)))")]
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, str(tmp_path / "nb" / "a.ipynb"))
    _convert(tmp_path / "nb", "-o", tmp_path / "out")
    cells = json.loads((tmp_path / "out" / "a.ipynb").read_text())["cells"]
    assert "from ms_helpers import MsDataLoader" in "".join(cells[0]["source"])
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    (tmp_path / "out" / "as_script.py").write_text(code)  # the cells in order, as the kernel runs them
    assert _run(["as_script.py"], tmp_path / "out").strip() == "2"


def test_inplace_writes_the_module_beside_the_sources(tmp_path):
    src = tmp_path / "p"
    _write(src, {"train.py": LOADER + "\nprint(len(list(make_loader())))\n"})
    _convert(src, "--inplace")
    assert helper_module.is_generated((src / "ms_helpers.py").read_bytes())
    assert _run(["train.py"], src).strip() == "2"


def test_a_helper_module_that_cannot_be_written_is_an_error(tmp_path):
    (tmp_path / "a.py").write_text(LOADER)
    (tmp_path / "o" / "ms_helpers.py").mkdir(parents=True)  # a folder where the module goes
    r = subprocess.run([sys.executable, "-m", "migrator", str(tmp_path / "a.py"), "-o", str(tmp_path / "o" / "a.py")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "cannot write the generated helper module" in r.stderr, r.stderr
