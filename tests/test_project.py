"""A folder converted as a project (issue 16): names resolved across its modules, and per scope.

A package whose model module gets `torch`/`nn`/`F` only through `from .parts import *`, a
subclass of a model class of another module (`from .parts import DoubleConv`), re-exports through
`__init__.py`, a module that gets torch only through a star import from a package `__init__`,
and a module that shadows `import torch.utils.data as data` with a local list. The folder is
converted with the CLI; the torch originals and the converted package run in their own
processes on the same weights (`ms-migrate ckpt`, loaded strictly) and inputs; outputs agree
within 1e-5 absolute."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
ATOL = 1e-5

TREE = {
    "proj/__init__.py": """\
        from .model import *
        from .layers import Conv
        """,
    "proj/parts.py": """\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F


        class DoubleConv(nn.Module):
            def __init__(self, cin, cout):
                super().__init__()
                self.double_conv = nn.Sequential(
                    nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                )

            def forward(self, x):
                return self.double_conv(x)


        class Down(nn.Module):
            def __init__(self, cin, cout):
                super().__init__()
                self.conv = DoubleConv(cin, cout)

            def forward(self, x):
                return self.conv(F.max_pool2d(x, 2))
        """,
    # the U-Net shape: torch, nn and F only through the star import
    "proj/model.py": """\
        \"\"\"The model, assembled from the parts.\"\"\"
        from .parts import *

        __all__ = ["UNetish"]


        class UNetish(nn.Module):
            def __init__(self, cin, n):
                super().__init__()
                self.inc = DoubleConv(cin, 4)
                self.down = Down(4, 8)
                self.head = nn.Conv2d(12, n, kernel_size=1)

            def forward(self, x):
                a = self.inc(x)
                b = F.interpolate(self.down(a), scale_factor=2.0, mode="nearest")
                return self.head(torch.cat([a, b], dim=1))
        """,
    "proj/layers.py": """\
        import torch.nn as nn


        class Conv(nn.Module):
            def __init__(self, cin, cout):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, padding=1)
                self.bn = nn.BatchNorm2d(cout)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
    # no torch in sight: a subclass of another module's model class
    "proj/deep.py": """\
        from .parts import DoubleConv
        from .layers import Conv


        class Wide(DoubleConv):
            def __init__(self, c):
                super().__init__(c, 2 * c)
                self.post = Conv(2 * c, c)

            def forward(self, x):
                return self.post(super().forward(x))


        def is_block(m):
            return isinstance(m, DoubleConv)
        """,
    # torch only through a star import from a package __init__ (which re-exports Conv too)
    "proj/zoo/__init__.py": """\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from ..layers import Conv
        """,
    "proj/zoo/head.py": """\
        from proj.zoo import *


        class Head(nn.Module):
            def __init__(self, c, n):
                super().__init__()
                self.conv = Conv(c, c)
                self.fc = nn.Linear(c, n)

            def forward(self, x):
                x = F.relu(self.conv(x))
                return self.fc(torch.flatten(x, 2).mean(-1))
        """,
    # a local list named like an import alias
    "proj/data_utils.py": """\
        import torch
        import torch.utils.data as data


        def ordered(items):
            data = list(items)
            data.sort(key=lambda v: -v)
            return data


        class Pairs(data.Dataset):
            def __init__(self, n):
                self.n = n

            def __len__(self):
                return self.n

            def __getitem__(self, i):
                return float(i), float(2 * i)


        def loader():
            return data.DataLoader(Pairs(6), batch_size=3)
        """,
    # more bindings that shadow an alias in their scope only
    "proj/scoped.py": """\
        import torch
        import torch.nn as nn
        import torch.utils.data as data


        def comp(xs):
            return [data * 2 for data in xs]


        def outer():
            data = [3, 1, 2]

            def inner():
                data.sort()
                return data
            return inner()


        def with_param(nn=None, *, F=1):
            return nn + F


        inc = (lambda nn: nn + 1)


        def layer():
            return nn.Linear(2, 3)
        """,
}

MODELS = {  # name -> (module, constructor, input shape)
    "UNetish": ("proj.model", "UNetish(3, 2)", (1, 3, 16, 16)),
    "Wide": ("proj.deep", "Wide(3)", (1, 3, 8, 8)),
    "Head": ("proj.zoo.head", "Head(3, 5)", (2, 3, 8, 8)),
}

