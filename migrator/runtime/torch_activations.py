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
