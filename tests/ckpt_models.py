"""Team-written torch architectures for the checkpoint round trip (tests/test_checkpoint.py).

Each entry of ARCHS: (class name, constructor kwargs, input spec for equivalence.make_inputs).
The sources are written into a package (``pkg/blocks.py`` + ``pkg/models.py``, so that classes
are also followed across files), converted with the CLI, and both frameworks are compared.
"""

BLOCKS = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(x + self.bn(self.conv(x)))


class Base(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.inp = nn.Linear(dim, dim)

    def forward(self, x):
        return self.inp(x)
'''

MODELS = '''\
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import Base, ResidualBlock


class ConvBN(nn.Module):
    """BatchNorm 1d/2d, nested Sequential, Sequential(OrderedDict), BatchNorm(affine=False)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8, affine=False)),
        )
        self.head = nn.Sequential(OrderedDict([
            ("fc", nn.Linear(8 * 4 * 4, 16)),
            ("bn", nn.BatchNorm1d(16, momentum=0.3)),
            ("act", nn.ReLU()),
        ]))
        self.out = nn.Linear(16, 5)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 2)
        x = torch.flatten(x, 1)
        return self.out(self.head(x))


class ResNetish(nn.Module):
    """User classes in a ModuleList filled by a loop, and in a Sequential built by a helper."""

    def __init__(self, n_blocks=2):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.ModuleList()
        for _ in range(n_blocks):
            self.blocks.append(ResidualBlock(8))
        self.layer2 = self._make_layer(8, 2)
        self.fc = nn.Linear(8, 4)

    def _make_layer(self, channels, n):
        layers = []
        for _ in range(n):
            layers.append(ResidualBlock(channels))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.stem(x)
        for blk in self.blocks:
            x = blk(x)
        x = self.layer2(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class NormZoo(nn.Module):
    """GroupNorm, PReLU (per channel and shared), InstanceNorm2d, LayerNorm."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1)
        self.gn = nn.GroupNorm(2, 6)
        self.act = nn.PReLU(6)
        self.inorm = nn.InstanceNorm2d(6, affine=True)
        self.act2 = nn.PReLU()
        self.ln = nn.LayerNorm(6 * 5 * 5)
        self.fc = nn.Linear(6 * 5 * 5, 3)

    def forward(self, x):
        x = self.act(self.gn(self.conv(x)))
        x = self.act2(self.inorm(x))
        x = self.ln(torch.flatten(x, 1))
        return self.fc(x)


class Conv1dNet(nn.Module):
    """Conv1d (the weight gains an axis), BatchNorm1d, a ModuleList comprehension."""

    def __init__(self, channels=4, depth=2):
        super().__init__()
        self.inp = nn.Conv1d(2, channels, 5, padding=2)
        self.bn = nn.BatchNorm1d(channels)
        self.convs = nn.ModuleList([nn.Conv1d(channels, channels, 3, padding=1, bias=False) for _ in range(depth)])
        self.out = nn.Linear(channels * 16, 3)

    def forward(self, x):
        x = F.relu(self.bn(self.inp(x)))
        for c in self.convs:
            x = F.relu(c(x))
        return self.out(torch.flatten(x, 1))


class Tagger(nn.Module):
    """Embedding, a 2-layer bidirectional LSTM, an nn.Parameter attribute."""

    def __init__(self, vocab=50, dim=8, hidden=6, tags=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, tags)
        self.temperature = nn.Parameter(torch.ones(tags))

    def forward(self, tokens):
        h, _ = self.lstm(self.emb(tokens))
        return self.proj(h) * self.temperature


class Head(nn.Module):
    def __init__(self, hidden, n):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(hidden, n), nn.Tanh())

    def forward(self, x):
        return self.body(x)


class GRUHeads(nn.Module):
    """GRU, a ModuleDict holding a class that holds a Sequential (MindSpore's CellDict refuses a
    SequentialCell member), persistent and non-persistent buffers."""

    def __init__(self, dim=5, hidden=7):
        super().__init__()
        self.gru = nn.GRU(dim, hidden)
        self.heads = nn.ModuleDict({"cls": Head(hidden, 3), "reg": nn.Linear(hidden, 1)})
        self.register_buffer("offset", torch.randn(hidden))
        self.register_buffer("scratch", torch.zeros(hidden), persistent=False)

    def forward(self, x):
        out, h = self.gru(x)
        z = out + self.offset + self.scratch
        return torch.cat([self.heads["cls"](z), self.heads["reg"](z)], -1)


class TiedAutoencoder(Base):
    """Tied weights; members inherited from a user class in another file."""

    def __init__(self, dim=6):
        super().__init__(dim)
        self.enc = nn.Linear(dim, dim)
        self.dec = nn.Linear(dim, dim)
        self.dec.weight = self.enc.weight

    def forward(self, x):
        return self.dec(torch.tanh(self.enc(self.inp(x))))


class VGGish(nn.Module):
    """A Sequential built in a loop from different layers: the checkpoint decides which is where."""

    def __init__(self, cfg=(8, "M", 16)):
        super().__init__()
        layers = []
        c = 3
        for v in cfg:
            if v == "M":
                layers += [nn.MaxPool2d(2)]
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(16, 4)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))
'''

ARCHS = [
    ("ConvBN", {}, {"x": "randn(4, 3, 8, 8)"}),
    ("ResNetish", {}, {"x": "randn(2, 3, 6, 6)"}),
    ("NormZoo", {}, {"x": "randn(3, 4, 5, 5)"}),
    ("Conv1dNet", {}, {"x": "randn(3, 2, 16)"}),
    ("Tagger", {}, {"tokens": "randint(0, 50, (2, 7))"}),
    ("GRUHeads", {}, {"x": "randn(6, 2, 5)"}),
    ("TiedAutoencoder", {}, {"x": "randn(4, 6)"}),
    ("VGGish", {}, {"x": "randn(2, 3, 8, 8)"}),
]