TORCH_SIDE = """\
import importlib, json, sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
out = sys.argv[2]
models = json.loads(sys.argv[3])
results = {}
for name, (mod, ctor, shape) in models.items():
    ns = vars(importlib.import_module(mod))
    torch.manual_seed(0)
    m = eval(ctor, ns)
    for b in m.modules():
        if isinstance(b, torch.nn.BatchNorm2d):
            b.running_mean.uniform_(-0.5, 0.5); b.running_var.uniform_(0.5, 1.5)
            b.weight.data.uniform_(0.5, 1.5); b.bias.data.uniform_(-0.5, 0.5)
    m.eval()
    torch.save(m.state_dict(), f"{out}/{name}.pth")
    x = np.random.RandomState(1).randn(*shape).astype(np.float32)
    np.save(f"{out}/{name}_x.npy", x)
    with torch.no_grad():
        np.save(f"{out}/{name}_torch.npy", m(torch.from_numpy(x)).numpy())
from proj.data_utils import ordered, loader
from proj.deep import is_block
from proj.parts import DoubleConv
from proj import scoped
print(json.dumps({"scoped": [scoped.comp([1, 2]), scoped.outer(), scoped.with_param(5), scoped.inc(1),
                             type(scoped.layer()).__name__],
                  "ordered": ordered([3, 1, 2]), "batches": [[t.tolist() for t in b] for b in loader()],
                  "is_block": [is_block(DoubleConv(1, 1)), is_block(torch.nn.ReLU())]}))
"""

MS_SIDE = """\
import importlib, json, sys
import numpy as np
import mindspore
sys.path.insert(0, ".")
out = sys.argv[1]
models = json.loads(sys.argv[2])
results = {}
for name, (mod, ctor, shape) in models.items():
    ns = vars(importlib.import_module(mod))
    m = eval(ctor, ns)
    params = mindspore.load_checkpoint(f"{out}/{name}.ckpt")
    not_loaded, unused = mindspore.load_param_into_net(m, params, strict_load=True)
    m.set_train(False)
    y = m(mindspore.Tensor(np.load(f"{out}/{name}_x.npy"))).asnumpy()
    t = np.load(f"{out}/{name}_torch.npy")
    results[name] = {"not_loaded": list(not_loaded), "unused": list(unused), "n": len(params),
                     "shape": [list(y.shape), list(t.shape)], "diff": float(np.abs(y - t).max())}
from proj.data_utils import ordered, loader
from proj.deep import is_block
from proj.parts import DoubleConv
import proj
from proj import scoped
results["scoped"] = [scoped.comp([1, 2]), scoped.outer(), scoped.with_param(5), scoped.inc(1), type(scoped.layer()).__name__]
results["ordered"] = ordered([3, 1, 2])
results["batches"] = [[t.asnumpy().tolist() for t in b] for b in loader()]
results["is_block"] = [is_block(DoubleConv(1, 1)), is_block(mindspore.nn.ReLU())]
results["reexports"] = [proj.UNetish.__name__, proj.Conv.__name__, issubclass(proj.Conv, mindspore.nn.Cell)]
print(json.dumps(results))
"""


