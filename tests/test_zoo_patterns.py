"""Model-zoo patterns (issue 16): layers built by factory functions, held by wrapper classes,
kept in local variables, passed as classes; ModuleList with None entries and tuples; and
`ms-migrate ckpt` refusing to write a checkpoint that would not load strictly.

Each model is converted with the CLI into a folder, built in both frameworks with the same
random weights (converted by `ms-migrate ckpt`'s code), loaded strictly, and its eval outputs
compared (tests/equivalence.py tolerance)."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from equivalence import compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


def convert_folder(tmp_path, name, source):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / f"{name}.py").write_text(HEAD + textwrap.dedent(source))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(out), "--param-map",
                        str(tmp_path / "map.json")], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return src / f"{name}.py", out / f"{name}.py", out


def load(path, name, extra_path=None):
    if extra_path:
        if str(extra_path) in sys.path:
            sys.path.remove(str(extra_path))
        sys.path.insert(0, str(extra_path))
        sys.modules.pop("ms_helpers", None)  # each converted folder has its own helper module
    spec = importlib.util.spec_from_file_location(name, str(path))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def randomize(model, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.5)


def ckpt(tmp_path, tnet, model, partial=False, root=""):
    """Convert tnet's state_dict through the map; (plan or CheckpointError, output path, printed lines)."""
    import torch

    from migrator.checkpoint import CheckpointError, convert_checkpoint

    pth, out = tmp_path / f"{model}.pth", tmp_path / f"{model}.ckpt"
    torch.save(tnet.state_dict(), pth)
    lines = []
    try:
        plan = convert_checkpoint(str(pth), str(out), str(tmp_path / "map.json"), model=model if root == "" else root,
                                  partial=partial, echo=lines.append)
    except CheckpointError as exc:
        plan = exc
    return plan, out, "\n".join(lines)


def round_trip(tmp_path, source, model, args=(), shape=(2, 8), name="zoo", root=""):
    """Convert, copy random weights through `ms-migrate ckpt`, load strictly, compare eval outputs."""
    import mindspore
    import torch

    src, dst, out = convert_folder(tmp_path, name, source)
    tmod = load(src, f"{name}_torch_{tmp_path.name}")
    mmod = load(dst, f"{name}_ms_{tmp_path.name}", out)
    torch.manual_seed(0)
    tnet = getattr(tmod, model)(*args)
    randomize(tnet)
    plan, path, printed = ckpt(tmp_path, tnet, model, root=root)
    assert not isinstance(plan, Exception), printed
    mnet = getattr(mmod, model)(*args)
    not_loaded, unused = mindspore.load_param_into_net(mnet, mindspore.load_checkpoint(str(path)), strict_load=True)
    assert not_loaded == [] and unused == [], (not_loaded, unused, printed)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    tnet.eval()
    mnet.set_train(False)
    t_out = tnet(torch.from_numpy(x))
    m_out = mnet(mindspore.Tensor(x))
    diffs = compare(t_out, m_out, where=f"{model} eval")
    assert not diffs, diffs
    return tmod, mmod, dst.read_text(), printed


# ---- 1. no silent partial checkpoint ----------------------------------------------------------
UNDECIDABLE = """
NORMS = {"ln": nn.LayerNorm, "in": nn.InstanceNorm1d}
LAYERS = [nn.Linear]


class Net(nn.Module):
    def __init__(self, kind="ln"):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.norm = NORMS[kind](8)       # the map cannot know which layer this is
        self.proj = LAYERS[0](8, 4)

    def forward(self, x):
        return self.proj(self.norm(self.fc(x)))
"""


def test_ckpt_refuses_undecidable_names(tmp_path):
    src, _, _ = convert_folder(tmp_path, "undecidable", UNDECIDABLE)
    tmod = load(src, f"undecidable_torch_{tmp_path.name}")
    tnet = tmod.Net()
    plan, out, printed = ckpt(tmp_path, tnet, "Net")
    from migrator.checkpoint import CheckpointError

    assert isinstance(plan, CheckpointError), printed
    assert not out.exists()
    lines = {ln.split()[1]: ln for ln in printed.splitlines() if ln.startswith("  ERROR")}
    # a 1-D weight and its bias: LayerNorm (gamma/beta) or a parameter kept as is
    assert set(lines) == {"norm.weight", "norm.bias"}, printed
    assert "1-D weight" in lines["norm.weight"]
    # decided soundly: a 2-D weight with a bias is a Linear's, whatever built it
    assert "kept        proj.weight" in printed and "fc.weight" in printed
    # --partial keeps today's opt-in: writes what it can, says what it left out
    plan, out, printed = ckpt(tmp_path, tnet, "Net", partial=True)
    assert out.exists() and "2 left out: --partial" in printed


