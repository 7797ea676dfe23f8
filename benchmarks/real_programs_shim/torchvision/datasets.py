import os
import pickle

import numpy as np
import torch
from PIL import Image


def _read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class _VisionDataset(torch.utils.data.Dataset):
    def __init__(self, root, transform=None, target_transform=None):
        self.root = root
        self.transform = transform
        self.target_transform = target_transform

    def _finish(self, img, target):
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


class MNIST(_VisionDataset):
    _kind = "MNIST"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform, target_transform)
        self.train = train
        split = "train" if train else "t10k"
        for folder in (os.path.join(root, self._kind, "raw"), root, os.path.join(root, self._kind)):
            p = os.path.join(folder, f"{split}-images-idx3-ubyte")
            if os.path.exists(p):
                break
        else:
            raise RuntimeError(f"Dataset not found under {root}")
        self.data = torch.from_numpy(_read_idx(p).copy())
        self.targets = torch.from_numpy(_read_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte")).astype(np.int64))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    # torchvision's deprecated names, still there
    train_data = property(lambda self: self.data)
    test_data = property(lambda self: self.data)
    train_labels = property(lambda self: self.targets)
    test_labels = property(lambda self: self.targets)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self._finish(Image.fromarray(self.data[i].numpy(), mode="L"), int(self.targets[i]))


class FashionMNIST(MNIST):
    _kind = "FashionMNIST"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


class CIFAR10(_VisionDataset):
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform, target_transform)
        folder = os.path.join(root, "cifar-10-batches-py")
        files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        data, labels = [], []
        for f in files:
            with open(os.path.join(folder, f), "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")
            data.append(entry["data"])
            labels += entry["labels"]
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        self.targets = labels

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self._finish(Image.fromarray(self.data[i]), self.targets[i])


class ImageFolder(_VisionDataset):
    def __init__(self, root, transform=None, target_transform=None, loader=None, is_valid_file=None):
        super().__init__(root, transform, target_transform)
        self.classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = [(os.path.join(root, c, f), self.class_to_idx[c]) for c in self.classes
                        for f in sorted(os.listdir(os.path.join(root, c)))]
        self.imgs = self.samples
        self.targets = [s[1] for s in self.samples]
        self.loader = loader or (lambda p: Image.open(p).convert("RGB"))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, target = self.samples[i]
        return self._finish(self.loader(path), target)
