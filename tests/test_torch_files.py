"""torch.load in converted code reads files torch wrote (runtime/torch_files.py, no torch needed):
both of torch.save's layouts, state_dicts, checkpoint dicts, numpy arrays, views of one storage,
bfloat16; and torch.save / torch.load with open file objects round-trip in MindSpore."""
import argparse
import runpy
import subprocess
import sys

import numpy as np
import pytest

ROOT = __import__("os").path.dirname(__import__("os").path.dirname(__import__("os").path.abspath(__file__)))

USER_PROGRAM = '''
import torch


def load(path):
    return torch.load(path)


def load_from_file(path):
    with open(path, "rb") as f:
        return torch.load(f)


def save_to_file(obj, path):
    with open(path, "wb") as f:
        torch.save(obj, f)
'''


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch_files")
    (d / "prog.py").write_text(USER_PROGRAM)
    r = subprocess.run([sys.executable, "-m", "migrator", str(d / "prog.py"), "-o", str(d / "prog_ms.py"), "-q"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (d / "prog_ms.py").read_text()
    assert "import torch" not in text and "ms-migrate: untranslated" not in text
    return runpy.run_path(str(d / "prog_ms.py"), run_name="prog_ms")


def _contents():
    import torch

    torch.manual_seed(0)
    base = torch.randn(4, 6)
    return {
        "model": torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)).state_dict(),
        "epoch": 7, "best": 0.25, "name": "run-1", "sizes": [1, 2, (3, 4)],
        "args": argparse.Namespace(lr=0.1, layers=[2, 2]),
        "transposed": base.t(), "row": base[1], "same_storage": base[:, 2:4],
        "half": torch.randn(3).half(), "bf16": torch.randn(5).bfloat16(), "ints": torch.arange(6).view(2, 3),
        "flags": torch.tensor([True, False]), "array": np.arange(5.0),
    }


def _check(loaded, expected):
    import mindspore
    import torch

    if isinstance(expected, torch.Tensor):
        assert isinstance(loaded, mindspore.Tensor), type(loaded)
        want = expected.float().numpy() if expected.dtype == torch.bfloat16 else expected.numpy()
        assert loaded.shape == tuple(expected.shape)
        np.testing.assert_array_equal(loaded.asnumpy(), want)
    elif isinstance(expected, dict):
        assert list(loaded) == list(expected)
        for k in expected:
            _check(loaded[k], expected[k])
    elif isinstance(expected, (list, tuple)):
        assert type(loaded) is type(expected) and len(loaded) == len(expected)
        for a, b in zip(loaded, expected):
            _check(a, b)
    elif isinstance(expected, np.ndarray):
        assert isinstance(loaded, np.ndarray)
        np.testing.assert_array_equal(loaded, expected)
    else:
        assert loaded == expected


@pytest.mark.parametrize("layout", ["zip", "legacy"])
@pytest.mark.parametrize("reader", ["load", "load_from_file"])
def test_files_torch_wrote_load_without_torch(converted, tmp_path, layout, reader):
    import torch

    expected = _contents()
    torch.save(expected, tmp_path / "ck.pth", _use_new_zipfile_serialization=layout == "zip")
    _check(converted[reader](str(tmp_path / "ck.pth")), expected)


def test_numpy_data_and_file_objects_round_trip(converted, tmp_path):
    """time_sequence_prediction's generate_sine_wave.py: `torch.save(np_array, open(p, 'wb'))`,
    then `torch.load(p)` gives the numpy array back (not a tensor), as in torch."""
    import mindspore

    data = np.sin(np.arange(12.0).reshape(3, 4))
    converted["save_to_file"](data, str(tmp_path / "traindata.pt"))
    back = converted["load"](str(tmp_path / "traindata.pt"))
    assert isinstance(back, np.ndarray) and back.dtype == np.float64
    np.testing.assert_array_equal(back, data)
    state = {"w": mindspore.Tensor(np.ones((2, 2), np.float32)), "step": 3}
    converted["save_to_file"](state, str(tmp_path / "s.pt"))
    again = converted["load_from_file"](str(tmp_path / "s.pt"))
    assert again["step"] == 3 and again["w"].asnumpy().tolist() == [[1, 1], [1, 1]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt", "traindata.pt"]  # nothing else left


def test_objects_only_torch_can_build_are_refused_by_name(converted, tmp_path):
    import torch

    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "whole_model.pth")
    with pytest.raises(Exception, match="torch.nn.modules.linear.Linear"):
        converted["load"](str(tmp_path / "whole_model.pth"))


MODEL_PROGRAM = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.conv = nn.Conv1d(6, 6, 3, padding=1)
        self.bn = nn.BatchNorm1d(6)
        self.fixed = nn.BatchNorm1d(6, affine=False)
        self.act = nn.PReLU()
        self.enc = nn.TransformerEncoderLayer(6, 2, dim_feedforward=8, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(6)
        self.img = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.GroupNorm(1, 2))
        self.vol = nn.BatchNorm3d(1)

    def forward(self, tokens, image, volume):
        x = self.emb(tokens).transpose(1, 2)
        x = self.act(self.fixed(self.bn(self.conv(x))))
        x = self.norm(self.enc(x.transpose(1, 2)))
        return x, self.img(image), self.vol(volume)


