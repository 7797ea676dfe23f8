"""torchvision.models ResNet / ResNeXt / Wide ResNet and VGG, as MindSpore cells.

MindSpore's core package has no model zoo. These are torchvision's architectures layer for layer,
with torchvision's attribute names, so parameter names are torchvision's state_dict keys (BatchNorm's
weight/bias/running_mean/running_var being MindSpore's gamma/beta/moving_mean/moving_variance), and
torchvision's initialisation. Pretrained weights are not downloaded: a call asking for them raises;
convert torchvision's checkpoint with `ms-migrate ckpt` and load it with mindspore.load_checkpoint.
"""
from mindspore import nn, ops
from mindspore.common import initializer as ms_init


def _no_pretrained(name, weights, pretrained):
    if pretrained or weights is not None:
        raise NotImplementedError(
            f"{name}: pretrained torchvision weights are not downloaded in MindSpore; build the model without "
            "them, convert torchvision's .pth with `ms-migrate ckpt`, and load it with mindspore.load_checkpoint")


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
        self.fc = nn.Dense(512 * block.expansion, num_classes)  # torch's Linear initialisation
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


def _resnet(name, block, layers, weights, pretrained, kwargs, **preset):
    _no_pretrained(name, weights, pretrained)
    kwargs.pop("progress", None)
    return MsResNet(block, layers, **{**kwargs, **preset})


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
            nn.Dense(512 * 7 * 7, 4096, **init()), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Dense(4096, 4096, **init()), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Dense(4096, num_classes, **init()))

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
    _no_pretrained(name, weights, pretrained)
    kwargs.pop("progress", None)
    return MsVGG(_vgg_features(_VGG_CFGS[cfg], batch_norm), **kwargs)


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
