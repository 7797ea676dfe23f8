# torch's `out=` argument: the result is written into the tensor given, which the call returns.
import mindspore


def ms_out(out, value):
    """`torch.f(..., out=t)`: torch writes the result into `t` in place (resizing it when the shape
    differs, casting to its dtype) and returns `t`, so every name bound to `t` sees the result.
    A tuple or list of tensors (`torch.max(x, 1, out=(values, indices))`) takes the results one
    by one."""
    if isinstance(out, (tuple, list)):
        for o, v in zip(out, value):
            ms_out(o, v)
        return out
    if not isinstance(value, mindspore.Tensor):
        value = mindspore.Tensor(value)
    out.assign_value(value.astype(out.dtype) if value.dtype != out.dtype else value)
    return out
