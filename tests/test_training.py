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

from equivalence import compare, convert_program, load_torch_state

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


def _both(tmp_path, name: str, program: str):
    """Write a torch program, convert it (no marker may be left), load both versions:
    (torch namespace, MindSpore namespace, converted text, the converter's CompletedProcess)."""
    src = tmp_path / f"{name}.py"
    src.write_text(program)
    out = tmp_path / f"{name}_ms.py"
    r = convert(str(src), str(out))
    text = out.read_text()
    assert "ms-migrate: untranslated" not in text, text
    return runpy.run_path(str(src), run_name="t"), runpy.run_path(str(out), run_name="m"), text, r


PHASES_PROGRAM = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.body(x)


def make(model):
    return torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9), nn.CrossEntropyLoss()


def run_phases(model, loaders, optimizer, criterion, epochs):
    """The torchvision fine-tuning tutorial's loop: one loop for both phases, the backward and
    the step only under `if phase == 'train'`, inside torch.set_grad_enabled."""
    history = []
    for epoch in range(epochs):
        for phase in ["train", "val"]:
            if phase == "train":
                model.train()
            else:
                model.eval()
            running_loss, running_corrects = 0.0, 0
            for inputs, labels in loaders[phase]:
                optimizer.zero_grad()
                with torch.set_grad_enabled(phase == "train"):
                    outputs = model(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels)
                    if phase == "train":
                        loss.backward()
                        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                        optimizer.step()
                    else:
                        running_corrects += 0  # an else branch of the user's stays
                running_loss += loss.item() * inputs.size(0)
                running_corrects += int((preds == labels).sum())
            history.append((phase, running_loss, running_corrects))
    return history
'''


def test_guarded_backward_trains_like_torch(tmp_path):
    """`if phase == 'train': loss.backward(); clip; optimizer.step()` with the loss computed just
    before the `if`: converted (no marker left), it trains and evaluates as torch does for 3 epochs
    from the same weights on the same batches (loss sums within 1e-4 relative, same counts)."""
    import mindspore
    import torch

    tmod, mmod, text, r = _both(tmp_path, "phases", PHASES_PROGRAM)
    assert ".backward()" not in text
    torch.manual_seed(0)
    tnet, mnet = tmod["Net"](), mmod["Net"]()
    load_torch_state(tnet, mnet)
    rng = np.random.default_rng(3)
    data = {ph: [(rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, (8,)).astype(np.int64))
                 for _ in range(4)] for ph in ("train", "val")}
    t_loaders = {ph: [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in b] for ph, b in data.items()}
    m_loaders = {ph: [(mindspore.Tensor(x), mindspore.Tensor(y)) for x, y in b] for ph, b in data.items()}
    t_hist = tmod["run_phases"](tnet, t_loaders, *tmod["make"](tnet), 3)
    m_hist = mmod["run_phases"](mnet, m_loaders, *mmod["make"](mnet), 3)
    assert [h[0] for h in t_hist] == [h[0] for h in m_hist]
    assert [h[2] for h in t_hist] == [h[2] for h in m_hist]
    rel = max(abs(a[1] - b[1]) / abs(a[1]) for a, b in zip(t_hist, m_hist))
    print(f"guarded backward: max relative difference of the loss sums over 3 epochs {rel:.2e}")
    assert rel <= 1e-4, (t_hist, m_hist)
    assert t_hist[0][1] != t_hist[2][1]  # it did train


AMP_PROGRAM = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def make(model):
    # torch's CPU GradScaler really scales (by 65536): in float32 that is exact, which is what the
    # converted identity scaler relies on
    return torch.optim.Adam(model.parameters(), lr=0.01), torch.amp.GradScaler("cpu")


def train(model, batches, optimizer, scaler):
    losses = []
    for inputs, labels in batches:
        optimizer.zero_grad()
        with torch.autocast(device_type="cuda", dtype=torch.float16):  # no CUDA here: torch runs float32
            outputs = model(inputs)
            loss = F.cross_entropy(outputs, labels)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
    return losses, scaler.state_dict()["growth_interval"]
'''


