"""torchvision.models ResNet / ResNeXt / Wide ResNet and VGG, as MindSpore cells.

MindSpore's core package has no model zoo. These are torchvision's architectures layer for layer,
with torchvision's attribute names, so parameter names are torchvision's state_dict keys (BatchNorm's
weight/bias/running_mean/running_var being MindSpore's gamma/beta/moving_mean/moving_variance), and
torchvision's initialisation. Pretrained weights (`weights="IMAGENET1K_V1"`, `pretrained=True`) are
torchvision's own files, read without torch: from torch hub's cache ($TORCH_HOME/hub/checkpoints, where
torch keeps them) or downloaded there from torchvision's address, checked against the hash in the
file name, and loaded strictly.
"""
import hashlib
import os
import shutil
import tempfile
import urllib.request

import mindspore
from mindspore import nn, ops
from mindspore.common import initializer as ms_init

from .load_state_dict import ms_load_state_dict
from .torch_files import read_torch_file

# torchvision's ImageNet weights: architecture -> {weights name: file under download.pytorch.org/models/}
_WEIGHT_FILES = {
    "resnet18": {"IMAGENET1K_V1": "resnet18-f37072fd.pth"},
    "resnet34": {"IMAGENET1K_V1": "resnet34-b627a593.pth"},
    "resnet50": {"IMAGENET1K_V1": "resnet50-0676ba61.pth", "IMAGENET1K_V2": "resnet50-11ad3fa6.pth"},
    "resnet101": {"IMAGENET1K_V1": "resnet101-63fe2227.pth", "IMAGENET1K_V2": "resnet101-cd907fc2.pth"},
    "resnet152": {"IMAGENET1K_V1": "resnet152-394f9c45.pth", "IMAGENET1K_V2": "resnet152-f82ba261.pth"},
    "resnext50_32x4d": {"IMAGENET1K_V1": "resnext50_32x4d-7cdf4587.pth", "IMAGENET1K_V2": "resnext50_32x4d-1a0047aa.pth"},
    "resnext101_32x8d": {"IMAGENET1K_V1": "resnext101_32x8d-8ba56ff5.pth",
                         "IMAGENET1K_V2": "resnext101_32x8d-110c445d.pth"},
    "wide_resnet50_2": {"IMAGENET1K_V1": "wide_resnet50_2-95faca4d.pth", "IMAGENET1K_V2": "wide_resnet50_2-9ba9bcbe.pth"},
    "wide_resnet101_2": {"IMAGENET1K_V1": "wide_resnet101_2-32ee1156.pth",
                         "IMAGENET1K_V2": "wide_resnet101_2-d733dc28.pth"},
    "vgg11": {"IMAGENET1K_V1": "vgg11-8a719046.pth"},
    "vgg11_bn": {"IMAGENET1K_V1": "vgg11_bn-6002323d.pth"},
    "vgg13": {"IMAGENET1K_V1": "vgg13-19584684.pth"},
    "vgg13_bn": {"IMAGENET1K_V1": "vgg13_bn-abd245e5.pth"},
    "vgg16": {"IMAGENET1K_V1": "vgg16-397923af.pth"},
    "vgg16_bn": {"IMAGENET1K_V1": "vgg16_bn-6c64b313.pth"},
    "vgg19": {"IMAGENET1K_V1": "vgg19-dcbb9e9d.pth"},
    "vgg19_bn": {"IMAGENET1K_V1": "vgg19_bn-c79401a0.pth"},
}
_WEIGHTS_URL = "https://download.pytorch.org/models/"


def _weights_file(name, weights, pretrained):
    """The torchvision file asked for, or None. `weights` as the converter writes it: a name
    ("IMAGENET1K_V2", "DEFAULT", "ResNet50_Weights.IMAGENET1K_V2"), None, or torchvision's legacy
    `pretrained=True` (IMAGENET1K_V1)."""
    if weights is None:
        if not pretrained:
            return None
        weights = "IMAGENET1K_V1"
    if not isinstance(weights, str):
        raise TypeError(f"{name}: weights={weights!r}: pass torchvision's weights by name, e.g. 'IMAGENET1K_V1'")
    files = _WEIGHT_FILES[name]
    kind, _, tag = weights.rpartition(".")
    if kind and kind.lower() != f"{name}_weights":
        raise ValueError(f"{name}: weights {weights!r} are another architecture's")
    if tag == "DEFAULT":
        tag = max(files)  # the newest: IMAGENET1K_V2 where torchvision has it
    if tag not in files:
        raise ValueError(f"{name}: no torchvision weights {weights!r}; known: {', '.join(sorted(files))}, DEFAULT")
    return files[tag]


