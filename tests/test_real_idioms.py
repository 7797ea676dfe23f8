"""Idioms of real training programs (issue 17), each converted with the CLI and RUN in MindSpore,
compared with torch. The programs benchmarks/real_programs.py runs are where these came from."""
import os
import subprocess
import sys

import numpy as np
import pytest

from equivalence import convert_program, to_numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=rtol, atol=atol)


TYPED_TENSORS = '''
import numpy as np
import torch
from torch.autograd import Variable

cuda = True if torch.cuda.is_available() else False
Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor
LongTensor = torch.cuda.LongTensor if cuda else torch.LongTensor
imgs = torch.arange(6).reshape(3, 2)
valid = Variable(Tensor(imgs.size(0), 1).fill_(1.0), requires_grad=False)
fake = Variable(Tensor(imgs.shape[0], 1).fill_(0.0), requires_grad=False)
z = Variable(Tensor(np.linspace(0, 1, 8).reshape(2, 4)))
real = Variable(imgs.type(Tensor))
labels = Variable(LongTensor(np.array([3, 1, 2])))
gen_labels = Variable(LongTensor(np.arange(4) % 3))
checks = (valid.dtype == torch.float32, real.dtype == torch.float32, labels.dtype == torch.int64)
'''


def test_typed_tensor_classes_held_in_a_variable(tmp_path):
    t, m = convert_program(tmp_path, TYPED_TENSORS)
    for name in ("valid", "fake", "z", "real", "labels", "gen_labels"):
        _close(t[name], m[name])
        assert str(to_numpy(t[name]).dtype) == str(to_numpy(m[name]).dtype), name
    assert m["checks"] == (True, True, True)


SAMPLERS = '''
import numpy as np
import torch
from torch.utils.data import (DataLoader, TensorDataset, RandomSampler, SequentialSampler, SubsetRandomSampler,
                              WeightedRandomSampler, BatchSampler, Sampler)

x = torch.arange(20, dtype=torch.float32).reshape(10, 2)
y = torch.arange(10)
ds = TensorDataset(x, y)
loader = DataLoader(ds, batch_size=4, sampler=RandomSampler(ds, replacement=True, num_samples=12))
drawn = [b[1] for b in loader]
n_batches, sizes = len(loader), [len(b) for b in drawn]
in_range = all(0 <= int(v) < 10 for b in drawn for v in b)
seq = torch.cat([b[1] for b in DataLoader(ds, batch_size=3, sampler=SequentialSampler(ds))])
subset = sorted(int(v) for b in DataLoader(ds, batch_size=2, sampler=SubsetRandomSampler([1, 4, 7])) for v in b[1])
weighted = sorted(set(int(v) for b in DataLoader(ds, batch_size=5, sampler=WeightedRandomSampler(
    [0, 0, 1, 0, 0, 0, 0, 0, 0, 1], 30)) for v in b[1]))
batches = [b[1] for b in DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, drop_last=False))]


class Reverse(Sampler):
    def __init__(self, data):
        self.n = len(data)

    def __iter__(self):
        return iter(range(self.n - 1, -1, -1))

    def __len__(self):
        return self.n


rev = [b[0] for b in DataLoader(ds, batch_size=5, sampler=Reverse(ds))]
'''


def test_samplers(tmp_path):
    t, m = convert_program(tmp_path, SAMPLERS)
    assert (m["n_batches"], m["sizes"], m["in_range"]) == (t["n_batches"], t["sizes"], True) == (3, [4, 4, 4], True)
    _close(t["seq"], m["seq"])
    assert m["subset"] == t["subset"] == [1, 4, 7]
    assert m["weighted"] == t["weighted"] == [2, 9]
    for a, b in zip(t["batches"], m["batches"]):
        _close(a, b)
    for a, b in zip(t["rev"], m["rev"]):
        _close(a, b)


LEGACY_LOSSES = '''
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.RandomState(0)
x, t = torch.tensor(rng.randn(6, 4).astype(np.float32)), torch.tensor(rng.rand(6, 4).astype(np.float32))
p = torch.sigmoid(x)
labels = torch.tensor([0, 3, 1, 2, 3, 0])
out = {
    "mse_sum": nn.MSELoss(size_average=False)(x, t),
    "mse_none": nn.MSELoss(reduce=False)(x, t),
    "l1_mean": nn.L1Loss(size_average=True, reduce=True)(x, t),
    "l1_sum": nn.L1Loss(size_average=False, reduce=True)(x, t),
    "bce_sum": nn.BCELoss(size_average=False)(p, t),
    "bce_logits_none": nn.BCEWithLogitsLoss(reduce=False)(x, t),
    "ce_sum": nn.CrossEntropyLoss(size_average=False)(x, labels),
    "nll_none": nn.NLLLoss(reduce=False, size_average=False)(F.log_softmax(x, 1), labels),
    "smooth_sum": nn.SmoothL1Loss(size_average=False)(x, t),
    "f_bce_sum": F.binary_cross_entropy(p, t, size_average=False),
    "f_mse_sum": F.mse_loss(x, t, size_average=False),
    "f_ce_none": F.cross_entropy(x, labels, reduce=False),
    "mse_elementwise_mean": nn.MSELoss(reduction="elementwise_mean")(x, t),
}
'''


