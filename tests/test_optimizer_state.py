"""Resuming training from a checkpoint (runtime/optimizer_state.py), run in both frameworks.

torch trains a model for two steps, saves the model's and the optimizer's state with torch.save,
and trains two more. The converted program loads torch's file (no torch), restores the model and
the optimizer, trains the same two steps on the same data: the weights must agree with torch's.
Also: what the converted program saves it loads back (the round trip a resumed run makes).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from equivalence import convert_program

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USER_PROGRAM = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


def build():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def make_optimizer(name, model):
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=0.05)
    if name == "amsgrad":
        return torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=True, weight_decay=0.01)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=0.05)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if name == "nesterov":
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    if name == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=0.01, momentum=0.5, centered=True)
    if name == "adagrad":
        return torch.optim.Adagrad(model.parameters(), lr=0.1)
    raise ValueError(name)


def train(model, optimizer, x, y, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()


def save(model, optimizer, path):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 2}, path)


def resume(model, optimizer, path):
    checkpoint = torch.load(path)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
'''

OPTIMIZERS = ["adam", "amsgrad", "adamw", "sgd", "nesterov", "rmsprop", "adagrad"]


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    return convert_program(tmp_path_factory.mktemp("optimizer_state"), USER_PROGRAM)


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 2)).astype(np.float32)


def _weights_of(model):
    return [p.detach().numpy() if hasattr(p, "detach") else p.asnumpy() for p in
            (model.parameters() if hasattr(model, "parameters") and callable(model.parameters) else model.trainable_params())]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_training_resumes_from_the_optimizer_state_torch_saved(programs, tmp_path, name):
    import mindspore
    import torch

    tp, mp = programs
    x, y = _data()
    torch.manual_seed(0)
    model = tp["build"]()
    optimizer = tp["make_optimizer"](name, model)
    tp["train"](model, optimizer, torch.tensor(x), torch.tensor(y), 2)
    path = str(tmp_path / "checkpoint.pt")
    tp["save"](model, optimizer, path)
    tp["train"](model, optimizer, torch.tensor(x), torch.tensor(y), 2)
    expected = [p.detach().numpy() for p in model.parameters()]

    cell = mp["build"]()
    ms_optimizer = mp["make_optimizer"](name, cell)
    assert mp["resume"](cell, ms_optimizer, path) == 2
    mp["train"](cell, ms_optimizer, mindspore.Tensor(x), mindspore.Tensor(y), 2)
    got = [p.asnumpy() for p in cell.trainable_params()]
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_what_the_converted_program_saves_it_resumes_from(programs, tmp_path, name):
    import mindspore

    _, mp = programs
    x, y = (mindspore.Tensor(a) for a in _data())
    mindspore.set_seed(0)
    cell = mp["build"]()
    optimizer = mp["make_optimizer"](name, cell)
    mp["train"](cell, optimizer, x, y, 2)
    path = str(tmp_path / "checkpoint.pt")
    mp["save"](cell, optimizer, path)
    mp["train"](cell, optimizer, x, y, 2)
    expected = [p.asnumpy().copy() for p in cell.trainable_params()]

    resumed = mp["build"]()
    resumed_optimizer = mp["make_optimizer"](name, resumed)
    mp["resume"](resumed, resumed_optimizer, path)
    mp["train"](resumed, resumed_optimizer, x, y, 2)
    for e, g in zip(expected, (p.asnumpy() for p in resumed.trainable_params())):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_state_that_is_not_an_optimizers_is_refused_by_name(programs):
    _, mp = programs
    cell = mp["build"]()
    optimizer = mp["make_optimizer"]("adam", cell)
    with pytest.raises(ValueError, match="not an optimizer state"):
        mp["ms_optimizer_load_state_dict"](optimizer, {"0.weight": 1})
    with pytest.raises(ValueError, match="parameter group"):
        mp["ms_optimizer_load_state_dict"](optimizer, {"state": {}, "param_groups": [{"params": [0]}]})


SCHEDULER_PROGRAM = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


def setup(name):
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if name == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    elif name == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=6, eta_min=0.001)
    else:
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.1)
    return model, optimizer, scheduler


def epochs(model, optimizer, scheduler, x, y, n):
    lrs = []
    for _ in range(n):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        lrs.append(float(optimizer.param_groups[0]["lr"]))
    return lrs


def save(optimizer, scheduler, path):
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, path)


def resume(optimizer, scheduler, path):
    checkpoint = torch.load(path)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
'''


@pytest.mark.parametrize("name", ["step", "cosine", "multistep"])
def test_the_lr_schedule_resumes_from_the_state_torch_saved(tmp_path, name):
    import mindspore
    import torch

    tp, mp = convert_program(tmp_path, SCHEDULER_PROGRAM, "sched")
    x, y = _data()
    x, y = x[:, :3], y
    model, optimizer, scheduler = tp["setup"](name)
    tp["epochs"](model, optimizer, scheduler, torch.tensor(x), torch.tensor(y), 3)
    path = str(tmp_path / "checkpoint.pt")
    tp["save"](optimizer, scheduler, path)
    expected = tp["epochs"](model, optimizer, scheduler, torch.tensor(x), torch.tensor(y), 4)

    cell, ms_optimizer, ms_scheduler = mp["setup"](name)
    mp["resume"](ms_optimizer, ms_scheduler, path)
    got = mp["epochs"](cell, ms_optimizer, ms_scheduler, mindspore.Tensor(x), mindspore.Tensor(y), 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=name)


ADAM_SCRIPT = '''
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(3, 2)
model.load_state_dict({"weight": torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)),
                       "bias": torch.zeros(2)})
optimizer = torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=sys.argv[2] == "amsgrad")
x = torch.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
y = torch.tensor(np.linspace(1, -1, 8, dtype=np.float32).reshape(4, 2))
for i in range(5):
    optimizer.zero_grad()
    loss = F.mse_loss(model(x), y) * (1e-4 / (i + 1))  # gradients of 1e-6..1e-4
    loss.backward()
    optimizer.step()
with open(sys.argv[1], "w") as f:
    json.dump([p.detach().numpy().tolist() for p in model.parameters()], f)
'''


@pytest.mark.parametrize("variant", ["plain", "amsgrad"])
def test_adam_steps_are_torchs_when_run_as_a_script(tmp_path, variant):
    """Run as a script the converted Adam step is compiled (mindspore.jit); with gradients small
    enough for eps to matter, MindSpore's own Adam kernel would differ from torch by about 1e-3."""
    (tmp_path / "adam.py").write_text(ADAM_SCRIPT)
    r = subprocess.run([sys.executable, "-m", "migrator", str(tmp_path / "adam.py"), "-o", str(tmp_path / "adam_ms.py"),
                        "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    for script, out in (("adam.py", "t.json"), ("adam_ms.py", "m.json")):
        run = subprocess.run([sys.executable, script, str(tmp_path / out), variant], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
    import json

    expected, got = (json.loads((tmp_path / n).read_text()) for n in ("t.json", "m.json"))
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=2e-7)