def test_ckpt_cli_exit_code(tmp_path):
    import torch

    src, _, _ = convert_folder(tmp_path, "undecidable", UNDECIDABLE)
    tmod = load(src, f"undecidable_cli_{tmp_path.name}")
    torch.save(tmod.Net().state_dict(), tmp_path / "n.pth")
    r = subprocess.run([sys.executable, "-m", "migrator", "ckpt", str(tmp_path / "n.pth"), "-o", str(tmp_path / "n.ckpt"),
                        "--param-map", str(tmp_path / "map.json")], capture_output=True, text=True, cwd=ROOT, env=ENV,
                       timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "norm.weight" in r.stdout + r.stderr and not (tmp_path / "n.ckpt").exists()


BATCHNORM_BY_NAMES = """
def make_bn(c):
    return getattr(nn, "BatchNorm1d")(c)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bn = make_bn(8)

    def forward(self, x):
        return self.bn(self.fc(x))
"""


def test_ckpt_decides_batchnorm_by_its_statistics(tmp_path):
    round_trip(tmp_path, BATCHNORM_BY_NAMES, "Net")


# ---- 3. ModuleList takes what torch's takes ------------------------------------------------------
MODULE_LISTS = """
class PEG(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return x + self.proj(x)


class Net(nn.Module):
    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.pegs = nn.ModuleList([PEG(dim) if i == 0 else None for i in range(depth)])
        fns = (nn.Linear(dim, dim), nn.LayerNorm(dim))
        self.fns = nn.ModuleList(fns)
        self.gen = nn.ModuleList(nn.Linear(dim, dim) for _ in range(2))
        self.mixed = nn.ModuleList([None, nn.Linear(dim, dim)])

    def forward(self, x):
        for peg in self.pegs:
            if peg is not None:
                x = peg(x)
        for f in self.fns:
            x = f(x)
        x = self.gen[-1](self.gen[0](x))
        return self.mixed[1](x) * len(self.pegs)
"""


def test_module_list_with_none_tuple_generator(tmp_path):
    import torch

    tmod, mmod, code, printed = round_trip(tmp_path, MODULE_LISTS, "Net")
    assert "MsModuleList" in code
    assert sorted(torch.nn.Module.state_dict(tmod.Net()).keys()) == sorted(
        k for k in tmod.Net().state_dict())
    # torch's names: items after a None keep their index
    assert "renamed     fns.1.weight -> fns.1.gamma" in printed and "mixed.1.weight" in printed
    m = mmod.Net()
    assert m.pegs[1] is None and len(m.pegs) == 3 and len(m.fns) == 2
    assert sorted(p.name for p in m.get_parameters()) == sorted(
        k.replace("fns.1.weight", "fns.1.gamma").replace("fns.1.bias", "fns.1.beta") for k in tmod.Net().state_dict())


def test_ckpt_decides_at_run_time_with_the_converted_model(tmp_path):
    """--ms-model: the converted model, built at run time, decides what the static map cannot."""
    import mindspore

    src, dst, out = convert_folder(tmp_path, "undecidable", UNDECIDABLE)
    tmod = load(src, f"undecidable_rt_{tmp_path.name}")
    tnet = tmod.Net()
    randomize(tnet)
    import torch

    torch.save(tnet.state_dict(), tmp_path / "n.pth")
    r = subprocess.run([sys.executable, "-m", "migrator", "ckpt", str(tmp_path / "n.pth"), "-o", str(tmp_path / "n.ckpt"),
                        "--param-map", str(tmp_path / "map.json"), "--ms-model", "undecidable.Net()", "--ms-path", str(out)],
                       capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "built at run time" in r.stdout and "norm.weight -> norm.gamma" in r.stdout
    mmod = load(dst, f"undecidable_ms_{tmp_path.name}", out)
    mnet = mmod.Net()
    assert mindspore.load_param_into_net(mnet, mindspore.load_checkpoint(str(tmp_path / "n.ckpt")), strict_load=True) == ([], [])
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    tnet.eval()
    mnet.set_train(False)
    assert not compare(tnet(torch.from_numpy(x)), mnet(mindspore.Tensor(x)), where="eval")


# ---- 2. layers through functions, wrappers, locals and class arguments ------------------------
FACTORIES_AND_WRAPPERS = """
def FeedForward(dim, hidden):
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


def conv_bn(cin, cout):
    layers = [nn.Conv1d(cin, cout, 3, padding=1), nn.BatchNorm1d(cout)]
    return nn.Sequential(*layers)


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return x + self.fn(x)


class Block(nn.Module):
    def __init__(self, dim, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm = norm_layer(dim)
        self.fc = nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        return self.fc(self.norm(x))


class Net(nn.Module):
    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([
                Residual(PreNorm(dim, FeedForward(dim, 2 * dim))),
                PreNorm(dim, nn.Linear(dim, dim, bias=False)),
            ]))
        self.blocks = nn.Sequential(*[Block(dim) for _ in range(2)])
        self.conv = conv_bn(1, 2)
        self.emb = nn.Embedding(4, dim)

    def forward(self, x):
        for res, pre in self.layers:
            x = pre(res(x))
        x = self.blocks(x) + self.emb.weight.sum()
        return self.conv(x.unsqueeze(1)).mean(1)
"""


def test_factories_wrappers_and_defaults_static_map(tmp_path):
    _, _, _, printed = round_trip(tmp_path, FACTORIES_AND_WRAPPERS, "Net")
    assert "ERROR" not in printed and "built at run time" not in printed
    assert "layers.0.0.fn.fn.0.weight -> layers.0.0.fn.fn.0.gamma" in printed
    assert "blocks.1.norm.weight -> blocks.1.norm.gamma" in printed
    assert "conv.1.running_mean -> conv.1.moving_mean" in printed
    assert "transformed layers.0.1.fn.weight" not in printed  # the wrapped Linear keeps its name


RESNET = """
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        return F.relu(self.bn1(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 2

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.gn = nn.GroupNorm(1, planes)
        self.conv2 = nn.Conv2d(planes, planes * 2, 3, stride, 1, bias=False)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, planes * 2, 1, stride, bias=False), nn.BatchNorm2d(planes * 2))

    def forward(self, x):
        return F.relu(self.conv2(self.gn(self.conv1(x))) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=4):
        super().__init__()
        self.in_planes = 4
        self.conv1 = nn.Conv2d(3, 4, 3, 1, 1, bias=False)
        bn = nn.BatchNorm2d(4)
        nn.init.constant_(bn.weight, 0.5)
        nn.init.zeros_(bn.bias)
        self.bn1 = bn
        self.layer1 = self._make_layer(block, 4, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, 8, num_blocks[1], 2)
        self.linear = nn.Linear(8 * block.expansion, num_classes)

    def _make_layer(self, block, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        return self.linear(out.mean((2, 3)))


def ResNet18():
    return ResNet(BasicBlock, [2, 2])


def ResNet50():
    return ResNet(Bottleneck, [1, 1])
"""


@pytest.mark.parametrize("factory", ["ResNet18", "ResNet50"])
def test_layer_class_argument_and_local_layer(tmp_path, factory):
    """torchvision's ResNet shape: `block` is a class passed in; `bn` a layer in a local variable."""
    tmod, _, code, printed = round_trip(tmp_path, RESNET, factory, shape=(2, 3, 8, 8), root=None)
    assert "ERROR" not in printed
    assert "bn.gamma" in code  # nn.init.constant_(bn.weight, ...) on the local layer
    assert "layer1.0.bn1.running_var -> layer1.0.bn1.moving_variance" in printed or factory == "ResNet50"
    assert "layer1.0.gn.weight -> layer1.0.gn.gamma" in printed or factory == "ResNet18"


# ---- found converting timm: module-level torch uses that must leave the output importable ------------
TRACE_UTILS = """
try:
    from torch import _assert
except ImportError:
    def _assert(condition, message):
        assert condition, message

disable = getattr(getattr(torch, "compiler", None), "no_such_feature", None) or (lambda f: f)


@disable
def check(x):
    _assert(x.shape[0] == 2, "two rows")
    return x * 2
"""


def test_torch_import_fallback_and_bare_torch(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "trace_utils.py").write_text(HEAD + TRACE_UTILS)
    (src / "user.py").write_text("from trace_utils import _assert, check\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(out)], capture_output=True, text=True,
                       cwd=ROOT, env=ENV, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    code = (out / "trace_utils.py").read_text()
    assert "def _assert" in code and "untranslated" in code  # the bare torch use is marked
    run = subprocess.run([sys.executable, "-c", "import numpy as np, mindspore, user, trace_utils\n"
                          "print(trace_utils.check(mindspore.Tensor(np.ones((2, 1), np.float32))).sum())"],
                         capture_output=True, text=True, cwd=str(out), env=ENV, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("4.0"), run.stdout + run.stderr


# ---- found converting a notebook: a handler that installs a package and imports from torch again is
# a retry, not a fallback; the translated try is what runs (converting twice changes nothing)
RETRY = """
try:
    from torch.nn.functional import relu
except ImportError:
    print("installing")
    from torch.nn.functional import relu


def f(x):
    return relu(x) * 2
"""


def test_torch_import_retry_keeps_the_translated_try(tmp_path):
    src = tmp_path / "retry.py"
    src.write_text(RETRY)
    out = tmp_path / "out"
    for target in (out, tmp_path / "again"):
        r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(target / "retry.py")],
                           capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)
        assert r.returncode in (0, 1), r.stderr
        src = target / "retry.py"
    code = (out / "retry.py").read_text()
    assert (tmp_path / "again" / "retry.py").read_text() == code  # idempotent
    assert 'print("installing")' in code.split("except")[1]  # still the handler's, not the module's
    run = subprocess.run([sys.executable, "-c", "import numpy as np, mindspore, retry\n"
                          "print(retry.f(mindspore.Tensor(np.array([-1.0, 2.0], np.float32))).sum())"],
                         capture_output=True, text=True, cwd=str(out), env=ENV, timeout=300)
    assert run.returncode == 0 and "installing" not in run.stdout and run.stdout.strip().endswith("4.0"), \
        run.stdout + run.stderr


# ---- a container subclass with its own forward (timm's MixedConv2d(nn.ModuleDict), DenseBlock) ----
CONTAINER_SUBCLASSES = """
class Mixed(nn.ModuleDict):
    def __init__(self, dim=8, parts=2):
        super().__init__()
        for i in range(parts):
            self.add_module(str(i), nn.Linear(dim // parts, dim // parts))
        self.splits = [dim // parts] * parts

    def forward(self, x):
        xs = torch.split(x, self.splits, 1)
        return torch.cat([m(xs[i]) for i, m in enumerate(self.values())], 1)


class Dense(nn.ModuleDict):
    def __init__(self, dim=8, n=2):
        super().__init__()
        for i in range(n):
            self.add_module('layer%d' % (i + 1), nn.Linear(dim * (i + 1), dim))

    def forward(self, x):
        feats = [x]
        for name, layer in self.items():
            feats.append(layer(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


class Chain(nn.ModuleList):
    def forward(self, x):
        for m in self:
            x = m(x)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.mixed = Mixed()
        self.dense = Dense()
        self.chain = Chain([nn.Linear(24, 6), nn.Tanh()])

    def forward(self, x):
        return self.chain(self.dense(self.mixed(x)))
"""


def test_container_subclass_with_forward(tmp_path):
    """A ModuleDict / ModuleList subclass with its own forward is a model class: its forward becomes
    construct (CellDict's own construct raises NotImplementedError)."""
    import mindspore
    import torch

    from migrator.checkpoint import convert_checkpoint

    src, dst, out = convert_folder(tmp_path, "containers", CONTAINER_SUBCLASSES)
    code = dst.read_text()
    assert "def forward" not in code and code.count("def construct") == 4, code
    tmod = load(src, f"containers_torch_{tmp_path.name}")
    mmod = load(dst, f"containers_ms_{tmp_path.name}", out)
    tnet = tmod.Net()
    randomize(tnet)
    torch.save(tnet.state_dict(), tmp_path / "n.pth")
    convert_checkpoint(str(tmp_path / "n.pth"), str(tmp_path / "n.ckpt"), str(tmp_path / "map.json"), model="Net",
                       echo=lambda *a: None, ms_model="containers.Net()", ms_path=str(out))
    mnet = mmod.Net()
    assert mindspore.load_param_into_net(mnet, mindspore.load_checkpoint(str(tmp_path / "n.ckpt")),
                                         strict_load=True) == ([], [])
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    tnet.eval()
    mnet.set_train(False)
    assert not compare(tnet(torch.from_numpy(x)), mnet(mindspore.Tensor(x)), where="eval")


# ---- 3. timm's idioms the converted model decides at run time (ckpt --ms-model) -----------------
SHARED_AND_OPTIONAL = """
class PosEnc(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x):
        return x + self.proj(x)


class Root(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(2 * c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, a, b):
        return self.bn(self.conv(torch.cat([a, b], 1)))


class Tree(nn.Module):  # timm's DlaTree: `root` only at the last level (None above it)
    def __init__(self, levels, c, shared_pos=None):
        super().__init__()
        self.pos = shared_pos  # timm's CoaT: one position encoding shared by the blocks of a stage
        if levels == 1:
            self.left = nn.Conv2d(c, c, 3, padding=1)
            self.right = nn.Conv2d(c, c, 3, padding=1)
            self.root = Root(c)
        else:
            self.left = Tree(levels - 1, c, shared_pos)
            self.right = Tree(levels - 1, c, shared_pos)
            self.root = None

    def forward(self, x):
        x = self.pos(x)
        a = self.left(x)
        b = self.right(a)
        return self.root(a, b) if self.root is not None else b


class TokenNorm(nn.Module):  # timm's LeViT: BatchNorm1d over the flattened tokens
    def __init__(self, c):
        super().__init__()
        self.linear = nn.Linear(c, c, bias=False)
        self.bn = nn.BatchNorm1d(c)

    def forward(self, x):
        x = self.linear(x)
        return self.bn(x.flatten(0, 1)).reshape_as(x)


class Net(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.pos = PosEnc(c)
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.tree = Tree(2, c, shared_pos=self.pos)
        self.tokens = TokenNorm(c)
        self.head = nn.Linear(c, 5)

    def forward(self, x):
        x = self.tree(self.stem(x))
        t = self.tokens(x.flatten(2).transpose(1, 2))
        return self.head(t.mean(1))
"""


def test_shared_module_and_optional_member_decided_at_run_time(tmp_path):
    """A module built in __init__ and handed to child constructors (stored there): torch's
    state_dict has it under every path, MindSpore keeps it once under the first (the converted
    __init__ renames by attribute path); ckpt --ms-model ties the other names to it. A member that
    is None in this configuration (the static map has its class) is not asked for. BatchNorm2d and
    BatchNorm1d over flattened tokens: running statistics after a train-mode forward agree."""
    import mindspore
    import torch

    from migrator.checkpoint import convert_checkpoint

    src, dst, out = convert_folder(tmp_path, "shared", SHARED_AND_OPTIONAL)
    assert "update_parameters_name()" in dst.read_text().split("class Net")[1]
    tmod = load(src, f"shared_torch_{tmp_path.name}")
    torch.manual_seed(0)
    tnet = tmod.Net()
    randomize(tnet)
    torch.save(tnet.state_dict(), tmp_path / "n.pth")
    lines = []
    plan = convert_checkpoint(str(tmp_path / "n.pth"), str(tmp_path / "n.ckpt"), str(tmp_path / "map.json"),
                              model="Net", echo=lines.append, ms_model="shared.Net()", ms_path=str(out))
    printed = "\n".join(lines)
    tied = {s.torch_name: s.ms_name for s in plan.steps if s.action == "tied"}
    assert tied["tree.pos.proj.weight"] == "pos.proj.weight" and tied["tree.left.pos.proj.bias"] == "pos.proj.bias", printed
    assert not [s for s in plan.steps if s.ms_name and s.ms_name.startswith("tree.root.")], printed
    mmod = load(dst, f"shared_ms_{tmp_path.name}", out)
    mnet = mmod.Net()
    assert mindspore.load_param_into_net(mnet, mindspore.load_checkpoint(str(tmp_path / "n.ckpt")),
                                         strict_load=True) == ([], []), printed
    x = np.random.default_rng(1).standard_normal((3, 3, 6, 6)).astype(np.float32)
    tnet.eval()
    mnet.set_train(False)
    with torch.no_grad():
        assert not compare(tnet(torch.from_numpy(x)), mnet(mindspore.Tensor(x)), where="eval")
        tnet.train()
        mnet.set_train(True)
        assert not compare(tnet(torch.from_numpy(x)), mnet(mindspore.Tensor(x)), where="train")
    ms = {p.name: p.asnumpy() for p in mnet.get_parameters()}
    for name, t in tnet.state_dict().items():
        if name.endswith(("running_mean", "running_var")):
            leaf = "moving_mean" if name.endswith("mean") else "moving_variance"
            got = ms[name.rsplit(".", 1)[0] + "." + leaf]
            assert not compare(t, got, where=name), name


TUPLE_MEMBERS = """
def create_head(c, n):  # timm's create_classifier: (pool, fc)
    return nn.AdaptiveAvgPool2d(1), nn.Linear(c, n)


class Net(nn.Module):
    def __init__(self, c=4, n=3):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, c, 3), nn.BatchNorm2d(c)
        self.global_pool, self.classifier = create_head(c, n)

    def forward(self, x):
        x = self.global_pool(self.bn(self.conv(x))).flatten(1)
        return self.classifier(x)
"""


def test_members_assigned_by_tuple_unpacking_static_map(tmp_path):
    """`self.pool, self.fc = factory(...)` and `self.a, self.b = A(...), B(...)`: the static map
    knows the members (the checkpoint's names decide what a factory built); no --ms-model."""
    _, _, code, printed = round_trip(tmp_path, TUPLE_MEMBERS, "Net", shape=(2, 3, 6, 6))
    assert "bn.weight -> bn.gamma" in printed and "classifier.weight" in printed, printed


OR_DEFAULTS = """
from functools import partial


def get_norm_layer(layer):  # timm's: a class, a partial or a name; None stays None
    return layer


class Block(nn.Module):
    def __init__(self, dim, norm_layer=None, act_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.LayerNorm
        act = act_layer or nn.GELU
        self.norm = norm_layer(dim)
        self.fc = nn.Linear(dim, dim)
        self.act = act()

    def forward(self, x):
        return x + self.act(self.fc(self.norm(x)))


class Net(nn.Module):
    def __init__(self, dim=8, norm_layer=None):
        super().__init__()
        norm_layer = get_norm_layer(norm_layer) or partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.Sequential(Block(dim), Block(dim, norm_layer=nn.BatchNorm1d))
        self.norm = norm_layer(dim)

    def forward(self, x):
        return self.norm(self.blocks(x))
"""


def test_layer_class_parameter_with_an_or_default_static_map(tmp_path):
    """`norm_layer = get_norm_layer(norm_layer) or LayerNorm` (timm's ViT family): the static map
    takes the class after `or` where the construction site passes none, and the site's class where
    it passes one (BatchNorm1d: gamma, moving_mean), without --ms-model."""
    _, _, code, printed = round_trip(tmp_path, OR_DEFAULTS, "Net")
    assert "norm.weight -> norm.gamma" in printed and "blocks.1.norm.running_mean -> blocks.1.norm.moving_mean" in printed, printed
    assert "blocks.0.norm.weight -> blocks.0.norm.gamma" in printed, printed


def test_class_reexported_by_its_package_static_map(tmp_path):
    """`from pkg.layers import PatchEmbed` (timm imports itself absolutely; timm/layers/__init__.py
    re-exports it, and other modules define their own PatchEmbed): the static map finds the class
    in the package's own modules."""
    import mindspore
    import torch

    from migrator.checkpoint import convert_checkpoint

    src = tmp_path / "src" / "pkg"
    files = {
        "__init__.py": "",
        "layers/__init__.py": "from .embed import PatchEmbed\n",
        "layers/embed.py": HEAD + "class PatchEmbed(nn.Module):\n    def __init__(self, c, d):\n        super().__init__()\n"
                           "        self.proj = nn.Conv2d(c, d, 2, stride=2)\n        self.norm = nn.LayerNorm(d)\n\n"
                           "    def forward(self, x):\n        return self.norm(self.proj(x).flatten(2).transpose(1, 2))\n",
        "models/__init__.py": "",
        "models/other.py": HEAD + "class PatchEmbed(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
                              "        self.bn = nn.BatchNorm1d(d)\n",
        "models/net.py": HEAD + "from pkg.layers import PatchEmbed\n\n\nclass Net(nn.Module):\n    def __init__(self, d=4):\n"
                            "        super().__init__()\n        self.patch_embed = PatchEmbed(3, d)\n\n"
                            "    def forward(self, x):\n        return self.patch_embed(x)\n",
    }
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(out / "pkg"), "--param-map",
                        str(tmp_path / "map.json")], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        from pkg.models.net import Net as TorchNet

        tnet = TorchNet()
    finally:
        sys.path.remove(str(tmp_path / "src"))
        for k in [k for k in sys.modules if k == "pkg" or k.startswith("pkg.")]:
            del sys.modules[k]
    randomize(tnet)
    torch.save(tnet.state_dict(), tmp_path / "n.pth")
    lines = []
    convert_checkpoint(str(tmp_path / "n.pth"), str(tmp_path / "n.ckpt"), str(tmp_path / "map.json"),
                       model="models/net.py:Net", echo=lines.append)
    assert "patch_embed.norm.weight -> patch_embed.norm.gamma" in "\n".join(lines), lines
    code = ("import sys, numpy as np, mindspore; sys.path.insert(0, '.'); from pkg.models.net import Net; n = Net(); "
            f"print(mindspore.load_param_into_net(n, mindspore.load_checkpoint({str(tmp_path / 'n.ckpt')!r}), strict_load=True)); "
            "n.set_train(False); np.save('y.npy', n(mindspore.Tensor(np.load('x.npy'))).asnumpy())")
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.save(out / "x.npy", x)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(out), env=ENV, timeout=300)
    assert r.returncode == 0 and "([], [])" in r.stdout, r.stdout + r.stderr[-2000:]
    tnet.eval()
    assert not compare(tnet(torch.from_numpy(x)), np.load(out / "y.npy"), where="eval")


