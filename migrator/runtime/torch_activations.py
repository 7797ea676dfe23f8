# torch activations passed as values (`act_layer=nn.ReLU`) are often called with inplace=True,
# which MindSpore's activations do not take (MindSpore does not compute in place).
import mindspore


def _torch_activation(base):
    class TorchActivation(base):
        """`base` taking torch's `inplace` argument (ignored: the result is the same)."""

        def __init__(self, inplace=False):
            super().__init__()

    TorchActivation.__name__ = TorchActivation.__qualname__ = "Torch" + base.__name__
    return TorchActivation


TorchReLU = _torch_activation(mindspore.nn.ReLU)
TorchReLU6 = _torch_activation(mindspore.nn.ReLU6)
TorchSiLU = _torch_activation(mindspore.nn.SiLU)
TorchHardswish = _torch_activation(mindspore.nn.HSwish)
TorchHardsigmoid = _torch_activation(mindspore.nn.HSigmoid)

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchReLU.__name__ = TorchReLU.__qualname__ = "ReLU"
TorchReLU6.__name__ = TorchReLU6.__qualname__ = "ReLU6"
TorchSiLU.__name__ = TorchSiLU.__qualname__ = "SiLU"
TorchHardswish.__name__ = TorchHardswish.__qualname__ = "Hardswish"
TorchHardsigmoid.__name__ = TorchHardsigmoid.__qualname__ = "Hardsigmoid"
