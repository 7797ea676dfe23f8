# torch.zeros / ones / empty / full with arguments only the run time knows
# (`torch.zeros(n, d, **factory_kwargs)`, `dtype=dtype`): torch's signature, torch's default dtypes.
import mindspore


def _torch_shape(sizes, size):
    if size is not None:
        return tuple(size)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        return tuple(sizes[0])
    return tuple(sizes)


def _torch_no_out(out, name):
    if out is not None:
        raise NotImplementedError(f"torch.{name}(out=...) has no MindSpore counterpart; assign the result")


def torch_zeros(*sizes, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
                pin_memory=False):
    """zeros(...) with torch's arguments (float32 unless dtype says otherwise)."""
    _torch_no_out(out, "zeros")
    return mindspore.ops.zeros(_torch_shape(sizes, size), mindspore.float32 if dtype is None else dtype)


def torch_ones(*sizes, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
               pin_memory=False):
    """ones(...) with torch's arguments (float32 unless dtype says otherwise)."""
    _torch_no_out(out, "ones")
    return mindspore.ops.ones(_torch_shape(sizes, size), mindspore.float32 if dtype is None else dtype)


def torch_empty(*sizes, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
                pin_memory=False, memory_format=None):
    """empty(...) with torch's arguments: zeros (torch leaves the values uninitialized)."""
    _torch_no_out(out, "empty")
    return mindspore.ops.zeros(_torch_shape(sizes, size), mindspore.float32 if dtype is None else dtype)


def torch_full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False,
               pin_memory=False):
    """full(size, fill_value) with torch's arguments; without dtype, torch's inference from the fill value."""
    _torch_no_out(out, "full")
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = mindspore.bool_
        elif isinstance(fill_value, int):
            dtype = mindspore.int64
        elif isinstance(fill_value, mindspore.Tensor):
            dtype = fill_value.dtype
        else:
            dtype = mindspore.float32
    return mindspore.ops.full(tuple(size), fill_value, dtype=dtype)


def _torch_random(name, sizes, size, generator, out, dtype):
    _torch_no_out(out, name)
    if generator is not None:
        raise NotImplementedError(f"torch.{name}(generator=...): use mindspore.set_seed, or the seed argument of "
                                  f"mindspore.ops.{name}")
    return getattr(mindspore.ops, name)(*_torch_shape(sizes, size), dtype=mindspore.float32 if dtype is None else dtype)


def torch_randn(*sizes, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
                requires_grad=False, pin_memory=False):
    """randn(...) with torch's arguments (float32 unless dtype says otherwise)."""
    return _torch_random("randn", sizes, size, generator, out, dtype)


def torch_rand(*sizes, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
               requires_grad=False, pin_memory=False):
    """rand(...) with torch's arguments (float32 unless dtype says otherwise)."""
    return _torch_random("rand", sizes, size, generator, out, dtype)