def _write(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(textwrap.dedent(text))


def _run(args, cwd=ROOT):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=ENV,
                          timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("project")
    src, out, work = tmp / "src", tmp / "out", tmp / "work"
    work.mkdir()
    _write(src, TREE)
    torch_side = _run(["-c", TORCH_SIDE, src, work, json.dumps(MODELS)], cwd=work)
    assert torch_side.returncode == 0, torch_side.stderr
    conv = _run(["-m", "migrator", src, "-o", out, "--report", work / "report.json"])
    assert conv.returncode in (0, 1), conv.stderr
    report = {os.path.relpath(f["path"], src).replace(os.sep, "/"): f
              for f in json.loads((work / "report.json").read_text())["files"]}
    from migrator.checkpoint import CheckpointError, convert_checkpoint

    ckpt = {}
    for name in MODELS:  # `ms-migrate ckpt X.pth -o X.ckpt --param-map ... --model X`, in this process
        try:
            convert_checkpoint(str(work / f"{name}.pth"), str(work / f"{name}.ckpt"),
                               str(out / "ms_migrate_param_map.json"), model=name, echo=lambda *a: None)
            ckpt[name] = None
        except CheckpointError as exc:
            ckpt[name] = str(exc)
    ms_side = _run(["-c", MS_SIDE, work, json.dumps(MODELS)], cwd=out)
    assert ms_side.returncode == 0, ms_side.stderr[-3000:]
    return {"report": report, "torch": json.loads(torch_side.stdout.strip().splitlines()[-1]),
            "ms": json.loads(ms_side.stdout.strip().splitlines()[-1]), "ckpt": ckpt, "out": out}


def _model_agrees(project, name):
    assert project["ckpt"][name] is None, project["ckpt"][name]
    got = project["ms"][name]
    assert got["not_loaded"] == [] and got["unused"] == [], got
    assert got["shape"][0] == got["shape"][1]
    assert got["diff"] <= ATOL, got


def test_star_import_gives_torch_to_the_model_module(project):
    assert project["report"]["proj/model.py"]["status"] == "converted"
    _model_agrees(project, "UNetish")


def test_subclass_of_a_model_class_from_another_module(project):
    # deep.py never mentions torch: converted (forward -> construct, a Cell in the map), not copied
    assert project["report"]["proj/deep.py"]["status"] == "converted"
    _model_agrees(project, "Wide")
    assert project["ms"]["is_block"] == project["torch"]["is_block"] == [True, False]


def test_torch_only_through_a_star_import_from_a_package_init(project):
    assert project["report"]["proj/zoo/head.py"]["status"] == "converted"
    _model_agrees(project, "Head")


def test_reexports_through_init(project):
    assert project["ms"]["reexports"] == ["UNetish", "Conv", True]


def test_local_binding_shadows_an_import_alias(project):
    rep = project["report"]["proj/data_utils.py"]
    assert rep["findings"] == [], rep["findings"]
    assert project["ms"]["ordered"] == project["torch"]["ordered"] == [3, 2, 1]
    text = (project["out"] / "proj" / "data_utils.py").read_text()
    assert "data = list(items)\n    data.sort(key=lambda v: -v)\n    return data\n" in text
    assert project["report"]["proj/scoped.py"]["findings"] == []
    assert project["torch"]["scoped"][:4] == project["ms"]["scoped"][:4] == [[2, 4], [1, 2, 3], 6, 2]
    assert (project["torch"]["scoped"][4], project["ms"]["scoped"][4]) == ("Linear", "Dense")
    # the module-level uses are still torch's, converted
    assert np.allclose(np.array(project["ms"]["batches"], dtype=float), np.array(project["torch"]["batches"]))


def test_a_file_that_cannot_get_its_names_is_reported(tmp_path):
    src = tmp_path / "src"
    _write(src, {
        "pkg/__init__.py": "",
        "pkg/bad.py": "import torch.nn as nn\nprint 'python 2'\n",
        "pkg/user.py": "from .bad import *\n\n\nclass M(nn.Module):\n    pass\n",
        "pkg/bad2.py": "import torch\nif True: print 'python 2'\n",
        "pkg/user2.py": "import os\nfrom .bad2 import *\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/far.py": "from ...outside import *\n",
    })
    conv = _run(["-m", "migrator", src, "-o", tmp_path / "out", "--report", tmp_path / "r.json"])
    assert conv.returncode == 2  # bad.py does not parse
    files = {os.path.relpath(f["path"], src).replace(os.sep, "/"): f
             for f in json.loads((tmp_path / "r.json").read_text())["files"]}
    assert files["pkg/bad.py"]["status"] == "error"
    notes = files["pkg/user.py"]["findings"]
    assert any("pkg/bad.py" in n["reason"] and "could not be converted" in n["reason"] for n in notes), notes
    assert "pkg/user.py:1:1: note project: gets torch names from" in conv.stderr
    notes = files["pkg/user2.py"]["findings"]
    assert [(n["line"], n["col"]) for n in notes] == [(2, 1)] and "pkg/bad2.py: it does not parse" in notes[0]["reason"]
    far = files["pkg/sub/far.py"]["findings"]
    assert any("not in the converted folder" in n["reason"] for n in far), far


def test_a_torch_name_imported_by_name_from_a_neighbour(tmp_path):
    """`from .parts import nn, Block`: nn is torch.nn there and gone from the converted module; the
    name leaves the import, and its uses are converted here."""
    src = tmp_path / "src"
    _write(src, {
        "pkg/__init__.py": "",
        "pkg/parts.py": "import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def forward(self, x):\n        return x\n",
        "pkg/net.py": "from .parts import nn, Block\n\n\nclass Net(Block):\n    def __init__(self):\n"
                      "        super().__init__()\n        self.fc = nn.Linear(2, 3)\n",
    })
    conv = _run(["-m", "migrator", src, "-o", tmp_path / "out"])
    assert conv.returncode == 0, conv.stderr
    code = "import sys; sys.path.insert(0, '.'); from pkg.net import Net; import mindspore; n = Net(); " \
           "print(type(n.fc).__name__, isinstance(n, mindspore.nn.Cell))"
    r = _run(["-c", code], cwd=tmp_path / "out")
    assert r.returncode == 0 and r.stdout.split() == ["Dense", "True"], r.stderr[-2000:]


def test_a_mixin_with_forward_before_a_model_class_of_another_module(tmp_path):
    """`class DistillableViT(DistillMixin, ViT)` (vit-pytorch): the mixin's forward is the model's;
    MindSpore calls construct, so it is renamed too (else ViT's construct would run)."""
    src = tmp_path / "src"
    _write(src, {
        "pkg/__init__.py": "",
        "pkg/base.py": "import torch.nn as nn\n\n\nclass Base(nn.Module):\n    def forward(self, x):\n        return x\n",
        "pkg/net.py": "from .base import Base\n\n\nclass Mixin:\n    def forward(self, x, scale=None):\n"
                      "        return x * (scale or 3)\n\n\nclass Net(Mixin, Base):\n    pass\n",
    })
    conv = _run(["-m", "migrator", src, "-o", tmp_path / "out"])
    assert conv.returncode == 0, conv.stderr
    code = "import sys; sys.path.insert(0, '.'); from pkg.net import Net; import mindspore; n = Net(); " \
           "print(float(n(mindspore.Tensor(2.0))), float(n(mindspore.Tensor(2.0), scale=5)))"
    r = _run(["-c", code], cwd=tmp_path / "out")
    assert r.returncode == 0 and r.stdout.split() == ["6.0", "10.0"], r.stdout + r.stderr[-2000:]
