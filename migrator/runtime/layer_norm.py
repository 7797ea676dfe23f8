# torch.nn.functional.layer_norm: ops.layer_norm has no CPU kernel in MindSpore 2.10; the
# LayerNorm primitive has, with the first normalised axis counted from the front.
import mindspore


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.layer_norm(input, normalized_shape, weight, bias, eps)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    axis = input.ndim - len(shape)
    if weight is None:
        weight = mindspore.ops.ones(shape, input.dtype)
    if bias is None:
        bias = mindspore.ops.zeros(shape, input.dtype)
    return mindspore.ops.LayerNorm(axis, axis, eps)(input, weight, bias)[0]
