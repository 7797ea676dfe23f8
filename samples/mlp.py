"""A multi-layer perceptron classifier (team-written sample for ms-migrate)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    """Three dense layers with dropout; returns log-probabilities."""

    def __init__(self, in_features=20, hidden=64, num_classes=5, p_drop=0.2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(p_drop),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
        )
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        h = self.body(x)
        return F.log_softmax(self.head(h), dim=1)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = MLP()
    model.eval()
    x = torch.randn(8, 20)
    out = model(x)
    print("output", tuple(out.size()), "row sums", out.exp().sum(dim=1)[:3])