def test_amp_training_step_trains_like_torch(tmp_path):
    """autocast + GradScaler (scale(loss).backward(), unscale_, clip, step, update): converted with
    no marker; 20 Adam steps from the same weights agree with torch's (which scales by 65536 on
    CPU, exact in float32) within 1e-4 relative."""
    import warnings

    import mindspore
    import torch

    tmod, mmod, text, r = _both(tmp_path, "amp_train", AMP_PROGRAM)
    torch.manual_seed(0)
    tnet, mnet = tmod["Net"](), mmod["Net"]()
    load_torch_state(tnet, mnet)
    rng = np.random.default_rng(5)
    data = [(rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, (8,)).astype(np.int64)) for _ in range(20)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "CUDA is not available, disabling autocast"
        t_losses, t_gi = tmod["train"](tnet, [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data], *tmod["make"](tnet))
    m_losses, m_gi = mmod["train"](mnet, [(mindspore.Tensor(x), mindspore.Tensor(y)) for x, y in data], *mmod["make"](mnet))
    rel = max(abs(a - b) / abs(a) for a, b in zip(t_losses, m_losses))
    print(f"amp step: max relative loss difference over 20 steps {rel:.2e}")
    assert rel <= 1e-4, list(zip(t_losses, m_losses))
    assert t_gi == m_gi == 2000
    assert t_losses[-1] < t_losses[0]


NESTED_PROGRAM = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x, y):
        logits = self.fc2(torch.tanh(self.fc1(x)))
        return logits, F.cross_entropy(logits, y)


class Trainer:
    """minGPT's trainer shape: backward and step two `if`s deep, with and without a GradScaler."""

    def __init__(self, model, use_amp):
        self.model, self.use_amp = model, use_amp
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
        self.scaler = torch.amp.GradScaler("cpu")

    def run_batch(self, source, targets, train=True):
        with torch.set_grad_enabled(train), torch.amp.autocast(device_type="cuda", dtype=torch.float16, enabled=False):
            _, loss = self.model(source, targets)

        if train:
            self.optimizer.zero_grad(set_to_none=True)
            if self.use_amp:
                self.scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
        return loss.item()
'''


@pytest.mark.parametrize("use_amp", [True, False])
def test_backward_two_ifs_deep_trains_like_torch(tmp_path, use_amp):
    """The backward in `if train:` -> `if use_amp: ... else: ...` branches: converted without a
    marker; 15 AdamW steps (plus an evaluation batch after every 5) agree with torch within 1e-4."""
    import mindspore
    import torch

    tmod, mmod, text, r = _both(tmp_path, "trainer", NESTED_PROGRAM)
    torch.manual_seed(0)
    tnet, mnet = tmod["Net"](), mmod["Net"]()
    load_torch_state(tnet, mnet)
    tt, mt = tmod["Trainer"](tnet, use_amp), mmod["Trainer"](mnet, use_amp)
    rng = np.random.default_rng(7)
    t_losses, m_losses = [], []
    for step in range(15):
        x, y = rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, (8,)).astype(np.int64)
        train = step % 5 != 4
        t_losses.append(tt.run_batch(torch.from_numpy(x), torch.from_numpy(y), train))
        m_losses.append(mt.run_batch(mindspore.Tensor(x), mindspore.Tensor(y), train))
    rel = max(abs(a - b) / abs(a) for a, b in zip(t_losses, m_losses))
    print(f"two ifs deep (use_amp={use_amp}): max relative loss difference {rel:.2e}")
    assert rel <= 1e-4, list(zip(t_losses, m_losses))


ACCUM_PROGRAM = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x, y=None):
        logits = self.fc2(torch.tanh(self.fc1(x)))
        return logits, F.cross_entropy(logits, y)

    def configure_optimizers(self, lr):
        return OPTIMIZER


def train(model, batches, steps, accum, grad_clip=0.5):
    """nanoGPT's loop: micro-steps accumulate gradients (the loss scaled by 1/accum) through a
    GradScaler, then unscale, clip, step, update and zero the gradients."""
    optimizer = model.configure_optimizers(0.01)
    scaler = SCALER
    it = iter(batches)
    X, Y = next(it)
    losses = []
    for step in range(steps):
        for micro_step in range(accum):
            logits, loss = model(X, Y)
            loss = loss / accum
            X, Y = next(it)
            scaler.scale(loss).backward()
        if grad_clip != 0.0:
            UNSCALE
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item() * accum)
    return losses
'''