def test_deprecated_size_average_and_reduce(tmp_path):
    t, m = convert_program(tmp_path, LEGACY_LOSSES)
    for k in t["out"]:  # MindSpore's BCE clamps its logs with an epsilon: sums differ by ~1e-4 relative
        np.testing.assert_allclose(to_numpy(m["out"][k]), to_numpy(t["out"][k]), rtol=3e-4, atol=1e-5, err_msg=k)
        assert to_numpy(t["out"][k]).shape == to_numpy(m["out"][k]).shape, k


CHAINED_PARAMETERS = '''
import itertools
import torch
import torch.nn as nn

encoder = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
decoder = nn.Sequential(nn.Linear(4, 3))
for m in (encoder, decoder):
    for p in m.parameters():
        nn.init.constant_(p, 0.1)
opt = torch.optim.Adam(itertools.chain(encoder.parameters(), decoder.parameters()), lr=0.01)
x = torch.ones(5, 3)
losses = []
for i in range(3):
    opt.zero_grad()
    loss = ((decoder(encoder(x)) - x) ** 2).mean()
    loss.backward()
    opt.step()
    losses.append(loss.item())
'''


def test_optimizer_over_chained_parameters_of_two_models(tmp_path):
    # GAN/AAE programs: itertools.chain of two top-level models whose parameter names collide
    t, m = convert_program(tmp_path, CHAINED_PARAMETERS)
    np.testing.assert_allclose(m["losses"], t["losses"], rtol=1e-5)


def test_torchvision_dataset_is_indexable_and_keeps_old_attribute_names(tmp_path):
    # torchvision does not import here: the expected values are read from the idx files
    from mnist_files import write_mnist
    write_mnist(tmp_path / "data", n_train=64, n_test=32)
    src = tmp_path / "src"
    src.mkdir()
    (src / "prog.py").write_text(f'''
import torch
import torchvision
train = torchvision.datasets.MNIST({str(tmp_path / "data")!r}, train=True, transform=torchvision.transforms.ToTensor())
test = torchvision.datasets.MNIST({str(tmp_path / "data")!r}, train=False)
img, label = train[5]
n = len(train)
test_x = torch.unsqueeze(test.test_data, dim=1).type(torch.FloatTensor)[:10] / 255.
test_y = test.test_labels[:10]
shapes = [x.shape for x, y in torch.utils.data.DataLoader(train, batch_size=16)]
''')
    r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(tmp_path / "out"), "-q"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    import runpy
    m = runpy.run_path(str(tmp_path / "out" / "prog.py"))
    raw = tmp_path / "data" / "MNIST" / "raw"
    images = np.frombuffer((raw / "train-images-idx3-ubyte").read_bytes(), np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer((raw / "train-labels-idx1-ubyte").read_bytes(), np.uint8, offset=8)
    t_images = np.frombuffer((raw / "t10k-images-idx3-ubyte").read_bytes(), np.uint8, offset=16).reshape(-1, 28, 28)
    t_labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes(), np.uint8, offset=8)
    _close(m["img"], images[5][None] / np.float32(255))
    assert m["label"] == labels[5] and m["n"] == 64
    _close(m["test_x"], t_images[:10, None].astype(np.float32) / 255.)
    _close(m["test_y"], t_labels[:10].astype(np.int64))
    assert [tuple(s) for s in m["shapes"]] == [(16, 1, 28, 28)] * 4


# a user Dataset whose __getitem__ builds tensors (slice assignment into a new tensor), trained with
# gradients: in MindSpore's pipeline thread this crashed the process (segfault) in most runs
TENSOR_DATASET = '''
import torch
import torch.nn as nn
from torch.utils.data import Dataset, DataLoader

torch.manual_seed(0)


class Bars(Dataset):
    def __len__(self):
        return 96

    def __getitem__(self, i):
        x = torch.zeros(16)
        x[: i % 16] = 1.0
        x[i % 5] = -1.0
        return x, torch.tensor(i % 2)


model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(EPOCHS):
    for x, y in DataLoader(Bars(), batch_size=8, shuffle=True):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
print("final loss", float(loss))
'''


def convert_and_run_n(folder, source, runs, timeout=300):
    """Convert with the CLI into a folder and run the output `runs` times in fresh processes; the
    return codes."""
    src, out = os.path.join(folder, "src"), os.path.join(folder, "out")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "train.py"), "w") as f:
        f.write(source)
    r = subprocess.run([sys.executable, "-m", "migrator", src, "-o", out, "-q"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
    codes = []
    for _ in range(runs):
        p = subprocess.run([sys.executable, "train.py"], cwd=out, env=env, capture_output=True, text=True,
                           timeout=timeout)
        assert p.returncode != 0 or "final loss" in p.stdout
        codes.append(p.returncode if p.returncode == 0 else (p.returncode, p.stderr[-500:]))
    return codes


def test_dataset_building_tensors_trains_without_crashing(tmp_path):
    codes = convert_and_run_n(tmp_path, TENSOR_DATASET.replace("EPOCHS", "2"), runs=3)
    assert codes == [0, 0, 0]


if __name__ == "__main__":  # the manual check: 20 consecutive runs (python tests/test_real_idioms.py [N])
    import tempfile
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as d:
        codes = convert_and_run_n(d, TENSOR_DATASET.replace("EPOCHS", "3"), runs=n)
    print(f"{sum(c == 0 for c in codes)} of {n} runs ended normally; failures: {[c for c in codes if c != 0]}")
    sys.exit(0 if all(c == 0 for c in codes) else 1)
