"""`ms-migrate ckpt` on the files users have: pickles that must not run, truncated files, nested
and safetensors checkpoints, names the map does not know, shapes that do not fit, ties; and the
parameter map itself (what static analysis decides and what it leaves to the checkpoint)."""
import json
import os
import struct

import numpy as np
import pytest

from test_checkpoint import ms_migrate

from migrator import param_map
from migrator.checkpoint import CheckpointError, convert_checkpoint

SRC = '''\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, tie=True):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.emb = nn.Embedding(10, 3)
        self.out = nn.Linear(3, 10, bias=False)
        if tie:
            self.out.weight = self.emb.weight
        self.rnn = getattr(nn, "GRU")(3, 3)
        self.extra = make_extra()

    def forward(self, x):
        return self.out(self.bn(self.fc(x)))
'''


@pytest.fixture()
def pmap(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps(param_map.build({"net.py": SRC})))
    return path


def torch_net(tie=True):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)
            self.bn = torch.nn.BatchNorm1d(3)
            self.emb = torch.nn.Embedding(10, 3)
            self.out = torch.nn.Linear(3, 10, bias=False)
            if tie:
                self.out.weight = self.emb.weight
            self.rnn = torch.nn.GRU(3, 3)
            self.extra = torch.nn.BatchNorm1d(2)

    torch.manual_seed(0)
    return Net()


def run(src, dst, pmap, **kw):
    lines = []
    plan = convert_checkpoint(str(src), str(dst), str(pmap), echo=lines.append, **kw)
    return plan, "\n".join(lines)


def test_plan_reports_every_tensor(tmp_path, pmap):
    import mindspore
    import torch

    net = torch_net()
    torch.save(net.state_dict(), tmp_path / "n.pth")
    plan, out = run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap)
    assert "model: net.py:Net (inferred" in out
    steps = {s.torch_name: s for s in plan.steps}
    assert steps["bn.weight"].ms_name == "bn.gamma" and steps["bn.running_var"].ms_name == "bn.moving_variance"
    assert steps["bn.num_batches_tracked"].action == "dropped"
    assert steps["emb.weight"].ms_name == "emb.embedding_table"
    assert steps["out.weight"].action == "tied" and steps["out.weight"].ms_name == "emb.embedding_table"
    assert steps["rnn.weight_ih_l0"].action == "kept" and "undecided" in steps["rnn.weight_ih_l0"].reason
    # built by a function the map cannot see, but the names say BatchNorm
    assert steps["extra.running_mean"].ms_name == "extra.moving_mean"
    assert "BatchNorm" in steps["extra.running_mean"].reason
    assert len([ln for ln in out.splitlines() if ln.startswith("  ")]) == len(net.state_dict())
    saved = mindspore.load_checkpoint(str(tmp_path / "n.ckpt"))
    assert "out.weight" not in saved and saved["emb.embedding_table"].shape == (10, 3)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".ms-migrate-")]


def test_conditional_tie_not_taken(tmp_path, pmap):
    import torch

    torch.save(torch_net(tie=False).state_dict(), tmp_path / "n.pth")
    plan, _ = run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap)
    steps = {s.torch_name: s for s in plan.steps}
    assert steps["out.weight"].action == "kept"


def test_nested_state_dict(tmp_path, pmap):
    import torch

    sd = torch_net().state_dict()
    for key in ("state_dict", "model"):
        torch.save({"epoch": 3, key: sd, "optimizer": {"lr": 0.1}}, tmp_path / "n.pth")
        plan, out = run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap)
        assert f"state_dict found under the key {key!r}" in out and not plan.errors


def test_data_parallel_prefix(tmp_path, pmap):
    import torch

    torch.save({f"module.{k}": v for k, v in torch_net().state_dict().items()}, tmp_path / "n.pth")
    plan, out = run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap)
    assert "DataParallel" in out and not plan.errors


