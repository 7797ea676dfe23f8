"""Training scripts: the converted training step trains like the torch one.

The sample's own train_epoch (restructured by ms-migrate into a forward function +
mindspore.value_and_grad + optimizer(grads)) runs 20 steps in each framework from the same
weights on the same batches (no shuffle, no dropout). Losses must agree at every step within
1e-4 relative, for SGD with momentum and for Adam.
"""
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest

from equivalence import compare, load_torch_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples")


def convert(src, dst):
    r = subprocess.run([sys.executable, "-m", "migrator", src, "-o", dst, "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode in (0, 1), r.stderr
    return r


@pytest.fixture(scope="module")
def mlp_modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "train_mlp.py"
    convert(os.path.join(SAMPLES, "train_mlp.py"), str(out))
    torch_mod = runpy.run_path(os.path.join(SAMPLES, "train_mlp.py"), run_name="torch_train")
    ms_mod = runpy.run_path(str(out), run_name="ms_train")
    return torch_mod, ms_mod


@pytest.mark.parametrize("kind,lr", [("sgd", 0.05), ("adam", 0.01)])
def test_losses_agree_for_20_steps(mlp_modules, kind, lr):
    import mindspore
    import torch

    tmod, mmod = mlp_modules
    torch.manual_seed(1)
    tnet, mnet = tmod["Classifier"](), mmod["Classifier"]()
    load_torch_state(tnet, mnet)
    topt = tmod["make_optimizer"](tnet, kind, lr)
    mopt = mmod["make_optimizer"](mnet, kind, lr)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((16, 10)).astype(np.float32) for _ in range(20)]
    ys = [rng.integers(0, 3, (16,)).astype(np.int64) for _ in range(20)]
    t_losses = tmod["train_epoch"](tnet, [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(xs, ys)], topt)
    m_losses = mmod["train_epoch"](mnet, [(mindspore.Tensor(x), mindspore.Tensor(y)) for x, y in zip(xs, ys)], mopt)
    assert len(t_losses) == len(m_losses) == 20
    rel = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(t_losses, m_losses)]
    print(f"{kind}: max relative loss difference over 20 steps {max(rel):.2e}")
    assert max(rel) <= 1e-4, list(zip(t_losses, m_losses))
    # and the weights they end with
    assert not compare(tnet.net[0].weight, mnet.net[0].weight, rtol=1e-4)


@pytest.mark.parametrize("script,args", [("train_mlp.py", ["--epochs", "2"])])
def test_converted_training_script_runs_without_torch(tmp_path, script, args):
    out = tmp_path / script
    convert(os.path.join(SAMPLES, script), str(out))
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.modules['torchvision'] = None; "
            f"sys.argv = [{str(out)!r}] + {args!r}; runpy.run_path({str(out)!r}, run_name='__main__')")
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "restored model accuracy" in r.stdout
