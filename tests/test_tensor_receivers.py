"""Tensor-method rules on receivers whose type is not known statically.

A method such as ``repeat``, ``std``, ``split`` or ``transpose`` is translated only when its
receiver is plausibly a torch tensor: lists, dicts, strings, numpy arrays, pandas frames, PIL
images and modules keep their calls (the line is unchanged and nothing is reported), while
tensors of unknown origin (function parameters, attributes, loop variables over tensors) are
translated. The translated cases are also executed in both frameworks.
"""
import textwrap

import pytest

from equivalence import check_example, convert

PRELUDE = "import torch\nimport torch.nn as nn\nimport numpy as np\n"

# Each source marks the lines that must come out unchanged with `# keep`.
UNTOUCHED = {
    "list": """
        parts = []
        parts.append(x)  # keep
        parts.index(x)  # keep
        parts.copy()  # keep
    """,
    "str literal": """
        "a,b".split(",")  # keep
        "{}".format(x)  # keep
    """,
    "str name": """
        s = "a b"
        s.split()  # keep
        s.split(",", 1)  # keep
    """,
    "dict": """
        d = {}
        d.items()  # keep
        d.get("k")  # keep
        d.update(a=1)  # keep
    """,
    "ndarray from np": """
        arr = np.zeros(3)
        arr.repeat(2)  # keep
        arr.view(np.int32)  # keep
        arr.astype(np.float32)  # keep
        arr.std()  # keep
        arr.var(0)  # keep
        arr.argsort()  # keep
        arr.max(axis=0)  # keep
        arr.dot(arr)  # keep
        arr.transpose()  # keep
    """,
    "ndarray derived": """
        arr = np.arange(6)
        b = arr.reshape(2, 3)
        b.repeat(2)  # keep
        c = b + 1
        c.std()  # keep
        d = b[0]
        d.argmin()  # keep
    """,
    "ndarray from tensor.numpy()": """
        def f(x):
            arr = x.numpy()
            arr.repeat(2)  # keep
            return arr.std(0)  # keep
    """,
    "np call receiver": """
        np.arange(6).reshape(2, 3).repeat(2)  # keep
        np.ones(3).std()  # keep
    """,
    "pandas": """
        import pandas as pd
        df = pd.DataFrame({"a": [1, 2]})
        df.mean()  # keep
        df.mean(axis=0)  # keep
        df.sort_values("a")  # keep
        df["a"].unique()  # keep
        df.std()  # keep
        df.max(axis=1).values  # keep
        df.max(1).values  # keep
    """,
    "PIL": """
        from PIL import Image
        img = Image.open("a.png")
        w, h = img.size  # keep
        img.transpose(Image.FLIP_LEFT_RIGHT)  # keep
        img.resize((32, 32))  # keep
        img.split()  # keep
    """,
    "cv2": """
        import cv2
        img = cv2.imread("a.png")
        img.transpose(2, 0, 1)  # keep
        img.repeat(3)  # keep
    """,
    "random": """
        import random
        l = [1, 2, 3]
        random.shuffle(l)  # keep
        random.random()  # keep
    """,
    "annotated parameters": """
        from typing import List
        def f(a: np.ndarray, names: list, s: str, ls: List[str], d: dict):
            a.repeat(2)  # keep
            a.std()  # keep
            names.index("a")  # keep
            s.split(",")  # keep
            ls.index("b")  # keep
            d.items()  # keep
    """,
    "parameter defaults": """
        def f(sep=",", size=3, shape=(2, 3)):
            sep.split(",")  # keep
            return size
    """,
    "for over lines": """
        def f(path):
            for line in open(path):
                fields = line.split()  # keep
                line.split(",")  # keep
            with open(path) as fh:
                for row in fh:
                    row.split("\\t")  # keep
            for w in "a b".split():
                w.split("-")  # keep
    """,
    "for over an array": """
        for row in np.eye(3):
            row.repeat(2)  # keep
            row.std()  # keep
    """,
    "string arguments": """
        def f(text, line):
            text.split(",")  # keep
            line.split(" ", 1)  # keep
            text.index("a")  # keep
    """,
    "numpy-only keywords": """
        def f(a, frame):
            a.std(ddof=1)  # keep
            a.max(axis=0)  # keep
            a.sum(axis=0, keepdims=True)  # keep
            frame.mean(numeric_only=True)  # keep
            frame.max(axis=1).values  # keep
            a.repeat(3, axis=0)  # keep
    """,
    "values out of tensors": """
        def f(x):
            v = x.item()
            v.float()  # keep
            s = x.tolist()
            s.index(1)  # keep
            arr = x.cpu().numpy()
            arr.repeat(2)  # keep
    """,
    "attributes set in __init__": """
        class Normalize:
            def __init__(self):
                self.mean = np.array([0.5, 0.5])
                self.names = ["a", "b"]
                self.sep = ","

            def __call__(self, x):
                self.mean.repeat(2)  # keep
                self.mean.std()  # keep
                self.sep.split(",")  # keep
                return x
    """,
}


