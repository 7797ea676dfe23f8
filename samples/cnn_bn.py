"""A small convolutional classifier with batch normalisation (team-written sample)."""
import torch
from torch import nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SmallCNN(nn.Module):
    def __init__(self, num_classes=10):
        super(SmallCNN, self).__init__()
        self.stem = ConvBlock(3, 16)
        self.layer1 = ConvBlock(16, 32, stride=2)
        self.pool = nn.MaxPool2d(2)
        self.layer2 = ConvBlock(32, 64)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.pool(self.layer1(x))
        x = self.layer2(x)
        x = self.flatten(self.gap(x))
        return self.fc(x)


if __name__ == "__main__":
    net = SmallCNN()
    net.eval()
    images = torch.randn(4, 3, 32, 32)
    logits = net(images)
    print("logits", logits.shape, "predicted", logits.argmax(dim=1))
