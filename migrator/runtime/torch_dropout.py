# torch.nn.Dropout passed as a value (`drop_layer=nn.Dropout`): MindSpore's first positional
# argument is keep_prob, so `drop_layer(0.1)` would keep 10%; torch's p is the share dropped.
import mindspore


class TorchDropout(mindspore.nn.Dropout):
    """mindspore.nn.Dropout taking torch's arguments (p dropped; inplace has no meaning)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__(p=p)


class TorchDropout2d(mindspore.nn.Dropout2d):
    """mindspore.nn.Dropout2d on the inputs torch accepts: (N, C, H, W) drops whole channels;
    an unbatched (C, H, W) too; a 2-D input is dropped element-wise (torch's deprecated
    behaviour, which code written for it relies on). MindSpore's own takes 4-D inputs only."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__(p=float(p))
        self.p = float(p)

    def construct(self, x):
        if not self.training or self.p == 0:
            return x
        if x.ndim == 3:
            return super().construct(x.expand_dims(0)).squeeze(0)
        if x.ndim == 2:
            return mindspore.ops.dropout(x, p=self.p)
        return super().construct(x)

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchDropout.__name__ = TorchDropout.__qualname__ = "Dropout"
TorchDropout2d.__name__ = TorchDropout2d.__qualname__ = "Dropout2d"
