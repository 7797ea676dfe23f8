import numbers
import random

import numpy as np
import torch
from PIL import Image, ImageOps


def _size(size):
    return (size, size) if isinstance(size, numbers.Number) else tuple(size)


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    def __call__(self, pic):
        a = np.asarray(pic)
        if a.ndim == 2:
            a = a[:, :, None]
        t = torch.from_numpy(a.transpose(2, 0, 1).copy())
        return t.float().div(255) if t.dtype == torch.uint8 else t.float()


class ToPILImage:
    def __init__(self, mode=None):
        self.mode = mode

    def __call__(self, t):
        a = t.mul(255).byte().numpy() if isinstance(t, torch.Tensor) and t.is_floating_point() else np.asarray(t)
        if a.ndim == 3 and a.shape[0] in (1, 3):
            a = a.transpose(1, 2, 0)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        return Image.fromarray(a, mode=self.mode)


class Normalize:
    def __init__(self, mean, std, inplace=False):
        self.mean, self.std = mean, std

    def __call__(self, t):
        mean = torch.as_tensor(self.mean, dtype=t.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=t.dtype).view(-1, 1, 1)
        return (t - mean) / std


class Resize:
    def __init__(self, size, interpolation=Image.BILINEAR, antialias=True):
        self.size = size

    def __call__(self, img):
        w, h = img.size
        if isinstance(self.size, numbers.Number):
            if w <= h:
                nw, nh = self.size, int(self.size * h / w)
            else:
                nw, nh = int(self.size * w / h), self.size
        else:
            nh, nw = self.size
        return img.resize((nw, nh), Image.BILINEAR)


Scale = Resize


class CenterCrop:
    def __init__(self, size):
        self.size = _size(size)

    def __call__(self, img):
        w, h = img.size
        th, tw = self.size
        i, j = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return img.crop((j, i, j + tw, i + th))


class Pad:
    def __init__(self, padding, fill=0, padding_mode="constant"):
        self.padding, self.fill = padding, fill

    def __call__(self, img):
        return ImageOps.expand(img, border=self.padding, fill=self.fill)


class RandomCrop:
    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size, self.padding = _size(size), padding

    def __call__(self, img):
        if self.padding:
            img = ImageOps.expand(img, border=self.padding)
        w, h = img.size
        th, tw = self.size
        i, j = random.randint(0, h - th), random.randint(0, w - tw)
        return img.crop((j, i, j + tw, i + th))


class RandomResizedCrop:
    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        self.size = _size(size)

    def __call__(self, img):
        return img.resize((self.size[1], self.size[0]), Image.BILINEAR)


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        return img.transpose(Image.FLIP_LEFT_RIGHT) if random.random() < self.p else img


class Grayscale:
    def __init__(self, num_output_channels=1):
        self.n = num_output_channels

    def __call__(self, img):
        img = img.convert("L")
        return img if self.n == 1 else Image.merge("RGB", [img] * 3)


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)
