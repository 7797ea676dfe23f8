# torch.nn.GELU passed as a value (`act_layer=nn.GELU`) and called later with torch's arguments:
# MindSpore's GELU defaults to the tanh approximation, torch's to the exact form.
import mindspore


class TorchGELU(mindspore.nn.GELU):
    """mindspore.nn.GELU taking torch's arguments: approximate='none' (exact) or 'tanh'."""

    def __init__(self, approximate='none'):
        super().__init__(approximate=(approximate == 'tanh'))

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchGELU.__name__ = TorchGELU.__qualname__ = "GELU"
