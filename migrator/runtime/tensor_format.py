"""f"{loss:.4f}" on a tensor holding one value: torch formats it as that number (its
Tensor.__format__ calls item() for a 0-dim tensor); MindSpore's Tensor refuses a format spec.
This gives MindSpore's Tensor torch's behaviour, once per process: 0-dim tensors with a format
spec format as their value, everything else as before.
"""
import mindspore


def _ms_tensor_format(self, spec):
    if spec and self.ndim == 0:
        return format(self.item(), spec)
    return _ms_tensor_format.original(self, spec)


if getattr(mindspore.Tensor.__format__, "__name__", "") != "_ms_tensor_format":
    _ms_tensor_format.original = mindspore.Tensor.__format__
    mindspore.Tensor.__format__ = _ms_tensor_format