ADAMW = "torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=0.1)"
SGD = "torch.optim.SGD(self.parameters(), lr=lr * 100, momentum=0.9)"


@pytest.mark.parametrize("scaler,unscale,optimizer", [
    ("torch.cuda.amp.GradScaler(enabled=False)", "scaler.unscale_(optimizer)", ADAMW),
    ("torch.amp.GradScaler('cpu')", "scaler.unscale_(optimizer)", SGD),
    ("torch.amp.GradScaler('cpu')", "pass  # clipping the scaled gradients", SGD),
])
def test_accumulated_scaled_steps_train_like_torch(tmp_path, scaler, unscale, optimizer):
    """Gradient accumulation over micro-steps with a GradScaler, the optimizer made by the model
    (configure_optimizers), clip/step/zero_grad after the loop: no marker; 6 steps of 3 micro-steps
    agree with torch within 1e-4 (torch's CPU scaler really scales; without unscale_ it clips the
    scaled gradients, which the conversion reproduces)."""
    import warnings

    import mindspore
    import torch

    program = ACCUM_PROGRAM.replace("SCALER", scaler).replace("UNSCALE", unscale).replace("OPTIMIZER", optimizer)
    tmod, mmod, text, r = _both(tmp_path, "accum", program)
    torch.manual_seed(0)
    tnet, mnet = tmod["Net"](), mmod["Net"]()
    load_torch_state(tnet, mnet)
    rng = np.random.default_rng(11)
    data = [(rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, (8,)).astype(np.int64)) for _ in range(19)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_losses = tmod["train"](tnet, [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data], 6, 3)
    m_losses = mmod["train"](mnet, [(mindspore.Tensor(x), mindspore.Tensor(y)) for x, y in data], 6, 3)
    rel = max(abs(a - b) / abs(a) for a, b in zip(t_losses, m_losses))
    print(f"accumulation with {scaler} / {unscale.split()[0]} / {optimizer.split('(')[0]}: max relative loss "
          f"difference {rel:.2e}")
    assert rel <= 1e-4, list(zip(t_losses, m_losses))
    if unscale.startswith("pass"):
        assert "/ scaler.get_scale()" in text


def test_policy_gradient_step_with_a_distribution_in_the_forward():
    """A PPO/REINFORCE-style step: `dist = Categorical(logits=policy(obs))` inside the loss code.
    The forward function returns the distribution besides the loss (MindSpore's has_aux refused a
    lone non-tensor aux value; it now goes in a list); 5 steps match torch's weights."""
    from equivalence import check_example

    setup = """
from torch.distributions import Categorical, Normal
policy = nn.Linear(4, 3)
opt = torch.optim.Adam(policy.parameters(), lr=0.05)
def train(obs, actions, adv):
    for _ in range(5):
        dist = Categorical(logits=policy(obs))
        loss = -(dist.log_prob(actions) * adv).mean() - 0.01 * dist.entropy().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return policy.weight, policy.bias, dist.probs
"""
    check_example(setup, "train(obs, actions, adv)", {"obs": "randn(6, 4)", "actions": "randint(0, 3, (6,))",
                                                      "adv": "randn(6)"}, label="policy gradient")


