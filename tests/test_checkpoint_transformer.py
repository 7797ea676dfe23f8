"""Checkpoints of models built from torch's transformer layers. MindSpore names the layers inside
them differently (linear1/linear2 are dense1/dense2, the LayerNorms' weight/bias gamma/beta), at
any depth: `encoder.layers.0.norm1.weight` is `encoder.layers.0.norm1.gamma`. The rules' `members`
say which layers a torch layer holds; the parameter map renames each with its own rule, also in a
subclass of a torch layer (word_language_model's TransformerModel(nn.Transformer)).

Each model: converted with the CLI (with its parameter map), random torch weights, `ms-migrate ckpt`
(run in-process), strict load into the converted model, eval outputs compared (relative error
<= 1e-5). The same torch state_dict also goes through the converted program's load_state_dict
helper, which maps torch's names at run time."""
import runpy
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from migrator.cli import main

from equivalence import make_inputs
from test_checkpoint import ms_migrate, randomize

SRC = '''
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.encoder(x))


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                                          dim_feedforward=32, dropout=0.0)

    def forward(self, src, tgt):
        return self.transformer(src, tgt)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, norm_first=True)

    def forward(self, tgt, memory):
        return self.layer(tgt, memory)


class LanguageModel(nn.Transformer):
    """A subclass of a torch layer: encoder/decoder come from nn.Transformer; decoder replaced."""
    def __init__(self):
        super().__init__(d_model=16, nhead=2, num_encoder_layers=2, dim_feedforward=32, dropout=0.0)
        self.decoder = nn.Linear(16, 7)

    def forward(self, x):
        return self.decoder(self.encoder(x))
'''

X = "randn(5, 2, 16)"
CASES = [
    ("Encoder", {"x": X}),
    ("Seq2Seq", {"src": X, "tgt": "randn(4, 2, 16)"}),
    ("Decoder", {"tgt": "randn(4, 2, 16)", "memory": X}),
    ("LanguageModel", {"x": X}),
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("ckpt_transformer")
    src = base / "src"
    src.mkdir()
    (src / "models.py").write_text(SRC)
    r = ms_migrate(src, "-o", base / "out", "--param-map", base / "map.json", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    sys.path.insert(0, str(base / "out"))  # the converted file's helper module
    try:
        tns = runpy.run_path(str(src / "models.py"), run_name="torch_tf_models")
        mns = runpy.run_path(str(base / "out" / "models.py"), run_name="ms_tf_models")
    finally:
        sys.path.remove(str(base / "out"))
    return base, tns, mns


def _rel_err(t_out, m_out) -> float:
    t, m = t_out.detach().numpy().astype(np.float64), m_out.asnumpy().astype(np.float64)
    assert t.shape == m.shape, (t.shape, m.shape)
    return float(np.max(np.abs(t - m)) / np.max(np.abs(t)))


def _run(tnet, mnet, inputs):
    import mindspore
    import torch

    data = make_inputs(inputs, seed=1)
    tnet.eval()
    mnet.set_train(False)
    with torch.no_grad():
        t_out = tnet(*[torch.from_numpy(v) for v in data.values()])
    return t_out, mnet(*[mindspore.Tensor(v) for v in data.values()])


@pytest.mark.parametrize("cls,inputs", CASES, ids=[c[0] for c in CASES])
def test_transformer_checkpoint(converted, cls, inputs):
    import mindspore
    import torch

    base, tns, mns = converted
    torch.manual_seed(0)
    tnet = tns[cls]()
    randomize(tnet)  # the LayerNorms' ones/zeros become random: a missed gamma/beta shows
    pth, ckpt = base / f"{cls}.pth", base / f"{cls}.ckpt"
    torch.save(tnet.state_dict(), pth)
    # `ms-migrate ckpt` run in this process (torch is already imported: seconds saved per case)
    r = CliRunner().invoke(main, ["ckpt", str(pth), "-o", str(ckpt), "--param-map", str(base / "map.json"),
                                  "--model", cls])
    assert r.exit_code == 0, r.output
    assert "dense1" in r.output and "gamma" in r.output, r.output
    mindspore.set_seed(1)
    mnet = mns[cls]()
    not_loaded, unused = mindspore.load_param_into_net(mnet, mindspore.load_checkpoint(str(ckpt)), strict_load=True)
    assert not_loaded == [] and unused == [], (not_loaded, unused)
    t_out, m_out = _run(tnet, mnet, inputs)
    err = _rel_err(t_out, m_out)
    print(f"{cls}: ckpt eval relative error {err:.3g}")
    assert err <= 1e-5

    # the runtime helper (model.load_state_dict(torch.load(p)) in a converted program): torch's names
    from migrator.runtime import load_state_dict as helper

    mindspore.set_seed(2)
    mnet2 = mns[cls]()
    sd = {k: mindspore.Tensor(v.numpy()) for k, v in tnet.state_dict().items()}
    helper.ms_load_state_dict(mnet2, sd, strict=True)
    t_out, m_out = _run(tnet, mnet2, inputs)
    err = _rel_err(t_out, m_out)
    print(f"{cls}: load_state_dict eval relative error {err:.3g}")
    assert err <= 1e-5
