"""Train an MLP classifier on synthetic data (team-written sample).

    python train_mlp.py --epochs 3 --optimizer sgd
"""
import argparse
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class Classifier(nn.Module):
    def __init__(self, n_in=10, hidden=32, n_out=3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_out),
        )

    def forward(self, x):
        return self.net(x)


def make_optimizer(model, kind, lr):
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return torch.optim.Adam(model.parameters(), lr=lr)


def train_epoch(model, loader, optimizer, log_every=10):
    """One pass over the loader; returns the loss of every step."""
    model.train()
    losses = []
    for step, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % log_every == 0:
            print(f"  step {step:3d}  loss {loss.item():.4f}")
    return losses


def evaluate(model, loader):
    model.eval()
    correct, total = 0, 0
    for x, y in loader:
        pred = model(x).argmax(dim=1)
        total += y.shape[0]
        correct += (pred == y).sum().item()
    return correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(512, 10)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()   # three classes
    train = DataLoader(TensorDataset(x[:384], y[:384]), batch_size=32, shuffle=True)
    test = DataLoader(TensorDataset(x[384:], y[384:]), batch_size=64)

    model = Classifier()
    optimizer = make_optimizer(model, args.optimizer, args.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    for epoch in range(args.epochs):
        losses = train_epoch(model, train, optimizer)
        scheduler.step()
        print(f"epoch {epoch}: mean loss {sum(losses) / len(losses):.4f}, test accuracy {evaluate(model, test):.3f}")

    path = os.path.join(tempfile.mkdtemp(), "classifier.pt")
    torch.save(model.state_dict(), path)
    restored = Classifier()
    restored.load_state_dict(torch.load(path))
    print(f"restored model accuracy {evaluate(restored, test):.3f}")


if __name__ == "__main__":
    main()
