"""Distributed rules (rules/distributed.toml), run for real.

A two-process data-parallel training script is run by torch (mp.spawn, gloo) and, converted,
by MindSpore's launcher msrun on CPU (mccl); every rank's sampler shard, collectives and final
weights must agree. The single-process helpers are checked here too.
"""
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from equivalence import convert, imports_torch

TRAIN = '''
import json
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def main(rank, world_size, out, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(backend="gloo", rank=rank, world_size=world_size)
    rank = dist.get_rank()
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    state = {"0.weight": torch.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4) * (rank + 1)),
             "0.bias": torch.zeros(3), "2.weight": torch.tensor(np.full((2, 3), 0.1 * (rank + 1), np.float32)),
             "2.bias": torch.zeros(2)}
    model.load_state_dict(state)
    ddp = DDP(model, device_ids=None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    xs = torch.tensor(np.arange(44, dtype=np.float32).reshape(11, 4) / 44)
    ys = torch.tensor(np.ones((11, 2), np.float32))
    dataset = TensorDataset(xs, ys)
    sampler = DistributedSampler(dataset, shuffle=False)
    loader = DataLoader(dataset, batch_size=2, sampler=sampler)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            loss = ((ddp(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
    total = torch.tensor([float(rank + 1), 2.0])
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    largest = torch.tensor([float(rank + 1)])
    dist.all_reduce(largest, dist.ReduceOp.MAX)
    product = torch.tensor([float(rank + 2)])
    dist.all_reduce(product, op=dist.ReduceOp.PRODUCT)
    smallest = torch.tensor([float(rank + 1), -float(rank)])
    dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
    sent = torch.tensor([float(rank), 5.0])
    dist.broadcast(sent, src=1)
    gathered = [torch.zeros(2) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, torch.tensor([float(rank), rank + 10.0]))
    dist.barrier()
    shuffled = DistributedSampler(dataset, seed=3)
    result = {
        "rank": rank,
        "world": dist.get_world_size(),
        "initialized": dist.is_initialized(),
        "indices": [int(i) for i in sampler],
        "shuffled": len(list(shuffled)),
        "batches": len(loader),
        "params": {k: v.detach().numpy().tolist() for k, v in model.state_dict().items()},
        "total": total.numpy().tolist(),
        "largest": largest.numpy().tolist(),
        "product": product.numpy().tolist(),
        "smallest": smallest.numpy().tolist(),
        "sent": sent.numpy().tolist(),
        "gathered": [g.numpy().tolist() for g in gathered],
        "backend": str(dist.get_backend()),
    }
    with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
        json.dump(result, fh)
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(main, args=(2, sys.argv[1], int(sys.argv[2])), nprocs=2)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _results(folder):
    return [json.load(open(os.path.join(folder, f"rank{r}.json"))) for r in range(2)]


def _env():
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("GLOG_v", "3")
    env.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
    return env


MSRUN = os.path.join(os.path.dirname(sys.executable), "msrun")


def run_torch_and_msrun(tmp_path, source: str, name: str, *args: str):
    """Convert a two-process torch script; run it (it spawns its ranks, gloo) and its conversion
    under msrun on CPU, each writing rank<r>.json into tmp_path/t and tmp_path/m. Returns both
    lists of per-rank results."""
    conv = convert(source, name)
    assert not [f for f in conv.findings if f.kind == "untranslated"], conv.findings
    assert not imports_torch(conv.ms_code)
    (tmp_path / name).write_text(source)
    conv.write(tmp_path / "train_ms.py")
    (tmp_path / "t").mkdir()
    (tmp_path / "m").mkdir()
    env = _env()
    for attempt in range(3):  # the torch reference (gloo): a port taken meanwhile, or a slow peer, fails it
        ref = subprocess.run([sys.executable, name, str(tmp_path / "t"), str(_free_port()), *args], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)
        if ref.returncode == 0:
            break
    else:
        pytest.fail(f"the torch reference run failed 3 times:\n{ref.stderr[-3000:]}")
    run = subprocess.run([MSRUN, "--worker_num=2", "--local_worker_num=2", f"--master_port={_free_port()}",
                          "--join=True", f"--log_dir={tmp_path / 'log'}", "train_ms.py", str(tmp_path / "m"), "0",
                          *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        logs = "".join(p.read_text()[-3000:] for p in sorted((tmp_path / "log").glob("worker_*.log")))
        pytest.fail(f"msrun failed ({run.returncode}):\n{run.stderr[-2000:]}\n{logs}")
    return _results(tmp_path / "t"), _results(tmp_path / "m")


@pytest.mark.skipif(not os.path.exists(MSRUN), reason="MindSpore's msrun launcher is not installed")
def test_two_process_data_parallel_training_matches_torch(tmp_path):
    torch_ranks, ms_ranks = run_torch_and_msrun(tmp_path, TRAIN, "train_ddp.py")
    for t, m in zip(torch_ranks, ms_ranks):
        assert m["backend"] == "mccl" and t["backend"] == "gloo"
        for key in ("rank", "world", "initialized", "indices", "shuffled", "batches", "total", "largest", "product",
                    "smallest", "sent", "gathered"):
            assert m[key] == t[key], (key, m[key], t[key])
        assert set(m["params"]) == set(t["params"])
        for name in t["params"]:
            np.testing.assert_allclose(m["params"][name], t["params"][name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert ms_ranks[0]["params"] == ms_ranks[1]["params"]  # gradients were averaged: the replicas stayed equal


def _exec_converted(source: str) -> dict:
    conv = convert(source)
    assert not [f for f in conv.findings if f.kind == "untranslated"], conv.findings
    ns: dict = {"__name__": "__converted__"}
    exec(compile(conv.ms_code, "<converted>", "exec"), ns)
    return ns


def test_ddp_without_process_group_forwards_and_keeps_module():
    import mindspore

    ns = _exec_converted(
        "import torch\nimport torch.nn as nn\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
        "model = nn.Linear(3, 2)\nddp = DDP(model, device_ids=[0])\n")
    x = mindspore.Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_allclose(ns["ddp"](x).asnumpy(), ns["model"](x).asnumpy())
    assert ns["ddp"].module is ns["model"]
    assert sorted(n for n, _ in ns["ddp"].parameters_and_names()) == ["module.bias", "module.weight"]


def test_data_parallel_function_calls_the_module():
    import mindspore

    ns = _exec_converted(
        "import torch\nimport torch.nn as nn\nm = nn.Linear(3, 2)\nb = nn.Bilinear(3, 3, 2)\n"
        "def one(x):\n    return nn.parallel.data_parallel(m, x, range(2))\n"
        "def two(x):\n    return torch.nn.parallel.data_parallel(b, (x, x), [0, 1])\n")
    x = mindspore.Tensor(np.ones((4, 3), np.float32))
    np.testing.assert_allclose(ns["one"](x).asnumpy(), ns["m"](x).asnumpy())
    np.testing.assert_allclose(ns["two"](x).asnumpy(), ns["b"](x, x).asnumpy())


def test_spawn_runs_one_process_in_place_and_explains_msrun(monkeypatch):
    monkeypatch.delenv("MS_WORKER_NUM", raising=False)
    ns = _exec_converted(
        "import torch.multiprocessing as mp\nseen = []\n"
        "def work(rank, a, b):\n    seen.append((rank, a + b))\n"
        "def one():\n    mp.spawn(work, args=(2, 3), nprocs=1)\n"
        "def many():\n    mp.spawn(work, args=(2, 3), nprocs=4)\n")
    ns["one"]()
    assert ns["seen"] == [(0, 5)]
    with pytest.raises(RuntimeError, match="msrun --worker_num=4"):
        ns["many"]()
    monkeypatch.setenv("MS_WORKER_NUM", "2")
    monkeypatch.setenv("DEVICE_ID", "1")
    ns["many"]()
    assert ns["seen"] == [(0, 5), (1, 5)]


def test_dataloader_sampler_over_a_mindspore_dataset():
    """A DistributedSampler given to a DataLoader over a converted torchvision-style dataset
    (a MindSpore dataset) shards it and follows set_epoch."""
    import mindspore.dataset

    ns = _exec_converted(
        "import torch\nfrom torch.utils.data import DataLoader\n"
        "from torch.utils.data.distributed import DistributedSampler\n"
        "def shard(ds, epoch, shuffle):\n"
        "    sampler = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=shuffle)\n"
        "    sampler.set_epoch(epoch)\n"
        "    loader = DataLoader(ds, batch_size=2, sampler=sampler)\n"
        "    return len(loader), [int(v) for batch in loader for v in batch[0].tolist()], list(sampler)\n")
    data = mindspore.dataset.NumpySlicesDataset({"x": np.arange(7, dtype=np.int64), "y": np.zeros(7, np.int64)},
                                                shuffle=False)
    n, seen, _ = ns["shard"](data, 0, False)
    assert (n, seen) == (2, [1, 3, 5, 0])
    data = mindspore.dataset.NumpySlicesDataset({"x": np.arange(7, dtype=np.int64), "y": np.zeros(7, np.int64)},
                                                shuffle=False)
    n, seen, order = ns["shard"](data, 3, True)
    assert seen == order and n == 2


def test_namespace_rule_explains_every_member():
    from migrator.rules import default_rules

    rules = default_rules()
    assert rules.get("torch.distributed.rpc.init_rpc").torch == "torch.distributed.rpc.*"
    assert rules.get("torch.distributed.fsdp.fully_sharded_data_parallel.FlatParameter").unsupported
    assert rules.get("torch.distributed.ReduceOp.SUM").to == "mindspore.ops.ReduceOp.SUM"
    assert rules.get("torch.distributed.no_such_thing") is None
    # a member of a class a helper translates is the helper's, not the namespace's
    assert rules.get("torch.distributed.fsdp.fully_sharded_data_parallel.StateDictType.FULL_STATE_DICT").unsupported
    assert rules.helper_owner("torch.distributed.fsdp.fully_sharded_data_parallel.StateDictType.FULL_STATE_DICT")[1] \
        == ".FULL_STATE_DICT"
    conv = convert("import torch.distributed.rpc as rpc\nfrom torch.distributed.fsdp import FullyShardedDataParallel as FSDP\n"
                   "from torch.distributed.fsdp import FlatParameter\n"
                   "rpc.init_rpc('w', rank=0, world_size=1)\nm = FSDP(object())\np = FlatParameter\n")
    reasons = {f.api: f.reason for f in conv.findings if f.kind == "untranslated"}
    assert "no RPC framework" in reasons["torch.distributed.rpc.init_rpc"]
    assert "hsdp" in reasons["torch.distributed.fsdp.FlatParameter"]
    assert "# ms-migrate: untranslated torch.distributed.rpc.init_rpc: MindSpore has no RPC" in conv.ms_code


def test_namespace_rule_must_be_unsupported(tmp_path):
    from migrator.rules import RuleError, load_rules

    (tmp_path / "bad.toml").write_text('["torch.fx.*"]\nto = "mindspore.rewrite"\n')
    with pytest.raises(RuleError, match="namespace rule"):
        load_rules(tmp_path)
