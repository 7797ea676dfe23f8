"""Write small MNIST-format (idx) files, as torchvision stores them under ROOT/MNIST/raw."""
import os
import struct

import numpy as np


def write_mnist(root, n_train=256, n_test=128, seed=0, name="MNIST"):
    raw = os.path.join(str(root), name, "raw")
    os.makedirs(raw, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        # images loosely tied to their labels, so a model can learn something
        images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
        for i, lab in enumerate(labels):
            images[i, 2 + 2 * lab: 6 + 2 * lab, 4:24] = 255
        with open(os.path.join(raw, f"{split}-images-idx3-ubyte"), "wb") as fh:
            fh.write(struct.pack(">IIII", 2051, n, 28, 28))
            fh.write(images.tobytes())
        with open(os.path.join(raw, f"{split}-labels-idx1-ubyte"), "wb") as fh:
            fh.write(struct.pack(">II", 2049, n))
            fh.write(labels.tobytes())
    return raw