def test_pickled_extras_need_trust(tmp_path, pmap):
    import argparse

    import torch

    torch.save({"state_dict": torch_net().state_dict(), "args": argparse.Namespace(lr=0.1)}, tmp_path / "n.pth")
    with pytest.raises(CheckpointError, match="--trust-pickle"):
        run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap)
    assert not (tmp_path / "n.ckpt").exists()
    plan, out = run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap, trust_pickle=True)
    assert not plan.errors and (tmp_path / "n.ckpt").exists()


def test_unmapped_name_writes_nothing_unless_partial(tmp_path, pmap):
    import torch

    sd = torch_net().state_dict()
    sd["head.weight"] = torch.ones(2, 2)
    torch.save(sd, tmp_path / "n.pth")
    with pytest.raises(CheckpointError, match="nothing written"):
        run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap, model="Net")
    assert not (tmp_path / "n.ckpt").exists()
    plan, out = run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap, model="Net", partial=True)
    assert (tmp_path / "n.ckpt").exists() and "UNMAPPED    head.weight" in out and "has no member 'head'" in out


def test_shape_that_does_not_fit(tmp_path, pmap):
    import torch

    sd = torch_net().state_dict()
    sd["fc.weight"] = torch.ones(3, 5)  # the source says nn.Linear(4, 3): (3, 4)
    torch.save(sd, tmp_path / "n.pth")
    with pytest.raises(CheckpointError):
        run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap, model="Net")
    assert not (tmp_path / "n.ckpt").exists()
    del sd["fc.bias"]
    torch.save(sd, tmp_path / "n.pth")
    plan = run(tmp_path / "n.pth", tmp_path / "n.ckpt", pmap, model="Net", partial=True)[0]
    reasons = " | ".join(s.reason for s in plan.errors)
    assert "does not fit nn.Linear(in_features=4, out_features=3), which has (3, 4)" in reasons
    assert "missing: nn.Linear(in_features=4, out_features=3) has bias (3,)" in reasons


def write_safetensors(path, tensors: dict):
    """A minimal safetensors writer (the format: u64 header size, JSON header, raw bytes)."""
    codes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.float16): "F16"}
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.require(a, requirements='C')  # (ascontiguousarray turns 0-d into 1-d)
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_safetensors(tmp_path, pmap):
    import mindspore

    sd = {k: v.numpy() for k, v in torch_net().state_dict().items() if k != "out.weight"}  # stored once
    write_safetensors(tmp_path / "n.safetensors", sd)
    plan, out = run(tmp_path / "n.safetensors", tmp_path / "n.ckpt", pmap)
    assert not plan.errors, out
    saved = mindspore.load_checkpoint(str(tmp_path / "n.ckpt"))
    np.testing.assert_array_equal(saved["emb.embedding_table"].asnumpy(), sd["emb.weight"])
    np.testing.assert_array_equal(saved["bn.moving_mean"].asnumpy(), sd["bn.running_mean"])


def test_safetensors_library_files_read_alike(tmp_path, pmap):
    st = pytest.importorskip("safetensors.numpy")
    sd = {k: v.numpy() for k, v in torch_net().state_dict().items() if k != "out.weight"}
    st.save_file(sd, str(tmp_path / "lib.safetensors"))
    from migrator.checkpoint import read_safetensors

    got = read_safetensors(str(tmp_path / "lib.safetensors"))
    assert set(got) == set(sd) and all(np.array_equal(got[k], sd[k]) for k in sd)


# ---- through the command line, as a user meets them -------------------------------------------
class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path, pmap):
    import torch

    marker = tmp_path / "pwned"
    torch.save({"state_dict": torch_net().state_dict(), "hook": Evil(marker)}, tmp_path / "evil.pth")
    r = ms_migrate("ckpt", tmp_path / "evil.pth", "-o", tmp_path / "evil.ckpt", "--param-map", pmap)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "refused" in r.stderr and "--trust-pickle" in r.stderr and "run code" in r.stderr
    assert not marker.exists() and not (tmp_path / "evil.ckpt").exists()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_file(tmp_path, pmap, suffix):
    import torch

    sd = torch_net().state_dict()
    full = tmp_path / f"full{suffix}"
    if suffix == ".pth":
        torch.save(sd, full)
    else:
        write_safetensors(full, {k: v.numpy() for k, v in sd.items() if k != "out.weight"})
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    r = ms_migrate("ckpt", cut, "-o", tmp_path / "cut.ckpt", "--param-map", pmap)
    assert r.returncode == 2 and "truncated" in r.stderr, r.stderr
    assert not (tmp_path / "cut.ckpt").exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".ms-migrate-")]


