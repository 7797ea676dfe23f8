# torch.nn.LayerNorm passed as a value (`norm_layer=nn.LayerNorm`) or subclassed: an int shape,
# torch's eps (MindSpore's default is 1e-7) and the axes MindSpore needs counted from the end.
import mindspore


class TorchLayerNorm(mindspore.nn.LayerNorm):
    """mindspore.nn.LayerNorm taking torch's arguments; `weight`, `bias` and `eps` read as in torch."""

    def __init__(self, normalized_shape, eps=1e-05, elementwise_affine=True, bias=True, device=None, dtype=None):
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        extra = {} if dtype is None else {'dtype': dtype}
        super().__init__(shape, begin_norm_axis=-len(shape), begin_params_axis=-len(shape), epsilon=eps, **extra)
        self.normalized_shape = shape
        self.eps = eps
        if not elementwise_affine:  # torch has no parameters then: ones and zeros, never trained
            self.gamma.requires_grad = False
            self.beta.requires_grad = False
        elif not bias:
            self.beta.requires_grad = False

    @property
    def weight(self):
        return self.gamma

    @property
    def bias(self):
        return self.beta

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchLayerNorm.__name__ = TorchLayerNorm.__qualname__ = "LayerNorm"
