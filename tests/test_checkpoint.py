"""Checkpoint round trips (issue 5): torch model with random weights -> torch.save(state_dict)
-> `ms-migrate ckpt` -> the converted MindSpore model loads it strictly
(load_param_into_net(strict_load=True) leaves nothing unloaded or unused) -> eval outputs match
-> after one train-mode forward on the same batch, every state (BatchNorm statistics too) matches.

Tolerance: max abs error <= 1e-6 + 1e-5 x output scale (tests/equivalence.py)."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from migrator.verify import randomize_constants

from ckpt_models import ARCHS, BLOCKS, MODELS
from equivalence import compare, make_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")


def ms_migrate(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "migrator", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=ENV, timeout=600)


def load_package(folder, name):
    """Import the package in `folder` under a unique name (relative imports work inside it)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[name] = pkg
    spec.loader.exec_module(pkg)
    return importlib.import_module(f"{name}.models")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("ckpt_archs")
    src = base / "pkg"
    src.mkdir()
    (src / "__init__.py").write_text("")
    (src / "blocks.py").write_text(BLOCKS)
    (src / "models.py").write_text(MODELS)
    r = ms_migrate(src, "-o", base / "ms_pkg", "--param-map", base / "map.json")
    assert r.returncode == 0, r.stderr
    torch_mod = load_package(str(src), "ckpt_torch_pkg")
    ms_mod = load_package(str(base / "ms_pkg"), "ckpt_ms_pkg")
    return base, torch_mod, ms_mod


# random values for what torch initialises to a constant (BatchNorm statistics, norm weights...)
randomize = randomize_constants


def ms_state(net):
    return {p.name: p.asnumpy() for p in net.get_parameters()}


def convert_state(sd, base, name, map_path, model):
    import torch

    pth = base / f"{name}.pth"
    out = base / f"{name}.ckpt"
    torch.save(sd, pth)
    r = ms_migrate("ckpt", pth, "-o", out, "--param-map", map_path, "--model", model)
    return r, out


@pytest.mark.parametrize("cls,kwargs,inputs", ARCHS, ids=[a[0] for a in ARCHS])
def test_round_trip(converted, cls, kwargs, inputs):
    import mindspore
    import torch

    base, tmod, mmod = converted
    torch.manual_seed(0)
    tnet = getattr(tmod, cls)(**kwargs)
    randomize(tnet)
    r, out = convert_state(tnet.state_dict(), base, cls, base / "map.json", cls)
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.exists()
    mnet = getattr(mmod, cls)(**kwargs)
    params = mindspore.load_checkpoint(str(out))
    param_not_load, ckpt_not_load = mindspore.load_param_into_net(mnet, params, strict_load=True)
    assert param_not_load == [] and ckpt_not_load == [], (param_not_load, ckpt_not_load, r.stdout)

    data = make_inputs(inputs, seed=1)
    tnet.eval()
    mnet.set_train(False)
    t_out = tnet(*[torch.from_numpy(v) for v in data.values()])
    m_out = mnet(*[mindspore.Tensor(v) for v in data.values()])
    diffs = compare(t_out, m_out, where=f"{cls} eval")
    assert not diffs, diffs
    err = float(np.max(np.abs(t_out.detach().numpy() - m_out.asnumpy())))
    print(f"{cls}: eval max abs error {err:.3g} (output scale {float(np.max(np.abs(t_out.detach().numpy()))):.3g})")

    # one train-mode forward on the same batch: BatchNorm statistics move the same way
    tnet.train()
    mnet.set_train(True)
    t_train = tnet(*[torch.from_numpy(v) for v in data.values()])
    m_train = mnet(*[mindspore.Tensor(v) for v in data.values()])
    diffs = compare(t_train, m_train, where=f"{cls} train")
    assert not diffs, diffs
    # the statistics after the step, converted in-process through the same code as the CLI
    from migrator.checkpoint import convert_checkpoint

    torch.save(tnet.state_dict(), base / f"{cls}_after.pth")
    out2 = base / f"{cls}_after.ckpt"
    convert_checkpoint(str(base / f"{cls}_after.pth"), str(out2), str(base / "map.json"), model=cls,
                       echo=lambda *a: None)
    expected = {k: v.asnumpy() for k, v in mindspore.load_checkpoint(str(out2)).items()}
    got = ms_state(mnet)
    assert set(expected) == set(got)
    for k in expected:
        d = compare(expected[k], got[k], where=k)
        assert not d, d
