"""`ms-migrate verify` (issue 18): it agrees on converted models (conv+BatchNorm with a train step,
Embedding+LSTM, a transformer block), and after a deliberate small change to one block of a
converted tree (its output scaled by 1.01, a BatchNorm's eps, an activation swapped) it exits 1
and names exactly that block; a hand-edited tree is used as it is; a strict-load failure, an input
the model rejects and a model random in eval mode exit 2 with the reason.

Each case is one run of the command (one torch process, one MindSpore process)."""
import json
import os
import subprocess
import sys

import pytest

from ckpt_models import BLOCKS, MODELS

pytest.importorskip("torch")
pytest.importorskip("mindspore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")

TRANSFORMER = '''\
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        att = F.softmax((q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((att @ v).transpose(1, 2).contiguous().view(b, t, d))


class Block(nn.Module):
    def __init__(self, dim=16, heads=4):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(0.1))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return F.dropout(self.fc(x), 0.5, training=True)
'''


def verify(*args, cwd):
    r = subprocess.run([sys.executable, "-m", "migrator", "verify", *map(str, args)], capture_output=True,
                       text=True, cwd=cwd, env=ENV, timeout=600)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """pkg/ (tests/ckpt_models.py's package) and tf.py, converted once with the CLI."""
    base = tmp_path_factory.mktemp("verify")
    src = base / "pkg"
    src.mkdir()
    (src / "__init__.py").write_text("")
    (src / "blocks.py").write_text(BLOCKS)
    (src / "models.py").write_text(MODELS)
    r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(base / "out"), "-q"],
                       capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert r.returncode == 0, r.stderr
    (base / "tf.py").write_text(TRANSFORMER)
    return base


def edited(base, name, old, new, file="models.py"):
    """A copy of the converted tree with one hand edit."""
    import shutil

    dst = base / name
    if not dst.exists():
        shutil.copytree(base / "out", dst)
        text = (dst / file).read_text()
        assert old in text, old
        (dst / file).write_text(text.replace(old, new, 1))
    return dst


def test_agrees_conv_batchnorm_with_train_step(trees):
    code, out = verify("pkg", "--model", "models:ConvBN()", "--input", "float:4x3x8x8", "-o", "out", "--train",
                       "--report", "r.json", cwd=trees)
    assert code == 0, out
    assert "verifying it as it is" in out and "verdict: SAME" in out
    rep = json.loads((trees / "r.json").read_text())
    kinds = {r["kind"] for r in rep["rows"]}
    assert kinds == {"output", "grad", "train output", "train state"}, rep["rows"]
    assert len(rep["grads"]) == 11 and all(g["ok"] for g in rep["grads"])
    # BatchNorm statistics after the train step: 3 BatchNorms, moving mean and variance each
    assert len(rep["train_state"]) == 6 and all(s["ok"] for s in rep["train_state"])
    assert rep["exit_code"] == 0 and rep["classes"] == {"torch": "ConvBN", "mindspore": "ConvBN"}


def test_agrees_embedding_lstm(trees):
    # converted now into a temporary folder (no -o)
    code, out = verify("pkg", "--model", "pkg.models:Tagger()", "--input", "int:0-50:2x7", cwd=trees)
    assert code == 0, out
    assert "converted pkg -> a temporary folder" in out
    assert "grad lstm.* (16)" in out and "grad emb.* (1)" in out


def test_agrees_transformer_block_train_dropout_is_shape_only(trees):
    code, out = verify("tf.py", "--model", "Block()", "--input", "float:2x5x16", "--train", cwd=trees)
    assert code == 0, out
    assert "random in train mode (dropout?): shape compared only" in out