@pytest.mark.parametrize("update", [
    "for p in net.parameters():\n            p.data.add_(-0.1 * p.grad)",
    "with torch.no_grad():\n            for p in net.parameters():\n                p.copy_(p - 0.1 * p.grad)",
])
def test_backward_without_an_optimizer_fills_grad(update):
    """pytorch/examples' regression loop: zero_grad(), loss.backward(), then a hand-written update
    reading p.grad. The gradients are attached to the parameters' .grad (added, as torch does,
    until zero_grad); 6 steps give torch's weights."""
    from equivalence import check_example

    setup = f"""
net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
def train(x, y):
    for step in range(6):
        net.zero_grad()
        out = F.smooth_l1_loss(net(x), y)
        out.backward()
        {update}
    return net[0].weight, net[2].bias, out
"""
    conv = check_example(setup, "train(x, y)", {"x": "randn(8, 3)", "y": "randn(8, 1)"}, label="manual update")
    assert "ms_attach_grads(" in conv.ms_code and "ms_zero_grads(" in conv.ms_code


@pytest.mark.parametrize("use_optimizer", [False, True])
def test_optimizer_or_hand_written_update_chosen_at_run_time(use_optimizer):
    """word_language_model's loop: zero_grad of the optimizer or the model, backward, clip_grad_norm_,
    then `if use_optimizer: optimizer.step() else: p.data.add_(p.grad, alpha=-lr)`. The optimizer
    exists only on one path; the gradients go to .grad, the clip and the step read them there.
    6 steps on each path give torch's weights."""
    from equivalence import check_example

    setup = f"""
use_optimizer = {use_optimizer}
model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
criterion = nn.MSELoss()
if use_optimizer:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
def train(x, y):
    for step in range(6):
        if use_optimizer:
            optimizer.zero_grad()
        else:
            model.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        if use_optimizer:
            optimizer.step()
        else:
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-0.1)
    return model[0].weight, model[2].bias, loss
"""
    conv = check_example(setup, "train(x, y)", {"x": "randn(8, 3)", "y": "randn(8, 2)"}, label="either update")
    assert "ms_clip_grad_norm_(" in conv.ms_code and "ms_step_from_grads(optimizer)" in conv.ms_code


def test_lambda_transform_gets_a_tensor_in_the_pipeline(tmp_path):
    """transforms.Lambda(lambda x: torch.flatten(x)) after ToTensor (mnist_forward_forward): the
    function is written for tensors; in MindSpore's pipeline it gets one (it was handed a numpy
    array, and ops.flatten refused it). Values as torchvision computes them: x / 255, CHW, flat."""
    from PIL import Image

    (tmp_path / "imgs" / "a").mkdir(parents=True)
    pixels = (np.arange(2 * 3 * 3).reshape(2, 3, 3) * 9).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "imgs" / "a" / "0.png")
    program = """
import torch
from torchvision import datasets, transforms

def first(root):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: torch.flatten(x) * 2)])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(root, transform=tf), batch_size=1)
    for x, y in loader:
        return [round(float(v), 4) for v in x[0][:4]], tuple(x.shape)
"""
    out = _run_converted(tmp_path, program, f"print(ns['first']({str(tmp_path / 'imgs')!r}))")
    expected = np.transpose(pixels / 255.0, (2, 0, 1)).reshape(-1)[:4] * 2
    assert f"({[round(float(v), 4) for v in expected]}, (1, 18))" in out, out


GAN_PROGRAM = '''
import torch
import torch.nn as nn


class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 6), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1)


def train(netG, netD, batches, noises):
    """DCGAN's loop: D on real and on fake.detach(), then G through the same fake."""
    criterion = nn.BCELoss()
    # SGD: Adam's first steps move each weight by about lr * sign(grad), so a gradient element
    # near zero flips with float rounding and the comparison would measure that, not the step
    optimizerD = torch.optim.SGD(netD.parameters(), lr=0.05, momentum=0.5)
    optimizerG = torch.optim.SGD(netG.parameters(), lr=0.05, momentum=0.5)
    history = []
    for real, noise in zip(batches, noises):
        netD.zero_grad()
        label = torch.full((real.size(0),), 1.0)
        output = netD(real)
        errD_real = criterion(output, label)
        errD_real.backward()
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        optimizerG.step()
        history.append((errD_real.item(), errD_fake.item(), errG.item()))
    return history
'''