def _hub_checkpoints():
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return os.path.join(home, "hub", "checkpoints")


def _fetch(filename):
    """torch hub's cached copy, else downloaded there (as torch does), its SHA-256 prefix checked."""
    folder = _hub_checkpoints()
    path = os.path.join(folder, filename)
    if os.path.exists(path):
        return path
    os.makedirs(folder, exist_ok=True)
    url = _WEIGHTS_URL + filename
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".partial")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url)
            except OSError as exc:  # no network: say where the file goes
                raise RuntimeError(f"{url}: cannot download ({getattr(exc, 'reason', exc)}); "
                                   f"put that file at {path}") from exc
            with response:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
        prefix = filename.rsplit("-", 1)[-1].split(".")[0]
        if not digest.hexdigest().startswith(prefix):
            raise RuntimeError(f"{url}: downloaded file's SHA-256 does not start with {prefix}")
        shutil.move(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_torchvision_weights(net, path):
    """torchvision's state_dict into the cell, strictly: torch's names are matched by layer
    (BatchNorm's weight is gamma, ...) as model.load_state_dict does in converted code."""
    state = read_torch_file(path, tensor=mindspore.Tensor)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state_dict (a {type(state).__name__})")
    ms_load_state_dict(net, state)
    return net


def _dense(cin, cout, **init):
    """A Dense layer that also answers to torch's Linear attribute names: transfer learning reads
    `model.fc.in_features` to build the new head."""
    layer = nn.Dense(cin, cout, **init)
    layer.in_features, layer.out_features = cin, cout
    return layer


def _conv(cin, cout, kernel, stride=1, padding=0, groups=1, dilation=1, bias=False):
    # torchvision: kaiming_normal_(mode='fan_out', nonlinearity='relu'); biases (VGG) zero
    return nn.Conv2d(cin, cout, kernel, stride=stride, pad_mode="pad", padding=padding, group=groups,
                     dilation=dilation, has_bias=bias, weight_init=ms_init.HeNormal(mode="fan_out", nonlinearity="relu"),
                     bias_init="zeros" if bias else None)


def _batch_norm(num_features):
    return nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.9)  # torch's momentum 0.1


