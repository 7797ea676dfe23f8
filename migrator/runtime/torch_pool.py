# torch.nn.MaxPool2d / AvgPool2d passed as values (`pool_layer=nn.AvgPool2d`): torch's stride
# defaults to the kernel size (MindSpore's to 1); padding, ceil_mode and dilation need pad_mode='pad'.
import mindspore


class TorchMaxPool2d(mindspore.nn.MaxPool2d):
    """mindspore.nn.MaxPool2d taking torch's arguments."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        stride = kernel_size if stride is None else stride
        if padding == 0 and dilation == 1 and not return_indices and not ceil_mode:
            super().__init__(kernel_size=kernel_size, stride=stride)
        else:
            super().__init__(kernel_size=kernel_size, stride=stride, pad_mode='pad', padding=padding,
                             dilation=dilation, return_indices=return_indices, ceil_mode=ceil_mode)


class TorchAvgPool2d(mindspore.nn.AvgPool2d):
    """mindspore.nn.AvgPool2d taking torch's arguments."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        stride = kernel_size if stride is None else stride
        if padding == 0 and not ceil_mode and divisor_override is None:
            super().__init__(kernel_size=kernel_size, stride=stride)
        else:
            super().__init__(kernel_size=kernel_size, stride=stride, pad_mode='pad', padding=padding,
                             ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                             divisor_override=divisor_override)

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchMaxPool2d.__name__ = TorchMaxPool2d.__qualname__ = "MaxPool2d"
TorchAvgPool2d.__name__ = TorchAvgPool2d.__qualname__ = "AvgPool2d"
