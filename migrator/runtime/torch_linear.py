# torch.nn.Linear passed as a value (`mlp_layer=nn.Linear`), or called with arguments known only at
# run time (`nn.Linear(a, b, **factory_kwargs)`, `dtype=dtype`): torch's keywords.
import mindspore


class TorchLinear(mindspore.nn.Dense):
    """mindspore.nn.Dense taking torch's arguments (bias: has_bias; dtype: the parameters' dtype)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        extra = {} if dtype is None else {'dtype': dtype}
        super().__init__(in_features, out_features, has_bias=bias, **extra)
        self.in_features, self.out_features = in_features, out_features

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchLinear.__name__ = TorchLinear.__qualname__ = "Linear"
