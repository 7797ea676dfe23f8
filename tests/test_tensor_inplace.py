"""In-place tensor methods: the receiver must change in the translation too.

MindSpore 2.10's Tensor.add_/mul_/sub_ return a new tensor and leave the receiver unchanged,
zero_/fill_/clamp_/masked_fill_ have no CPU kernel, ``p.data.assign_value(v)`` does not reach
``p``, and ``copy_`` into a sliced tensor does nothing. The translation stores the value back
(``assign_value``, ``__setitem__`` for an indexed receiver); these tests run both frameworks and
compare the receivers after the calls, and check that the output reads like hand-written code.
"""
import pytest

from equivalence import check_example, convert

PRELUDE = "import torch\nimport torch.nn as nn\n"

TEXT = [
    ("w.data.normal_(0, 0.02)", "w.assign_value(ops.randn_like(w) * 0.02)"),
    ("w.data.uniform_(-0.1, 0.1)", "w.assign_value(ops.rand_like(w) * 0.2 - 0.1)"),
    ("m.bias.data.zero_()", "m.bias.assign_value(ops.zeros_like(m.bias))"),
    ("m.weight.data.fill_(1.0)", "m.weight.assign_value(ops.full_like(m.weight, 1.0))"),
    ("x.add_(y)", "x.assign_value(x + y)"),
    ("x.sub_(y, alpha=-1)", "x.assign_value(x + y)"),
    ("x.mul_(s).add_(b)", "x.assign_value(x * s).assign_value(x + b)"),
    ("x.clamp_(0, 1)", "x.assign_value(x.clamp(0, 1))"),
    ("x[0].fill_(1)", "x.__setitem__(0, ops.full_like(x[0], 1))"),
    ("x[:, 1:].zero_()", "x.__setitem__((slice(None), slice(1, None)), ops.zeros_like(x[:, 1:]))"),
    ("emb.weight.data[pad].zero_()", "emb.weight.__setitem__(pad, ops.zeros_like(emb.weight[pad]))"),
    ("x[0].copy_(y)", "x.__setitem__(0, y)"),
    ("x.copy_(y)", "x.copy_(y)"),
    ("scores.masked_fill_(mask, -1e9)", "scores.assign_value(scores.masked_fill(mask, -1e9))"),
]


@pytest.mark.parametrize("torch_stmt,ms_stmt", TEXT, ids=[t for t, _ in TEXT])
def test_inplace_statement_text(torch_stmt, ms_stmt):
    src = PRELUDE + "\n\ndef f(x, y, w, m, s, b, emb, pad, scores, mask):\n    " + torch_stmt + "\n"
    out = convert(src).ms_code
    assert "    " + ms_stmt + "\n" in out, out


RUN = [
    pytest.param("lin = nn.Linear(3, 2)\n\ndef init(m):\n    m.weight.data.fill_(0.5)\n    m.bias.data.zero_()\n",
                 "(init(lin), lin(x))[1]", {"x": "randn(4, 3)"}, id="init through .data"),
    pytest.param("lin = nn.Linear(3, 2)\n\ndef shrink(m):\n    for p in m.parameters():\n        p.data.mul_(0.5)\n",
                 "(shrink(lin), lin(x))[1]", {"x": "randn(4, 3)"}, id="loop over parameters"),
    pytest.param("lin = nn.Linear(3, 4)\n\ndef pad(m):\n    m.weight.data[0].zero_()\n    m.weight.data[-1].fill_(2.0)\n",
                 "(pad(lin), lin.weight)[1]", {}, id="rows of a parameter"),
    pytest.param("def f(x, y):\n    z = x.add_(y)\n    z.mul_(2)\n    return x, z, z is x", "f(x, y)", {"x": "randn(2, 3)", "y": "randn(2, 3)"},
                 id="the returned tensor is the receiver"),
    pytest.param("def f(x):\n    x.mul_(2).add_(1).clamp_(-1, 1)\n    return x", "f(x)", {"x": "randn(3, 4)"}, id="chain"),
    pytest.param("def f(x, m):\n    x.masked_fill_(m, 0.0)\n    x.div_(x.abs().max())\n    x.unsqueeze_(0)\n    return x", "f(x, m)",
                 {"x": "randn(3, 4)", "m": "randn(3, 4) > 1"}, id="masked then scaled then reshaped"),
    pytest.param("def f(x, y):\n    x[1:, ::2].copy_(y)\n    x[0].add_(1)\n    return x", "f(x, y)",
                 {"x": "randn(3, 4)", "y": "randn(2, 2)"}, id="indexed receivers"),
    pytest.param("def f(x):\n    y = x.clone()\n    y.zero_()\n    return x, y", "f(x)", {"x": "randn(3, 4)"}, id="a clone is independent"),
]


@pytest.mark.parametrize("setup,expr,inputs", RUN)
def test_inplace_runs_like_torch(setup, expr, inputs):
    conv = check_example(setup, expr, inputs, label="inplace")
    assert "add_(" not in conv.ms_code and "mul_(" not in conv.ms_code and "zero_(" not in conv.ms_code
