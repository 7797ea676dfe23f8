"""The bundled samples: converted by the CLI, then each model is run in torch and in MindSpore
with the same weights (copied through the rules' parameter names) and the same inputs.
Outputs must agree within the harness tolerance: max abs error <= 1e-6 + 1e-5 * scale."""
import ast
import os
import runpy
import subprocess
import sys

import pytest

from equivalence import compare, load_torch_state, make_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples")

MODELS = [
    # file, class, constructor kwargs, inputs
    ("mlp.py", "MLP", {}, {"x": "randn(8, 20)"}),
    ("cnn_bn.py", "SmallCNN", {}, {"x": "randn(4, 3, 32, 32)"}),
    ("lstm_tagger.py", "LSTMTagger", {}, {"tokens": "randint(1, 100, (3, 12))"}),
    ("transformer_block.py", "Encoder", {}, {"x": "randn(2, 10, 32)"}),
]


def ms_migrate(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True, text=True, cwd=cwd or ROOT)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples_ms")
    r = ms_migrate(SAMPLES, "-o", str(out / "samples"))
    assert r.returncode in (0, 1), r.stderr
    return out / "samples"


@pytest.mark.parametrize("filename,cls,kwargs,inputs", MODELS, ids=[m[0] for m in MODELS])
def test_sample_model_matches(converted, filename, cls, kwargs, inputs):
    import mindspore
    import torch

    out_file = converted / filename
    ast.parse(out_file.read_text())
    tmod = runpy.run_path(os.path.join(SAMPLES, filename), run_name="torch_sample")
    mmod = runpy.run_path(str(out_file), run_name="ms_sample")
    torch.manual_seed(0)
    tnet = tmod[cls](**kwargs)
    mnet = mmod[cls](**kwargs)
    load_torch_state(tnet, mnet)
    # make BatchNorm statistics non-trivial so a wrong normalisation cannot hide
    with torch.no_grad():
        for m in tnet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    load_torch_state(tnet, mnet)
    tnet.eval()
    mnet.set_train(False)
    data = make_inputs(inputs, seed=1)
    t_out = tnet(*[torch.from_numpy(v) for v in data.values()])
    m_out = mnet(*[mindspore.Tensor(v) for v in data.values()])
    diffs = compare(t_out, m_out)
    assert not diffs, diffs


@pytest.mark.parametrize("filename", sorted(f for f in os.listdir(SAMPLES) if f.endswith(".py") and not f.startswith("train_")))
def test_converted_sample_runs_without_torch(converted, filename):
    """The converted model script's __main__ runs with torch made unimportable (training scripts: test_training.py)."""
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.modules['torchvision'] = None; "
            f"runpy.run_path({str(converted / filename)!r}, run_name='__main__')")
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(converted), env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
