"""Sequence classification with an LSTM on a synthetic task (team-written sample).

Is the running sum of a random +-1 sequence positive at the end? A custom Dataset, Adam,
gradient clipping, an evaluation under no_grad, and a checkpoint dict with the optimizer state.
"""
import argparse
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class SignSequences(Dataset):
    def __init__(self, n, length=12, seed=0):
        rng = np.random.default_rng(seed)
        self.seqs = rng.choice([-1.0, 1.0], size=(n, length, 1)).astype(np.float32)
        self.labels = (self.seqs.sum(axis=(1, 2)) > 0).astype(np.int64)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return torch.from_numpy(self.seqs[idx]), int(self.labels[idx])


class SeqClassifier(nn.Module):
    def __init__(self, hidden=16, num_classes=2):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.head(out[:, -1, :])


def train_epoch(model, loader, optimizer, criterion, clip=1.0):
    model.train()
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def accuracy(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            outputs = model(x)
            _, predicted = torch.max(outputs.data, 1)
            correct += (predicted == y).sum().item()
    return correct / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    train_loader = DataLoader(SignSequences(512, seed=0), batch_size=32, shuffle=True)
    test_loader = DataLoader(SignSequences(128, seed=1), batch_size=64)
    model = SeqClassifier()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(args.epochs):
        loss = train_epoch(model, train_loader, optimizer, criterion)
        print(f"epoch {epoch}: loss {loss:.4f}  accuracy {accuracy(model, test_loader):.3f}")

    path = os.path.join(tempfile.mkdtemp(), "checkpoint.pth")
    torch.save({"epoch": args.epochs, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    checkpoint = torch.load(path)
    resumed = SeqClassifier()
    resumed.load_state_dict(checkpoint["model"])
    print(f"resumed at epoch {checkpoint['epoch']}: accuracy {accuracy(resumed, test_loader):.3f}")


if __name__ == "__main__":
    main()