def test_gan_generator_step_through_the_same_fake(tmp_path):
    """The generator's loss goes through `fake`, computed before the discriminator's step: the
    generator's forward function computes it again (a note says so); 4 iterations of both steps
    give torch's losses (BatchNorm in train mode uses batch statistics, so the values match; only
    netG's running statistics see one more update)."""
    import mindspore
    import torch

    tmod, mmod, text, r = _both(tmp_path, "gan", GAN_PROGRAM)
    assert "is computed again inside this step's forward function" in r.stdout + r.stderr + text
    torch.manual_seed(0)
    tg, td, mg, md = tmod["G"](), tmod["D"](), mmod["G"](), mmod["D"]()
    load_torch_state(tg, mg)
    load_torch_state(td, md)
    mg.set_train(True)
    md.set_train(True)
    rng = np.random.default_rng(2)
    reals = [rng.standard_normal((8, 6)).astype(np.float32) for _ in range(4)]
    noises = [rng.standard_normal((8, 4)).astype(np.float32) for _ in range(4)]
    t_hist = tmod["train"](tg, td, [torch.from_numpy(x) for x in reals], [torch.from_numpy(z) for z in noises])
    m_hist = mmod["train"](mg, md, [mindspore.Tensor(x) for x in reals], [mindspore.Tensor(z) for z in noises])
    rel = max(abs(a - b) / abs(a) for ta, ma in zip(t_hist, m_hist) for a, b in zip(ta, ma))
    print(f"GAN: max relative loss difference over 4 iterations {rel:.2e}")
    assert rel <= 1e-4, (t_hist, m_hist)


SAME_BLOCK_PROGRAM = '''
import numpy as np
import torch
import torch.nn as nn


def build():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    model.load_state_dict({"0.weight": torch.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)),
                           "0.bias": torch.zeros(4), "2.weight": torch.full((1, 4), 0.3), "2.bias": torch.zeros(1)})
    return model


def fine_tune(x, y):
    """The model, its optimizer and one step in one block: the forward function must not take
    the model's construction (the optimizer holds the model built before it)."""
    model = build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    ((model(x) - y) ** 2).mean().backward()
    optimizer.step()
    loss = ((model(x) - y) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return model(x)
'''


