"""torchvision.utils.make_grid and save_image for MindSpore tensors (numpy + PIL).

torchvision's layout: images (B, C, H, W), a list of (C, H, W) images, one (C, H, W) or (H, W)
image; single-channel images become 3-channel; normalize shifts to [0, 1] by value_range or
the min/max (per image with scale_each); nrow images per row, `padding` pixels of pad_value
around each. save_image scales to [0, 255] with rounding (x * 255 + 0.5, clamped) and writes
the grid with PIL (format from the file name, or `format=`).
"""
import math

import mindspore
import numpy as np
from PIL import Image


def _array(tensor):
    if isinstance(tensor, (list, tuple)):
        return np.stack([_array(t) for t in tensor], 0)
    if isinstance(tensor, mindspore.Tensor):
        return tensor.asnumpy()
    return np.asarray(tensor)


def _make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0,
               **kwargs):
    if "range" in kwargs:
        value_range = kwargs.pop("range")
    if kwargs:
        raise TypeError(f"make_grid() got an unexpected keyword argument {sorted(kwargs)[0]!r}")
    array = _array(tensor)
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3:
        if array.shape[0] == 1:
            array = np.concatenate((array, array, array), 0)
        array = array[None]
    if array.ndim == 4 and array.shape[1] == 1:
        array = np.concatenate((array, array, array), 1)
    if normalize is True:
        array = array.copy()
        if value_range is not None and not isinstance(value_range, tuple):
            raise AssertionError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

        def norm(img):
            low, high = value_range if value_range is not None else (float(img.min()), float(img.max()))
            img = np.clip(img, low, high)
            return (img - low) / max(high - low, 1e-5)

        if scale_each is True:
            array = np.stack([norm(img) for img in array]).astype(array.dtype)
        else:
            array = norm(array).astype(array.dtype)
    if array.shape[0] == 1:
        return array[0]
    nmaps = array.shape[0]
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(array.shape[2] + padding), int(array.shape[3] + padding)
    grid = np.full((array.shape[1], height * ymaps + padding, width * xmaps + padding), pad_value, dtype=array.dtype)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            top, left = y * height + padding, x * width + padding
            grid[:, top:top + height - padding, left:left + width - padding] = array[k]
            k += 1
    return grid


def ms_make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0,
                 **kwargs):
    return mindspore.Tensor(_make_grid(tensor, nrow, padding, normalize, value_range, scale_each, pad_value, **kwargs))


def ms_save_image(tensor, fp, format=None, **kwargs):
    grid = _make_grid(tensor, **kwargs).astype(np.float32)
    ndarr = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(ndarr).save(fp, format=format)
