# torch.nn.Dropout passed as a value (`drop_layer=nn.Dropout`): MindSpore's first positional
# argument is keep_prob, so `drop_layer(0.1)` would keep 10%; torch's p is the share dropped.
import mindspore


class TorchDropout(mindspore.nn.Dropout):
    """mindspore.nn.Dropout taking torch's arguments (p dropped; inplace has no meaning)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__(p=p)
