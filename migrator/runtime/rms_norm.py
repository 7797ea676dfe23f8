# torch.nn.RMSNorm / F.rms_norm: ops.rms_norm has no CPU kernel in MindSpore 2.10.
import mindspore


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the normalised axes) + eps) * weight; eps defaults to the dtype's epsilon."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if eps is None:
        eps = 1.1920928955078125e-07 if input.dtype == mindspore.float32 else 0.0009765625
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    out = input * mindspore.ops.rsqrt(input.pow(2).mean(axes, keep_dims=True) + eps)
    return out * weight if weight is not None else out


class RMSNorm(mindspore.nn.Cell):
    """torch.nn.RMSNorm(normalized_shape, eps, elementwise_affine): parameter `weight` as in torch."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = mindspore.Parameter(mindspore.ops.ones(self.normalized_shape, mindspore.float32),
                                          name='weight') if elementwise_affine else None

    def construct(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)
