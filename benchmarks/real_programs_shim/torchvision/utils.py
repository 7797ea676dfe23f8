import math

import torch
from PIL import Image


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0,
              range=None):
    if isinstance(tensor, list):
        tensor = torch.stack(tensor)
    tensor = tensor.detach().clone()
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.size(1) == 1:
        tensor = torch.cat((tensor, tensor, tensor), 1)
    if normalize:
        lo, hi = value_range or range or (float(tensor.min()), float(tensor.max()))
        tensor = (tensor.clamp(lo, hi) - lo) / max(hi - lo, 1e-5)
    n = tensor.size(0)
    xmaps = min(nrow, n)
    ymaps = int(math.ceil(n / xmaps))
    h, w = tensor.size(2) + padding, tensor.size(3) + padding
    grid = tensor.new_full((3, h * ymaps + padding, w * xmaps + padding), pad_value)
    k = 0
    for y in builtins_range(ymaps):
        for x in builtins_range(xmaps):
            if k >= n:
                break
            grid[:, y * h + padding:(y + 1) * h, x * w + padding:(x + 1) * w] = tensor[k]
            k += 1
    return grid


builtins_range = __builtins__["range"] if isinstance(__builtins__, dict) else __builtins__.range


def save_image(tensor, fp, format=None, **kwargs):
    grid = make_grid(tensor, **kwargs)
    nd = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    Image.fromarray(nd).save(fp, format=format)
