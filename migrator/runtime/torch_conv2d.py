# torch.nn.Conv2d passed as a value (`conv_layer=nn.Conv2d`) or called with arguments known only at
# run time (`nn.Conv2d(c, c, 3, **factory_kwargs)`): MindSpore defaults pad_mode='same' and no bias,
# and pads (top, bottom, left, right).
import mindspore


class TorchConv2d(mindspore.nn.Conv2d):
    """mindspore.nn.Conv2d taking torch's arguments (padding: int, pair, 'same' or 'valid')."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode='zeros', device=None, dtype=None):
        if padding_mode != 'zeros':
            raise NotImplementedError(f"Conv2d padding_mode={padding_mode!r}: only zero padding is translated; "
                                      "pad explicitly with mindspore.ops.pad")
        if isinstance(padding, str):
            pad_mode, padding = padding, 0
        else:
            pad_mode = 'pad'
            if isinstance(padding, (tuple, list)):  # (height, width) -> (top, bottom, left, right)
                padding = tuple(int(p) for p in padding for _ in (0, 1))
        extra = {} if dtype is None else {'dtype': dtype}
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, pad_mode=pad_mode, padding=padding,
                         dilation=dilation, group=groups, has_bias=bias, **extra)

    @property
    def groups(self):  # torch's attribute name (MindSpore's is `group`)
        return self.group

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchConv2d.__name__ = TorchConv2d.__qualname__ = "Conv2d"