# ---- the map ----------------------------------------------------------------------------------
MAP_SRC = {
    "pkg/layers.py": '''\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv1d(c, c, 3)
        self.scale = nn.Parameter(torch.ones(c))
        self.register_buffer("mask", torch.ones(c))
        self.register_buffer("tmp", torch.ones(c), persistent=False)
''',
    "pkg/model.py": '''\
import torch.nn as nn
from collections import OrderedDict
from .layers import Block


class Model(nn.Module):
    def __init__(self, n, kind):
        super().__init__()
        self.blocks = nn.ModuleList([Block(4) for _ in range(n)])
        self.seq = nn.Sequential(OrderedDict([("norm", nn.LayerNorm(4)), ("act", nn.PReLU())]))
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.GroupNorm(2, 4)})
        self.norm = nn.BatchNorm1d(4) if kind == "bn" else nn.Identity()
        self.dyn = build(kind)
''',
}


def test_map_schema():
    m = param_map.build(MAP_SRC)
    assert m["schema"] == "ms-migrate/param-map" and m["version"] == 1
    block = m["classes"]["pkg/layers.py:Block"]["members"]
    assert block["conv"] == {"kind": "layer", "torch": "torch.nn.Conv1d"}  # arguments not literal
    assert block["scale"] == {"kind": "parameter"}
    assert block["mask"] == {"kind": "buffer", "persistent": True}
    assert block["tmp"] == {"kind": "buffer", "persistent": False}
    model = m["classes"]["pkg/model.py:Model"]["members"]
    assert model["blocks"] == {"kind": "list", "items": {}, "any": {"kind": "class", "class": "pkg/layers.py:Block"}}
    assert list(model["seq"]["items"]) == ["norm", "act"]
    assert set(model["heads"]["items"]) == {"a", "b"}
    assert [o["torch"] for o in model["norm"]["options"]] == ["torch.nn.BatchNorm1d", "torch.nn.Identity"]
    assert model["dyn"]["kind"] == "unknown" and "build(kind)" in model["dyn"]["reason"]
    layers = m["layers"]
    assert layers["torch.nn.BatchNorm1d"]["params"]["running_mean"] == "moving_mean"
    assert layers["torch.nn.BatchNorm1d"]["drop"] == ["num_batches_tracked"]
    assert layers["torch.nn.LayerNorm"]["params"] == {"weight": "gamma", "bias": "beta"}
    assert layers["torch.nn.GroupNorm"]["params"] == {"weight": "gamma", "bias": "beta"}
    assert layers["torch.nn.PReLU"]["params"] == {"weight": "w"}
    assert layers["torch.nn.Conv1d"]["transforms"] == {"weight": "conv1d_weight"}
    assert m["transforms"]["conv1d_weight"]["reverse"] == [{"op": "remove_axis", "axis": 2}]


def test_convert_writes_the_map_by_default(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for rel, code in MAP_SRC.items():
        (src / rel).write_text(code)
    r = ms_migrate(src, "-o", tmp_path / "out", "-q")
    assert r.returncode in (0, 1), r.stderr
    m = json.loads((tmp_path / "out" / "ms_migrate_param_map.json").read_text())
    # keys are relative to the folder that holds all converted model files
    assert set(m["classes"]) == {"layers.py:Block", "model.py:Model"}
    assert m["classes"]["model.py:Model"]["members"]["blocks"]["any"] == {"kind": "class", "class": "layers.py:Block"}
