# The typed tensor constructors (FloatTensor(data) / FloatTensor(*sizes) ...) of torch.
import mindspore


def legacy_tensor(dtype, *args):
    """Data (a sequence, an array or a tensor) becomes a tensor of `dtype`; ints are a shape, and
    give zeros (torch leaves the values uninitialized)."""
    if len(args) == 1 and not isinstance(args[0], int):
        return mindspore.Tensor(args[0], dtype=dtype)
    return mindspore.ops.zeros(tuple(args) if args else (0,), dtype)


def _typed_tensor_class(dtype):
    """The typed tensor classes held as values (`Tensor = FloatTensor`, the CUDA or the CPU one):
    a MindSpore dtype (so `x.astype(Tensor)` and `ops.zeros(s, Tensor)` work)
    that is also the typed constructor (`Tensor(n, 1)`, `Tensor(np_array)`)."""
    base = type(dtype)

    class TypedTensor(base):
        def __call__(self, *args):
            return legacy_tensor(dtype, *args)

    return TypedTensor


def _typed_tensor(dtype):
    cls = _typed_tensor_class(dtype)
    if dtype == mindspore.bool_:
        return cls()
    return cls(int(str(dtype).lstrip("BFloatIntUnsigned")))


MsFloatTensor = _typed_tensor(mindspore.float32)
MsDoubleTensor = _typed_tensor(mindspore.float64)
MsHalfTensor = _typed_tensor(mindspore.float16)
MsLongTensor = _typed_tensor(mindspore.int64)
MsIntTensor = _typed_tensor(mindspore.int32)
MsShortTensor = _typed_tensor(mindspore.int16)
MsCharTensor = _typed_tensor(mindspore.int8)
MsByteTensor = _typed_tensor(mindspore.uint8)
MsBoolTensor = _typed_tensor(mindspore.bool_)