def _kept_lines(src: str) -> list[str]:
    return [line.split("# keep")[0].rstrip() for line in src.splitlines() if "# keep" in line]


@pytest.mark.parametrize("name", sorted(UNTOUCHED))
def test_non_tensor_receivers_are_left_alone(name):
    src = PRELUDE + textwrap.dedent(UNTOUCHED[name])
    conv = convert(src, f"<{name}>")
    out_lines = [line.split("# keep")[0].rstrip() for line in conv.ms_code.splitlines()]
    for line in _kept_lines(src):
        assert line in out_lines, f"{name}: changed: {line.strip()!r}\n--- converted ---\n{conv.ms_code}"
    tensor_findings = [f for f in conv.findings if f.api.startswith("torch.Tensor.")]
    assert not tensor_findings, f"{name}: reported {[(f.api, f.reason) for f in tensor_findings]}"


def test_module_receivers_get_the_module_methods_not_the_tensor_ones():
    """model.float() casts a Cell's parameters (not x.astype), requires_grad_ freezes a Cell's."""
    src = PRELUDE + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.weight = nn.Parameter(torch.ones(2))
            def forward(self, x):
                return x
            def freeze(self):
                self.fc.requires_grad_(False)
                self.weight.requires_grad_(False)
        def f(model, net, encoder):
            model.float()
            net.half()
            encoder.double()
            model.requires_grad_(False)
        m = Net()
        m.float()
        m.fc.half()
    """)
    out = convert(src, "<modules>").ms_code
    for line in ("ms_cast_parameters(model, mindspore.float32)", "ms_cast_parameters(net, mindspore.float16)",
                 "ms_cast_parameters(encoder, mindspore.float64)", "ms_requires_grad_(model, False)",
                 "ms_cast_parameters(m, mindspore.float32)", "ms_cast_parameters(m.fc, mindspore.float16)",
                 "ms_requires_grad_(self.fc, False)", "self.weight.requires_grad_(False)"):
        assert line in out, f"{line}\n--- converted ---\n{out}"


# Tensor receivers of unknown (or inferred) type: translated, and the result is executed.
TRANSLATED = [
    pytest.param("def f(x):\n    return x.repeat(2, 1)", "f(x)", {"x": "randn(2, 3)"}, "tile", id="parameter"),
    pytest.param("def f(x: torch.Tensor):\n    return x.std(0)", "f(x)", {"x": "randn(4, 3)"}, "ddof=1", id="annotated tensor"),
    pytest.param("def f(x):\n    t = torch.randn(2, 3)\n    return t.size(1) + x.size(0)", "f(x)", {"x": "randn(4, 3)"}, ".shape[",
                 id="assigned from torch"),
    pytest.param("def f(a: np.ndarray):\n    return a.std()\n\ndef g(a):\n    return a.std()", "g(x)", {"x": "randn(4, 3)"}, "ddof=1",
                 id="scope: a parameter shadows an ndarray of another function"),
    pytest.param("x = np.zeros(3)\n\ndef g(x):\n    return x.repeat(2)", "g(x)", {"x": "randn(4)"}, "tile",
                 id="scope: a parameter shadows a module-level ndarray"),
    pytest.param("def f(x):\n    out = []\n    for t in x.unbind(0):\n        out.append(t.std())\n    return out + [t.var() for t in x]", "f(x)",
                 {"x": "randn(3, 4)"}, "ddof=1",
                 id="loop over a tensor"),
    pytest.param("def f(x):\n    arr = np.zeros(3)\n    arr = x * 2\n    return arr.std(0)", "f(x)", {"x": "randn(4, 3)"}, "ddof=1",
                 id="name rebound from ndarray to tensor"),
    pytest.param("def f(x):\n    for i in range(2):\n        x = x.repeat(2, 1)\n    return x", "f(x)", {"x": "randn(1, 2)"}, "tile",
                 id="inside a range loop"),
    pytest.param("class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(3, 2)\n\n"
                 "    def forward(self, x):\n        return self.lin.weight.view(-1).std() + self.lin(x).max(1)[0].std() + x.var(1).sum()\n\n\nm = M()",
                 "m(x)", {"x": "randn(4, 3)"}, "ddof=1", id="attribute and expression receivers"),
    pytest.param("def f(x, dim):\n    return x.max(dim)[0], x.sum(dim=dim)", "f(x, 1)", {"x": "randn(4, 3)"}, "max(dim)",
                 id="dim variable"),
    pytest.param("def f(x, y):\n    return x.max(y)", "f(x, y)", {"x": "randn(4, 3)", "y": "randn(4, 3)"}, "maximum",
                 id="max of two tensors"),
    pytest.param("class A:\n    def __init__(self):\n        self.w = np.ones(3)\n\n    def g(self, x):\n        self.w = x * 2\n"
                 "        return self.w.repeat(2, 1)\n\n\na = A()", "a.g(x)", {"x": "randn(2, 3)"}, "tile",
                 id="attribute rebound to a tensor in a method"),
    pytest.param("def f(x):\n    return x.data * 2 + x.data.sum(0)", "f(x)", {"x": "randn(4, 3)"}, "x.data", id="x.data read"),
    pytest.param("def f(x):\n    v = float(x.sum().item())\n    n = x.mean().item()\n    return v + n, x.float().mean().item()", "f(x)",
                 {"x": "randn(4, 3) * 3"}, "astype", id="item patterns"),
    pytest.param("def f(x):\n    x.mul_(2).add_(1)\n    x.data.clamp_(-1, 1)\n    return x", "f(x)", {"x": "randn(4, 3)"}, "assign_value",
                 id="in-place statements"),
    # numpy values as indexes (np.where, np.random.choice, an element of an array), which torch
    # takes and MindSpore refuses without the numpy_index shim
    pytest.param("def f(x):\n    groups = {0: np.array([0, 3, 1])}\n    i = groups[0][1]\n    y = x.clone()\n"
                 "    y[np.int64(0)] = 7\n    y[groups[0][2], np.int32(1)] = -1\n"
                 "    return x[i], x[np.where(groups[0] > 0)[0]], x[i - 2:i], x[[np.int64(2), 0]], x[np.array([True, False, True, False])], y",
                 "f(x)", {"x": "randn(4, 3)"}, "import ms_helpers", id="numpy values as indexes"),
]


@pytest.mark.parametrize("setup,expr,inputs,needle", TRANSLATED)
def test_tensor_receivers_are_translated_and_run(setup, expr, inputs, needle):
    conv = check_example(setup, expr, inputs, label="receiver")
    assert needle in conv.ms_code, conv.ms_code


def test_numpy_index_shim_only_where_numpy_meets_computed_indexes():
    with_np = convert("import numpy as np\nimport torch\n\n\ndef f(x, i):\n    return torch.relu(x)[i]\n")
    without_np = convert("import torch\n\n\ndef f(x, i):\n    return torch.relu(x)[i]\n")
    constant = convert("import numpy as np\nimport torch\n\n\ndef f(x):\n    return torch.relu(x)[0, 1:]\n")
    assert with_np.helpers == ["numpy_index"] and "import ms_helpers  # noqa" in with_np.ms_code
    assert not without_np.helpers and not constant.helpers