class MsBasicBlock(nn.Cell):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or _batch_norm
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = _conv(inplanes, planes, 3, stride, 1)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU()
        self.conv2 = _conv(planes, planes, 3, 1, 1)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class MsBottleneck(nn.Cell):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or _batch_norm
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = _conv(inplanes, width, 1)
        self.bn1 = norm_layer(width)
        self.conv2 = _conv(width, width, 3, stride, dilation, groups, dilation)  # the stride here (ResNet v1.5)
        self.bn2 = norm_layer(width)
        self.conv3 = _conv(width, planes * self.expansion, 1)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class MsResNet(nn.Cell):
    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1, width_per_group=64,
                 replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        self._norm_layer = norm_layer or _batch_norm
        self.inplanes, self.dilation = 64, 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, "
                             f"got {replace_stride_with_dilation}")
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = _conv(3, self.inplanes, 7, 2, 3)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="pad", padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = _dense(512 * block.expansion, num_classes)  # torch's Linear initialisation
        if zero_init_residual:
            for _, cell in self.cells_and_names():
                if isinstance(cell, MsBottleneck) and cell.bn3.gamma is not None:
                    cell.bn3.gamma.set_data(ops.zeros_like(cell.bn3.gamma))
                elif isinstance(cell, MsBasicBlock) and cell.bn2.gamma is not None:
                    cell.bn2.gamma.set_data(ops.zeros_like(cell.bn2.gamma))

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.SequentialCell(_conv(self.inplanes, planes * block.expansion, 1, stride),
                                           norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation,
                        norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation, norm_layer=norm_layer))
        return nn.SequentialCell(*layers)

    def construct(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(ops.flatten(x, start_dim=1))


def _pretrained(net, name, weights, pretrained):
    filename = _weights_file(name, weights, pretrained)
    return net if filename is None else load_torchvision_weights(net, _fetch(filename))


def _resnet(name, block, layers, weights, pretrained, kwargs, **preset):
    _weights_file(name, weights, pretrained)  # a bad name fails before the model is built
    kwargs.pop("progress", None)
    return _pretrained(MsResNet(block, layers, **{**kwargs, **preset}), name, weights, pretrained)


def ms_resnet18(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("resnet18", MsBasicBlock, [2, 2, 2, 2], weights, pretrained, kwargs)


def ms_resnet34(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("resnet34", MsBasicBlock, [3, 4, 6, 3], weights, pretrained, kwargs)


def ms_resnet50(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("resnet50", MsBottleneck, [3, 4, 6, 3], weights, pretrained, kwargs)


def ms_resnet101(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("resnet101", MsBottleneck, [3, 4, 23, 3], weights, pretrained, kwargs)


def ms_resnet152(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("resnet152", MsBottleneck, [3, 8, 36, 3], weights, pretrained, kwargs)


def ms_resnext50_32x4d(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("resnext50_32x4d", MsBottleneck, [3, 4, 6, 3], weights, pretrained, kwargs,
                   groups=32, width_per_group=4)


def ms_resnext101_32x8d(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("resnext101_32x8d", MsBottleneck, [3, 4, 23, 3], weights, pretrained, kwargs,
                   groups=32, width_per_group=8)


def ms_wide_resnet50_2(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("wide_resnet50_2", MsBottleneck, [3, 4, 6, 3], weights, pretrained, kwargs, width_per_group=128)


def ms_wide_resnet101_2(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _resnet("wide_resnet101_2", MsBottleneck, [3, 4, 23, 3], weights, pretrained, kwargs, width_per_group=128)


class MsVGG(nn.Cell):
    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        # torchvision: Linear weights normal(0, 0.01), biases zero (with init_weights)
        init = (lambda: dict(weight_init=ms_init.Normal(0.01), bias_init="zeros")) if init_weights else dict
        self.classifier = nn.SequentialCell(
            _dense(512 * 7 * 7, 4096, **init()), nn.ReLU(), nn.Dropout(p=dropout),
            _dense(4096, 4096, **init()), nn.ReLU(), nn.Dropout(p=dropout),
            _dense(4096, num_classes, **init()))

    def construct(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(ops.flatten(x, start_dim=1))


_VGG_CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def _vgg_features(cfg, batch_norm):
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(_conv(cin, v, 3, 1, 1, bias=True))
            if batch_norm:
                layers.append(_batch_norm(v))
            layers.append(nn.ReLU())
            cin = v
    return nn.SequentialCell(*layers)


def _vgg(name, cfg, batch_norm, weights, pretrained, kwargs):
    _weights_file(name, weights, pretrained)
    kwargs.pop("progress", None)
    return _pretrained(MsVGG(_vgg_features(_VGG_CFGS[cfg], batch_norm), **kwargs), name, weights, pretrained)


def ms_vgg11(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg11", "A", False, weights, pretrained, kwargs)


def ms_vgg11_bn(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg11_bn", "A", True, weights, pretrained, kwargs)


def ms_vgg13(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg13", "B", False, weights, pretrained, kwargs)


def ms_vgg13_bn(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg13_bn", "B", True, weights, pretrained, kwargs)


def ms_vgg16(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg16", "D", False, weights, pretrained, kwargs)


def ms_vgg16_bn(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg16_bn", "D", True, weights, pretrained, kwargs)


def ms_vgg19(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg19", "E", False, weights, pretrained, kwargs)


def ms_vgg19_bn(pretrained=False, progress=True, *, weights=None, **kwargs):
    return _vgg("vgg19_bn", "E", True, weights, pretrained, kwargs)


# torchvision.models.__dict__ (model names looked up at run time, as in `models.__dict__[args.arch]()`)
MS_VISION_MODELS = {
    "resnet18": ms_resnet18, "resnet34": ms_resnet34, "resnet50": ms_resnet50, "resnet101": ms_resnet101,
    "resnet152": ms_resnet152, "resnext50_32x4d": ms_resnext50_32x4d, "resnext101_32x8d": ms_resnext101_32x8d,
    "wide_resnet50_2": ms_wide_resnet50_2, "wide_resnet101_2": ms_wide_resnet101_2, "vgg11": ms_vgg11,
    "vgg11_bn": ms_vgg11_bn, "vgg13": ms_vgg13, "vgg13_bn": ms_vgg13_bn, "vgg16": ms_vgg16,
    "vgg16_bn": ms_vgg16_bn, "vgg19": ms_vgg19, "vgg19_bn": ms_vgg19_bn,
    "ResNet": MsResNet, "VGG": MsVGG, "BasicBlock": MsBasicBlock, "Bottleneck": MsBottleneck,
}