def restore(model, path, strict=True):
    return model.load_state_dict(torch.load(path, map_location="cpu"), strict=strict)
'''


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_state_dict_torch_wrote_loads_into_the_converted_model(tmp_path, wrapped):
    """model.load_state_dict(torch.load(p)) with p written by torch: torch's parameter names
    (BatchNorm, affine-free BatchNorm, LayerNorm, GroupNorm, Embedding, PReLU, a Transformer
    layer's linear1/2, BatchNorm3d, Conv1d's 3-d weight; DataParallel's `module.` prefix) reach
    the converted model, which then computes what torch's computes."""
    import mindspore
    import torch

    (tmp_path / "net.py").write_text(MODEL_PROGRAM)
    r = subprocess.run([sys.executable, "-m", "migrator", str(tmp_path / "net.py"), "-o", str(tmp_path / "out" / "net.py"),
                        "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    torch_ns = {}
    exec(compile(MODEL_PROGRAM, "net_torch", "exec"), torch_ns)
    torch.manual_seed(0)
    tnet = torch_ns["Net"]()
    with torch.no_grad():  # statistics and affine values that are not the initial ones
        for m in tnet.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
            for p in m.parameters(recurse=False):
                p.add_(torch.randn_like(p) * 0.1)
    tnet.eval()
    state = torch.nn.DataParallel(tnet).state_dict() if wrapped else tnet.state_dict()
    torch.save(state, tmp_path / "net.pth")
    ms = runpy.run_path(str(tmp_path / "out" / "net.py"), run_name="net_ms")
    mnet = ms["Net"]()
    result = ms["restore"](mnet, str(tmp_path / "net.pth"))
    assert not result.missing_keys and not result.unexpected_keys
    mnet.set_train(False)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 10, (2, 5))
    image = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    volume = rng.standard_normal((2, 1, 2, 3, 3)).astype(np.float32)
    outs_t = tnet(torch.from_numpy(tokens), torch.from_numpy(image), torch.from_numpy(volume))
    outs_m = mnet(mindspore.Tensor(tokens, mindspore.int32), mindspore.Tensor(image), mindspore.Tensor(volume))
    for t, m in zip(outs_t, outs_m):
        np.testing.assert_allclose(m.asnumpy(), t.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_torch_names_that_match_nothing_are_reported(tmp_path):
    import torch

    (tmp_path / "net.py").write_text(MODEL_PROGRAM)
    r = subprocess.run([sys.executable, "-m", "migrator", str(tmp_path / "net.py"), "-o", str(tmp_path / "out" / "net.py"),
                        "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    torch.save({"emb.weight": torch.zeros(10, 6), "head.weight": torch.zeros(2, 2)}, tmp_path / "part.pth")
    ms = runpy.run_path(str(tmp_path / "out" / "net.py"), run_name="net_ms2")
    with pytest.raises(RuntimeError, match="head.weight"):
        ms["restore"](ms["Net"](), str(tmp_path / "part.pth"))
    result = ms["restore"](ms["Net"](), str(tmp_path / "part.pth"), strict=False)
    assert result.unexpected_keys == ["head.weight"] and "conv.weight" in result.missing_keys


WHOLE_MODEL = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, hidden=3):
        super().__init__()
        self.fc = nn.Linear(2, hidden)
        self.bn = nn.BatchNorm1d(hidden)

    def forward(self, x):
        return self.bn(self.fc(x))


def save_whole(model, path):
    with open(path, "wb") as f:
        torch.save(model, f)


def load_whole(path):
    with open(path, "rb") as f:
        return torch.load(f)
'''


def test_a_model_saved_whole_loads_back_as_a_model(tmp_path):
    """word_language_model's `torch.save(model, f)` ... `model = torch.load(f)`: the loaded object
    is the model as saved (later training does not change it); in another process, a class
    built without arguments gets the weights, else a clear error."""
    import mindspore

    (tmp_path / "whole.py").write_text(WHOLE_MODEL)
    r = subprocess.run([sys.executable, "-m", "migrator", str(tmp_path / "whole.py"), "-o", str(tmp_path / "out" / "whole.py"),
                        "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    sys.path.insert(0, str(tmp_path / "out"))
    try:
        import whole
    finally:
        sys.path.pop(0)
    ms = vars(whole)
    net = ms["Net"]()
    net.set_train(False)
    x = mindspore.Tensor(np.ones((4, 2), np.float32))
    expected = net(x).asnumpy()
    ms["save_whole"](net, str(tmp_path / "model.pt"))
    net.fc.weight.set_data(net.fc.weight * 0)  # training goes on after the save
    back = ms["load_whole"](str(tmp_path / "model.pt"))
    back.set_train(False)
    assert type(back).__name__ == "Net"
    np.testing.assert_allclose(back(x).asnumpy(), expected, rtol=1e-6)
    code = ("import sys, runpy, numpy as np, mindspore; sys.path.insert(0, 'out'); import whole; "
            "m = whole.load_whole('model.pt'); m.set_train(False); "
            "print(np.abs(m(mindspore.Tensor(np.ones((4, 2), np.float32))).asnumpy() - np.load('expected.npy')).max())")
    np.save(tmp_path / "expected.npy", expected)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                           env=dict(__import__("os").environ, GLOG_v="3"))
    assert other.returncode == 0 and float(other.stdout.split()[-1]) < 1e-6, other.stderr[-2000:]