def test_a_model_built_in_the_training_block_stays_out_of_the_forward(tmp_path):
    import mindspore
    import torch

    tp, mp = convert_program(tmp_path, SAME_BLOCK_PROGRAM)
    x = np.linspace(-0.5, 0.5, 6, dtype=np.float32).reshape(2, 3)
    y = np.array([[0.2], [-0.1]], np.float32)
    expected = tp["fine_tune"](torch.tensor(x), torch.tensor(y)).detach().numpy()
    got = mp["fine_tune"](mindspore.Tensor(x), mindspore.Tensor(y)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


TRAIN_MODE_PROGRAM = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(self.fc(x))

    def statistics(self):
        return self.bn.running_mean


def first_pass(net, x):
    """No net.train(): a torch module is built in training mode (batch statistics, and the
    running statistics move)."""
    out = net(x)
    return out, net.statistics()
'''


def test_a_model_never_set_to_train_computes_in_training_mode_as_in_torch(tmp_path):
    import mindspore
    import torch

    tp, mp = convert_program(tmp_path, TRAIN_MODE_PROGRAM)
    x = np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3)
    net, cell = tp["Net"](), mp["Net"]()
    load_torch_state(net, cell)
    out, mean = tp["first_pass"](net, torch.tensor(x))
    ms_out, ms_mean = mp["first_pass"](cell, mindspore.Tensor(x))
    np.testing.assert_allclose(ms_out.asnumpy(), out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ms_mean.asnumpy(), mean.numpy(), rtol=1e-5, atol=1e-6)
    assert np.abs(mean.numpy()).max() > 1e-3  # the statistics did move


EPISODE_PROGRAM = '''
import torch
import torch.nn as nn
import torch.nn.functional as F

policy = nn.Linear(4, 2)
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
saved_log_probs = []


def select_action(state):
    saved_log_probs.append(F.log_softmax(policy(state), dim=-1)[0])


def finish_episode(returns):
    policy_loss = []
    for log_prob, R in zip(saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()


def supervised(x, y):
    optimizer.zero_grad()
    loss = F.mse_loss(policy(x), y)
    loss.backward()
    optimizer.step()
'''


def test_a_loss_made_of_outputs_saved_during_an_episode_is_reported():
    """REINFORCE/actor-critic keep log-probabilities computed while acting and build the loss
    from them later: MindSpore differentiates a function, so its gradients would be zero. The
    report says so at that backward (and not at an ordinary step)."""
    from equivalence import convert

    conv = convert(EPISODE_PROGRAM, "reinforce.py")
    notes = [f for f in conv.findings if "calls no model" in f.reason]
    assert [f.line for f in notes] == [21], [(f.line, f.reason) for f in conv.findings]


REBOUND_IN_PLACE_PROGRAM = '''
import numpy as np
import torch
import torch.nn as nn


def normalize_batch(batch):
    """fast_neural_style's utils: in place on a tensor the model computed, the result rebound."""
    batch = batch.div_(255.0)
    return (batch - 0.5) / 0.25


def train(batches):
    model = nn.Linear(3, 2)
    model.load_state_dict({"weight": torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)),
                           "bias": torch.zeros(2)})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for batch in batches:
        x = batch * 255.0
        optimizer.zero_grad()
        y = normalize_batch(model(x * 1.0) * 255.0)  # (torch saves a Linear input for backward)
        x = normalize_batch(x)  # the step's input, rebound: MindSpore refused assign_value on it
        loss = ((y - x.mean()) ** 2).mean()
        loss.backward()
        optimizer.step()
    return model(batches[0])
'''


def test_an_in_place_result_rebound_to_its_name_trains_like_torch(tmp_path):
    import mindspore
    import torch

    tp, mp = convert_program(tmp_path, REBOUND_IN_PLACE_PROGRAM)
    x = np.linspace(-0.5, 0.5, 12, dtype=np.float32).reshape(4, 3)
    expected = tp["train"]([torch.tensor(x), torch.tensor(x[::-1].copy())])
    got = mp["train"]([mindspore.Tensor(x), mindspore.Tensor(x[::-1].copy())])
    expected, got = expected.detach().numpy(), got.asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


MAYBE_UNBOUND_PROGRAM = '''
import numpy as np
import torch
import torch.nn as nn


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.fc.load_state_dict({"weight": torch.tensor(np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)),
                                 "bias": torch.zeros(3)})

    def forward(self, x, hidden=None):
        out = torch.tanh(self.fc(x) + (0 if hidden is None else hidden))
        return (out, out.detach()) if hidden is not None else out


def train(batches, use_hidden):
    """word_language_model's shape: `hidden` exists only on the recurrent path."""
    model = Recurrent()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if use_hidden:
        hidden = torch.zeros(2, 3)
    for x in batches:
        model.zero_grad()
        if use_hidden:
            output, hidden = model(x, hidden)
        else:
            output = model(x)
        loss = (output ** 2).mean()
        loss.backward()
        optimizer.step()
    return model.fc.weight
'''


@pytest.mark.parametrize("use_hidden", [False, True])
def test_a_forward_argument_bound_only_on_one_path_trains_on_both(tmp_path, use_hidden):
    import mindspore
    import torch

    tp, mp = convert_program(tmp_path, MAYBE_UNBOUND_PROGRAM)
    xs = [np.linspace(-0.5, 0.5, 6, dtype=np.float32).reshape(2, 3) * (i + 1) for i in range(3)]  # (small: tanh, see README)
    expected = tp["train"]([torch.tensor(x) for x in xs], use_hidden).detach().numpy()
    got = mp["train"]([mindspore.Tensor(x) for x in xs], use_hidden).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
