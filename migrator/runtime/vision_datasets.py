"""torchvision datasets read from the same files on disk with mindspore.dataset.

Samples are (image, label) like torchvision's; the transform applies to the image column and
labels are int64 as torch's collate makes them. Nothing is downloaded: when the files are not
there, the error says where they were looked for.
"""
import os
import pickle

import mindspore
import mindspore.dataset
import numpy as np


def _find(root, names, subdirs):
    for sub in subdirs:
        folder = os.path.join(str(root), *sub)
        if all(os.path.exists(os.path.join(folder, n)) for n in names):
            return folder
    looked = ", ".join(os.path.join(str(root), *s) for s in subdirs)
    raise FileNotFoundError(f"dataset files {names} not found (looked in {looked}); the MindSpore version "
                            "does not download them: fetch them with torchvision once, or by hand")


def _indexable(ds, images, labels, transform, target_transform):
    """`train_data[i]` and `len(train_data)` as on torchvision's dataset: the pipeline object
    also answers them, with the transforms applied to sample i in the caller's thread."""
    def getitem(self, i):
        image, label = images[int(i)], int(labels[int(i)])
        if transform is not None:
            image = transform(image)
            if isinstance(image, np.ndarray) and image.dtype.kind in "biuf":  # after ToTensor: a tensor
                image = mindspore.Tensor(image)
        if target_transform is not None:
            label = target_transform(label)
        return image, label

    cls = type(ds)
    ds.__class__ = type(cls.__name__, (cls,), {"__getitem__": getitem, "__len__": lambda self: len(labels)})
    return ds


def _finish(ds, transform, target_transform):
    if transform is not None:
        ds = ds.map(operations=transform, input_columns="image")
    if target_transform is not None:
        ds = ds.map(operations=target_transform, input_columns="label")
    return ds.map(operations=mindspore.dataset.transforms.TypeCast(mindspore.int64), input_columns="label")


_MNIST_CLASSES = {
    "MNIST": ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
              "8 - eight", "9 - nine"],
    "FashionMNIST": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"],
}


def _read_idx(path):
    """An IDX file (MNIST's format): big-endian dimension sizes after a 4-byte magic, then uint8s."""
    with open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def ms_mnist(root, train=True, transform=None, target_transform=None, download=False, _kind="MNIST"):
    split = "train" if train else "t10k"
    names = [f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"]
    folder = _find(root, names, [(_kind, "raw"), (), (_kind,)])
    cls = mindspore.dataset.MnistDataset if _kind == "MNIST" else mindspore.dataset.FashionMnistDataset
    ds = _finish(cls(folder, usage="train" if train else "test", shuffle=False), transform, target_transform)
    # torchvision's attributes beside the pipeline: the raw images (N x 28 x 28 uint8) and int64 labels
    images, labels = _read_idx(os.path.join(folder, names[0])), _read_idx(os.path.join(folder, names[1]))
    ds = _indexable(ds, images, labels, transform, target_transform)
    ds.data = mindspore.Tensor(images)
    ds.targets = mindspore.Tensor(labels.astype(np.int64))
    # torchvision's deprecated names of the same
    ds.train_data = ds.test_data = ds.data
    ds.train_labels = ds.test_labels = ds.targets
    ds.classes = list(_MNIST_CLASSES[_kind])
    ds.class_to_idx = {c: i for i, c in enumerate(ds.classes)}
    return ds


def ms_fashion_mnist(root, train=True, transform=None, target_transform=None, download=False):
    return ms_mnist(root, train, transform, target_transform, download, _kind="FashionMNIST")


class _Cifar10Py:
    """The python-pickle batches torchvision downloads (cifar-10-batches-py)."""

    def __init__(self, folder, train):
        files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        images, labels = [], []
        for f in files:
            with open(os.path.join(folder, f), "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")
            images.append(entry["data"])
            labels += entry.get("labels", entry.get("fine_labels", []))
        self.images = np.vstack(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        self.labels = np.asarray(labels, dtype=np.int64)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]

    def __len__(self):
        return len(self.labels)


def ms_cifar10(root, train=True, transform=None, target_transform=None, download=False):
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    folder = _find(root, names, [("cifar-10-batches-py",), ()])
    source = _Cifar10Py(folder, train)
    ds = mindspore.dataset.GeneratorDataset(source, column_names=["image", "label"], shuffle=False)
    ds = _indexable(_finish(ds, transform, target_transform), source.images, source.labels, transform,
                    target_transform)
    ds.data, ds.targets = source.images, source.labels.tolist()
    return ds


def ms_image_folder(root, transform=None, target_transform=None):
    if not os.path.isdir(str(root)):
        raise FileNotFoundError(f"image folder {root} not found")
    ds = mindspore.dataset.ImageFolderDataset(str(root), decode=True, shuffle=False)
    return _finish(ds, transform, target_transform)


class _FakeImages:
    """torchvision's FakeData samples: a random image (HWC uint8, as the PIL image torchvision
    makes from a randn tensor) and a random label, drawn from a generator seeded by the index."""

    def __init__(self, size, image_size, num_classes, random_offset):
        self.size, self.image_size = size, tuple(image_size)
        self.num_classes, self.random_offset = num_classes, random_offset

    def __getitem__(self, index):
        if index >= self.size:
            raise IndexError(f"FakeData index {index} out of range")
        rng = np.random.default_rng(int(index) + self.random_offset)
        pixels = (rng.standard_normal(self.image_size) * 255).astype(np.int64) % 256
        image = pixels.astype(np.uint8).transpose(1, 2, 0)
        return image, np.int64(rng.integers(0, self.num_classes))

    def __len__(self):
        return self.size


def ms_fake_data(size=1000, image_size=(3, 224, 224), num_classes=10, transform=None, target_transform=None,
                 random_offset=0):
    ds = mindspore.dataset.GeneratorDataset(_FakeImages(size, image_size, num_classes, random_offset),
                                            column_names=["image", "label"], shuffle=False)
    return _finish(ds, transform, target_transform)
