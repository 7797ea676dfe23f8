# torch.nn.GroupNorm passed as a value (`norm_layer=nn.GroupNorm`), subclassed
# (`class GroupNorm1(nn.GroupNorm)` calling super().__init__(1, c, **kwargs)) or called with
# arguments only the run time knows (`**factory_kwargs`): torch's device=/dtype= are accepted.
import mindspore


class TorchGroupNorm(mindspore.nn.GroupNorm):
    """mindspore.nn.GroupNorm taking torch's arguments; `weight`, `bias` and `eps` read as in torch."""

    def __init__(self, num_groups, num_channels, eps=1e-05, affine=True, device=None, dtype=None):
        extra = {} if dtype is None else {'dtype': dtype}
        super().__init__(num_groups, num_channels, eps=float(eps), affine=affine, **extra)

    @property
    def weight(self):
        return self.gamma

    @property
    def bias(self):
        return self.beta


# torch's class name: code that dispatches on it (timm's `norm_layer.__name__.lower()`) finds it
TorchGroupNorm.__name__ = TorchGroupNorm.__qualname__ = "GroupNorm"
