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


@pytest.mark.parametrize("script,args,expect", [
    ("train_mlp.py", ["--epochs", "2"], "restored model accuracy"),
    ("train_seq_lstm.py", ["--epochs", "2"], "resumed at epoch 2"),
    ("train_mnist.py", ["--data-dir", "{data}", "--epochs", "2", "--log-interval", "2"], "Test set: average loss"),
])
def test_converted_training_script_runs_without_torch(tmp_path, script, args, expect):
    """Each training sample, converted, trains to the end under MindSpore with torch unimportable
    (the MNIST one reads MNIST-format files the test writes, through the torchvision reader's
    translation)."""
    from mnist_files import write_mnist

    write_mnist(tmp_path / "data")
    args = [a.replace("{data}", str(tmp_path / "data")) for a in args]
    out = tmp_path / script
    convert(os.path.join(SAMPLES, script), str(out))
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.modules['torchvision'] = None; "
            f"sys.argv = [{str(out)!r}] + {args!r}; runpy.run_path({str(out)!r}, run_name='__main__')")
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert expect in r.stdout, r.stdout[-2000:]


def _run_converted(tmp_path, source, run_code):
    src = tmp_path / "prog.py"
    src.write_text(source)
    out = tmp_path / "prog_ms.py"
    convert(str(src), str(out))
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.modules['torchvision'] = None; "
            f"ns = runpy.run_path({str(out)!r}, run_name='prog'); " + run_code)
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:] + "\n" + out.read_text()[-3000:]
    return r.stdout


VISION_PROGRAM = """
import torch
from torchvision import datasets, transforms

def batches(kind, root):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    if kind == "cifar":
        ds = datasets.CIFAR10(root, train=False, transform=tf)
    else:
        ds = datasets.ImageFolder(root, transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    out = []
    for x, y in loader:
        out.append((tuple(x.shape), str(x.dtype), y.tolist()))
    return out, len(ds)
"""


def test_cifar10_python_batches_are_read(tmp_path):
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (6, 3072)).astype(np.uint8)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({"data": data, "labels": [3, 1, 4, 1, 5, 9]}, fh)
    out = _run_converted(tmp_path, VISION_PROGRAM, f"print(ns['batches']('cifar', {str(tmp_path)!r}))")
    assert "[((4, 3, 32, 32), 'Float32', [3, 1, 4, 1]), ((2, 3, 32, 32), 'Float32', [5, 9])], 6)" in out


def test_image_folder_classes_in_sorted_order(tmp_path):
    from PIL import Image

    for cls, n in (("cat", 2), ("dog", 3)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 6), (i * 40, 10, 200)).save(tmp_path / "imgs" / cls / f"{i}.png")
    out = _run_converted(tmp_path, VISION_PROGRAM, f"print(ns['batches']('folder', {str(tmp_path / 'imgs')!r}))")
    assert "[((4, 3, 6, 8), 'Float32', [0, 0, 1, 1]), ((1, 3, 6, 8), 'Float32', [1])], 5)" in out
