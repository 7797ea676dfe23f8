# The typed tensor constructors (FloatTensor(data) / FloatTensor(*sizes) ...) of torch.
import mindspore


def legacy_tensor(dtype, *args):
    """Data (a sequence, an array or a tensor) becomes a tensor of `dtype`; ints are a shape, and
    give zeros (torch leaves the values uninitialized)."""
    if len(args) == 1 and not isinstance(args[0], int):
        return mindspore.Tensor(args[0], dtype=dtype)
    return mindspore.ops.zeros(tuple(args) if args else (0,), dtype)