@pytest.mark.parametrize("case", ["scale", "eps", "activation", "functional"])
def test_a_changed_block_is_named(trees, case):
    if case == "scale":  # one block of four (same class) computes 1.01 x its output
        tree = edited(trees, "out_scale", "        self.layer2 = self._make_layer(8, 2)\n",
                      "        self.layer2 = self._make_layer(8, 2)\n        self.layer2[1].construct = "
                      "lambda x, _f=self.layer2[1].construct: _f(x) * 1.01\n")
        model, inp, expect = "models:ResNetish()", "float:2x3x6x6", "layer2.1 (ResidualBlock -> ResidualBlock)"
    elif case == "eps":
        tree = edited(trees, "out_eps", "nn.BatchNorm2d(8, momentum=0.9),", "nn.BatchNorm2d(8, momentum=0.9, eps=1e-3),")
        model, inp, expect = "models:ConvBN()", "float:4x3x8x8", "stem.1 (BatchNorm2d -> BatchNorm2d)"
    elif case == "activation":
        tree = edited(trees, "out_act", '("act", nn.ReLU()),', '("act", nn.GELU(approximate=False)),')
        model, inp, expect = "models:ConvBN()", "float:4x3x8x8", "head.act (ReLU -> GELU)"
    else:  # a functional call in the model's own code: the model is named, with the submodules around it
        tree = edited(trees, "out_fn", "x = ops.max_pool2d(self.stem(x), 2)", "x = ops.max_pool2d(self.stem(x), 2) * 1.01")
        model, inp, expect = "models:ConvBN()", "float:4x3x8x8", "(the model itself) (ConvBN -> ConvBN)"
    code, out = verify("pkg", "--model", model, "--input", inp, "-o", tree.name, "--report", f"{case}.json",
                       cwd=trees)
    assert code == 1, out
    assert "exists: verifying it as it is" in out
    assert f"first diverging submodule: {expect}: max abs error" in out, out
    assert "verdict: DIFFERS" in out
    rep = json.loads((trees / f"{case}.json").read_text())
    assert rep["localisation"]["path"] == ("" if case == "functional" else expect.split()[0])
    if case == "functional":
        assert "inside it, head.fc gets a different input after stem's output agreed" in out


def test_strict_load_failure_names_the_tensors(trees):
    tree = edited(trees, "out_renamed", "self.out = nn.Dense(16, 5)", "self.final = nn.Dense(16, 5)")
    text = (tree / "models.py").read_text().replace("return self.out(self.head(x))", "return self.final(self.head(x))")
    (tree / "models.py").write_text(text)
    code, out = verify("pkg", "--model", "models:ConvBN()", "--input", "float:4x3x8x8", "-o", tree.name, cwd=trees)
    assert code == 2, out
    assert "strict load failed" in out
    assert "MindSpore parameters the converted checkpoint does not hold: final.weight, final.bias" in out
    assert "no parameter for: out.weight, out.bias" in out


def test_rejected_input_and_random_model_exit_2(trees):
    code, out = verify("pkg", "--model", "models:ConvBN()", "--input", "float:4x5x8x8", "-o", "out", cwd=trees)
    assert code == 2 and "the torch model rejects the input (float:4x5x8x8): RuntimeError" in out, out
    assert "(models.py:" in out
    code, out = verify("tf.py", "--model", "Noisy()", "--input", "float:3x4", cwd=trees)
    assert code == 2, out
    assert "random in eval mode" in out and "output shapes agree" in out


def test_import_error_and_missing_frameworks(trees, monkeypatch):
    from migrator import verify as v

    code, out = verify("pkg", "--model", "models.nothere:X()", "--input", "float:2", "-o", "out", cwd=trees)
    assert code == 2 and "the torch tree: cannot import pkg.models.nothere" in out, out
    lines = []
    monkeypatch.setattr(v, "_frameworks_missing", lambda: ["mindspore"])
    assert v.run(str(trees / "tf.py"), "Block()", ["float:2x5x16"], echo=lines.append) == 2
    assert "mindspore not installed" in lines[-1] and 'pip install "ms-migrate[frameworks]"' in lines[-1]


def test_input_specs():
    from migrator.verify import make_inputs, parse_input

    a, b, c = make_inputs([parse_input("float:2x3"), parse_input("int:5-9:4"), parse_input("bool:scalar")], seed=0)
    assert a.shape == (2, 3) and a.dtype.name == "float32"
    assert b.dtype.name == "int64" and b.min() >= 5 and b.max() < 9
    assert c.shape == () and c.dtype == bool
    for bad in ("float", "int:9-5:3", "cplx:3", "float:2xa", "bool:0-1:3"):
        with pytest.raises(ValueError):
            parse_input(bad)