SEQUENTIAL_SUBCLASS = """
class SequentialTuple(nn.Sequential):  # timm's PiT: a Sequential passing a tuple along
    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class Stage(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, xs):
        x, extra = xs
        return self.fc(self.norm(x)) + extra, extra


class Net(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        stages = [Stage(dim) for _ in range(2)]
        self.stages = SequentialTuple(*stages)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        return self.bn(self.stages((x, x * 0.5))[0])
"""


def test_sequential_subclass_static_map(tmp_path):
    """A Sequential subclass without an __init__ of its own is built as nn.Sequential: the static
    map numbers its items (it had no member '0')."""
    _, _, code, printed = round_trip(tmp_path, SEQUENTIAL_SUBCLASS, "Net")
    assert "stages.1.norm.weight -> stages.1.norm.gamma" in printed, printed


def test_member_none_on_a_path_static_map(tmp_path):
    """`self.root = Root(c)` at the last level, `self.root = None` above it (timm's DlaTree): the
    static map alone places the checkpoint (nothing of `tree.root` asked for where it is None)."""
    import torch

    src, dst, out = convert_folder(tmp_path, "optional", SHARED_AND_OPTIONAL.replace(
        "self.pos = shared_pos", "self.pos = shared_pos or nn.Identity()").replace(
        "self.tree = Tree(2, c, shared_pos=self.pos)", "self.tree = Tree(2, c)"))
    tmod = load(src, f"optional_torch_{tmp_path.name}")
    tnet = tmod.Net()
    randomize(tnet)
    plan, path, printed = ckpt(tmp_path, tnet, "Net")
    assert not isinstance(plan, Exception), printed
    assert "tree.root" not in printed and "tree.left.root.bn.weight -> tree.left.root.bn.gamma" in printed, printed


def test_shared_module_static_map(tmp_path):
    """The static map alone: a tensor torch saves under several names (one module at several
    paths) is tied to its first name, as the converted model keeps it."""
    _, mmod, code, printed = round_trip(tmp_path, SHARED_AND_OPTIONAL.replace(
        "self.tree = Tree(2, c, shared_pos=self.pos)", "self.tree = Tree(2, c, shared_pos=PosEnc(c))"),
        "Net", shape=(2, 3, 6, 6), root="Net")
    assert "tied        tree.left.pos.proj.weight -> tree.pos.proj.weight" in printed, printed
