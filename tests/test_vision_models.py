"""torchvision.models builders (ResNet, ResNeXt, Wide ResNet, VGG) converted to the MindSpore
cells in migrator/runtime/vision_models.py: same parameter names (BatchNorm's renamed as every
BatchNorm is), same outputs from the same weights.

torchvision does not import beside torch 2.13 here (see ../shared/REFERENCE.md), so the torch side
is the reference below, written from torchvision's published architecture (ResNet v1.5: the stride
in the bottleneck's 3x3 convolution; VGG configurations A/B/D/E). The runtime cells were also
checked once against torchvision's own resnet.py source (keys identical, outputs within 2e-6 of
scale): see the closing note of the session that added them.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from equivalence import compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USER_PROGRAM = '''
import torch
import torchvision.models as models
from torchvision.models.resnet import BasicBlock


def build(name, **kwargs):
    return models.__dict__[name](**kwargs)


def resnet18(n):
    return models.resnet18(weights=None, num_classes=n)


def vgg11_bn(n):
    return models.vgg11_bn(num_classes=n)


def pretrained(flag):
    return models.resnet18(pretrained=flag)


def with_weights():
    return models.resnet18(weights=models.ResNet18_Weights.IMAGENET1K_V1)


def default_weights():
    from torchvision.models import ResNet18_Weights
    return models.resnet18(weights=ResNet18_Weights.DEFAULT)


def wrong_weights():
    return models.resnet34(weights=models.ResNet18_Weights.DEFAULT)


class Siamese(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = models.resnet34(weights=None)
        self.resnet.fc = torch.nn.Linear(512, 4)
        self.extra = BasicBlock(4, 4)

    def forward(self, x):
        return self.resnet(x)
'''


def torch_reference():
    import torch.nn as nn

    def conv(cin, cout, k, stride=1, padding=0, groups=1, bias=False):
        return nn.Conv2d(cin, cout, k, stride=stride, padding=padding, groups=groups, bias=bias)

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride=1, downsample=None, groups=1, width=64):
            super().__init__()
            self.conv1, self.bn1 = conv(cin, planes, 3, stride, 1), nn.BatchNorm2d(planes)
            self.conv2, self.bn2 = conv(planes, planes, 3, 1, 1), nn.BatchNorm2d(planes)
            self.relu, self.downsample = nn.ReLU(), downsample

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Bottle(nn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride=1, downsample=None, groups=1, width=64):
            super().__init__()
            w = int(planes * width / 64) * groups
            self.conv1, self.bn1 = conv(cin, w, 1), nn.BatchNorm2d(w)
            self.conv2, self.bn2 = conv(w, w, 3, stride, 1, groups), nn.BatchNorm2d(w)
            self.conv3, self.bn3 = conv(w, planes * 4, 1), nn.BatchNorm2d(planes * 4)
            self.relu, self.downsample = nn.ReLU(), downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet(nn.Module):
        def __init__(self, block, layers, num_classes=1000, groups=1, width=64):
            super().__init__()
            self.cin = 64
            self.conv1, self.bn1, self.relu = conv(3, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
                stride = 1 if i == 0 else 2
                down = None
                if stride != 1 or self.cin != planes * block.expansion:
                    down = nn.Sequential(conv(self.cin, planes * block.expansion, 1, stride),
                                         nn.BatchNorm2d(planes * block.expansion))
                blocks = [block(self.cin, planes, stride, down, groups, width)]
                self.cin = planes * block.expansion
                blocks += [block(self.cin, planes, 1, None, groups, width) for _ in range(1, n)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.avgpool, self.fc = nn.AdaptiveAvgPool2d((1, 1)), nn.Linear(512 * block.expansion, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    class VGG(nn.Module):
        def __init__(self, cfg, bn, num_classes=1000):
            super().__init__()
            layers, cin = [], 3
            for v in cfg:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [conv(cin, v, 3, 1, 1, bias=True)] + ([nn.BatchNorm2d(v)] if bn else []) + [nn.ReLU()]
                    cin = v
            self.features, self.avgpool = nn.Sequential(*layers), nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(nn.Linear(512 * 49, 4096), nn.ReLU(), nn.Dropout(),
                                            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, num_classes))

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    a = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    return {
        "resnet18": lambda n: ResNet(Basic, [2, 2, 2, 2], n),
        "resnet34": lambda n: ResNet(Basic, [3, 4, 6, 3], n),
        "resnet50": lambda n: ResNet(Bottle, [3, 4, 6, 3], n),
        "resnext50_32x4d": lambda n: ResNet(Bottle, [3, 4, 6, 3], n, groups=32, width=4),
        "wide_resnet50_2": lambda n: ResNet(Bottle, [3, 4, 6, 3], n, width=128),
        "vgg11_bn": lambda n: VGG(a, True, n),
        "vgg11": lambda n: VGG(a, False, n),
    }


BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def copy_weights(tnet, mnet) -> int:
    """torch state_dict -> the cell: names kept, BatchNorm's renamed; every parameter filled once."""
    import mindspore
    import torch

    sd = tnet.state_dict()
    bn = {k.rsplit(".", 1)[0] for k in sd if k.endswith("running_mean")}
    params = mnet.parameters_dict()
    filled = set()
    with torch.no_grad():  # non-trivial statistics, so BatchNorm's renames and momentum matter
        for m in tnet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.1, 0.1)
    for key, value in sd.items():
        prefix, leaf = key.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            continue
        name = f"{prefix}.{BN[leaf]}" if prefix in bn else key
        assert name in params, f"{key} -> {name} is not a parameter of the cell"
        assert tuple(params[name].shape) == tuple(value.shape), (key, params[name].shape, value.shape)
        params[name].set_data(mindspore.Tensor(value.numpy()))
        filled.add(name)
    assert filled == set(params), sorted(set(params) - filled)[:5]
    return len(filled)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    import runpy

    d = tmp_path_factory.mktemp("vision")
    (d / "prog.py").write_text(USER_PROGRAM)
    r = subprocess.run([sys.executable, "-m", "migrator", str(d / "prog.py"), "-o", str(d / "prog_ms.py")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (d / "prog_ms.py").read_text()
    assert "import torchvision" not in text and "ms-migrate: untranslated" not in text
    return runpy.run_path(str(d / "prog_ms.py"), run_name="prog_ms")


@pytest.mark.parametrize("name,size", [("resnet18", 64), ("resnet50", 64), ("resnext50_32x4d", 64),
                                       ("wide_resnet50_2", 32), ("vgg11_bn", 32), ("vgg11", 32)])
def test_zoo_model_matches_torch(converted, name, size):
    import mindspore
    import torch

    torch.manual_seed(0)
    tnet = torch_reference()[name](6)
    mnet = converted["build"](name, num_classes=6)
    n = copy_weights(tnet, mnet)
    tnet.eval()
    mnet.set_train(False)
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    t, m = tnet(torch.from_numpy(x)).detach(), mnet(mindspore.Tensor(x))
    scale = float(t.abs().max())
    err = float(np.abs(t.numpy() - m.asnumpy()).max())
    print(f"{name}: {n} tensors, eval max abs error {err:.3g} (scale {scale:.3g})")
    assert not compare(t, m)


def _same_outputs(tnet, mnet, seed, label):
    """torch's and MindSpore's model in eval mode on the same 1x3x40x40 input: compare() passes."""
    import mindspore
    import torch

    tnet.eval()
    mnet.set_train(False)
    x = np.random.default_rng(seed).standard_normal((1, 3, 40, 40)).astype(np.float32)
    t, m = tnet(torch.from_numpy(x)).detach(), mnet(mindspore.Tensor(x))
    print(f"{label} max abs error {float(np.abs(t.numpy() - m.asnumpy()).max()):.3g} (scale {float(t.abs().max()):.3g})")
    assert not compare(t, m)


def test_builders_and_blocks_from_the_users_program(converted):
    import mindspore
    import torch

    torch.manual_seed(0)
    tnet, mnet = torch_reference()["resnet18"](5), converted["resnet18"](5)
    copy_weights(tnet, mnet)
    tnet.eval()
    mnet.set_train(False)
    x = np.random.default_rng(2).standard_normal((1, 3, 48, 48)).astype(np.float32)
    assert not compare(tnet(torch.from_numpy(x)).detach(), mnet(mindspore.Tensor(x)))
    siamese = converted["Siamese"]()
    assert siamese.resnet.fc.weight.shape == (4, 512)
    assert siamese(mindspore.Tensor(x)).shape == (1, 4)
    assert sorted(converted["MS_VISION_MODELS"]) and "resnet152" in converted["MS_VISION_MODELS"]
    assert converted["vgg11_bn"](3).classifier[6].weight.shape == (3, 4096)
    # transfer learning's idiom: the new head's size from the old one's
    assert converted["resnet18"](5).fc.in_features == 512 and converted["resnet18"](5).fc.out_features == 5
    assert converted["vgg11_bn"](3).classifier[6].in_features == 4096


def test_pretrained_weight_arguments_convert(tmp_path):
    src = tmp_path / "p.py"
    src.write_text("import torchvision.models as models\n"
                   "from torchvision.models import ResNet50_Weights\n"
                   "a = models.resnet18(pretrained=True)\n"
                   "b = models.vgg16(weights=models.VGG16_Weights.IMAGENET1K_V1).features\n"
                   "c = models.resnet50(weights='IMAGENET1K_V2')\n"
                   "d = models.resnet50(pretrained=False)\n"
                   "e = models.resnet50(weights=ResNet50_Weights.DEFAULT)\n")
    r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(tmp_path / "o.py")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    out = (tmp_path / "o.py").read_text()
    for line in ("a = ms_resnet18(pretrained=True)", "b = ms_vgg16(weights='VGG16_Weights.IMAGENET1K_V1').features",
                 "c = ms_resnet50(weights='IMAGENET1K_V2')", "d = ms_resnet50()",
                 "e = ms_resnet50(weights='ResNet50_Weights.DEFAULT')"):
        assert line in out
    assert "import torch" not in out and "ms-migrate: untranslated" not in out


def _hub_file(tmp_path, name, legacy=False):
    """A torchvision-layout state_dict where torch hub keeps torchvision's downloads."""
    import torch

    torch.manual_seed(0)
    tnet = torch_reference()["resnet18"](1000)
    for m in tnet.modules():  # statistics that are not the initial 0/1
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(tnet.state_dict(), folder / name, _use_new_zipfile_serialization=not legacy)
    return tnet.eval()


@pytest.mark.parametrize("builder,legacy", [("with_weights", False), ("default_weights", True),
                                            ("pretrained", False)])
def test_pretrained_weights_load_from_torch_hubs_cache(converted, tmp_path, monkeypatch, builder, legacy):
    """`weights=ResNet18_Weights.IMAGENET1K_V1` / `DEFAULT` / `pretrained=True`: torchvision's file
    is read without torch (zip and pre-1.6 layouts) from $TORCH_HOME/hub/checkpoints, loaded
    strictly, and the converted model computes what torch's computes with it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    tnet = _hub_file(tmp_path, "resnet18-f37072fd.pth", legacy)
    mnet = converted[builder](True) if builder == "pretrained" else converted[builder]()
    _same_outputs(tnet, mnet, 5, f"{builder} ({'legacy' if legacy else 'zip'} .pth)")


def test_pretrained_weights_errors(converted, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="another architecture"):
        converted["wrong_weights"]()
    with pytest.raises(ValueError, match="no torchvision weights 'IMAGENET1K_V3'"):
        converted["build"]("resnet18", weights="IMAGENET1K_V3")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "resnet34-b627a593.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):
        converted["build"]("resnet34", pretrained=True)


def test_weights_download_checks_the_hash(tmp_path, monkeypatch):
    """No network here: urlopen is replaced. The file lands in torch hub's cache only when its
    SHA-256 starts with the hash in its name; otherwise nothing is left behind."""
    import hashlib
    import io
    import urllib.error
    import urllib.request

    from migrator.runtime import vision_models as vm
    payload = b"weights"
    good = f"net-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    seen = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url: seen.append(url) or io.BytesIO(payload))
    path = vm._fetch(good)
    assert open(path, "rb").read() == payload and seen == ["https://download.pytorch.org/models/" + good]
    assert vm._fetch(good) == path and len(seen) == 1  # cached
    with pytest.raises(RuntimeError, match="SHA-256"):
        vm._fetch("net-00000000.pth")

    def offline(url):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="cannot download .*no route to host.*put that file at .*net-11111111.pth"):
        vm._fetch("net-11111111.pth")
    assert sorted(os.listdir(tmp_path / "hub" / "checkpoints")) == [good]


def _ckpt(args, cwd):
    return subprocess.run([sys.executable, "-m", "migrator", "ckpt", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("name", ["resnet50", "vgg11_bn"])
def test_torchvision_checkpoint_converts_and_loads_strictly(converted, tmp_path, name):
    """`ms-migrate ckpt W.pth --torchvision ARCH`: a torchvision-layout state_dict (with
    num_batches_tracked) becomes a .ckpt that loads strictly into the converted builder's model and
    computes what torch computes."""
    import mindspore
    import torch

    torch.manual_seed(0)
    tnet = torch_reference()[name](1000)
    copy_weights(tnet, converted["build"](name))  # randomises the BatchNorm statistics
    tnet.eval()
    torch.save(tnet.state_dict(), tmp_path / "w.pth")
    r = _ckpt([str(tmp_path / "w.pth"), "--torchvision", name, "-o", str(tmp_path / "w.ckpt"), "-q"], ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    mnet = converted["build"](name)
    not_loaded, unused = mindspore.load_param_into_net(mnet, mindspore.load_checkpoint(str(tmp_path / "w.ckpt")),
                                                       strict_load=True)
    assert not not_loaded and not unused, (not_loaded, unused)
    _same_outputs(tnet, mnet, 3, f"{name} via ckpt --torchvision: {r.stdout.strip().splitlines()[-1]};")


def test_zoo_model_inside_a_users_model_converts_through_the_param_map(tmp_path):
    """A user's model holding `models.resnet34()` (fc replaced): the parameter map places the zoo
    model; BatchNorms inside it are renamed, the rest kept; strict load."""
    import runpy

    import mindspore
    import torch

    (tmp_path / "prog.py").write_text(USER_PROGRAM)
    r = subprocess.run([sys.executable, "-m", "migrator", "prog.py", "-o", "out/prog.py", "-q"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    import torch.nn as nn

    class TorchSiamese(nn.Module):  # the user's class, with the reference in place of torchvision
        def __init__(self):
            super().__init__()
            self.resnet = torch_reference()["resnet34"](1000)
            self.resnet.fc = nn.Linear(512, 4)
            self.extra = type(self.resnet.layer1[0])(4, 4)

        def forward(self, x):
            return self.resnet(x)

    torch.manual_seed(0)
    tnet = TorchSiamese().eval()
    torch.save(tnet.state_dict(), tmp_path / "s.pth")
    r = _ckpt(["s.pth", "--param-map", "out/ms_migrate_param_map.json", "--model", "Siamese", "-o", "s.ckpt", "-q"],
              tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    ns = runpy.run_path(str(tmp_path / "out" / "prog.py"), run_name="m")
    mnet = ns["Siamese"]()
    not_loaded, unused = mindspore.load_param_into_net(mnet, mindspore.load_checkpoint(str(tmp_path / "s.ckpt")),
                                                       strict_load=True)
    assert not not_loaded and not unused, (not_loaded, unused)
    mnet.set_train(False)
    x = np.random.default_rng(4).standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert not compare(tnet(torch.from_numpy(x)).detach(), mnet(mindspore.Tensor(x)))


def test_unknown_torchvision_arch_is_a_clear_error(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"")
    r = _ckpt([str(tmp_path / "w.pth"), "--torchvision", "mobilenet_v9"], ROOT)
    assert r.returncode == 2 and "not a builder ms-migrate translates" in r.stderr and "resnet50" in r.stderr
