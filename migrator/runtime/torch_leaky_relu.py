# torch.nn.LeakyReLU passed as a value: torch's slope defaults to 0.01, MindSpore's alpha to 0.2.
import mindspore


class TorchLeakyReLU(mindspore.nn.LeakyReLU):
    """mindspore.nn.LeakyReLU taking torch's arguments."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(alpha=negative_slope)

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchLeakyReLU.__name__ = TorchLeakyReLU.__qualname__ = "LeakyReLU"
