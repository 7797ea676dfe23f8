# torch.nn.functional.conv_transpose1d/2d/3d: ops.conv_transpose2d has no CPU kernel in
# MindSpore 2.10; ops.conv3d_transpose has, and a 1-D/2-D transposed convolution is a 3-D one
# over unit leading dimensions. groups > 1 is not supported by that kernel.
import mindspore


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose3d(input, weight, bias, stride, padding, output_padding, groups, dilation)."""
    if groups != 1:
        raise ValueError("conv_transpose: groups > 1 has no MindSpore CPU kernel")
    p = _tuple(padding, 3)
    out = mindspore.ops.conv3d_transpose(input, weight, pad_mode='pad', padding=(p[0], p[0], p[1], p[1], p[2], p[2]),
                                         stride=_tuple(stride, 3), dilation=_tuple(dilation, 3), group=1,
                                         output_padding=_tuple(output_padding, 3))
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)."""
    return conv_transpose3d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + _tuple(stride, 2),
                            (0,) + _tuple(padding, 2), (0,) + _tuple(output_padding, 2), groups,
                            (1,) + _tuple(dilation, 2)).squeeze(2)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups, dilation)."""
    return conv_transpose3d(input.unsqueeze(2).unsqueeze(2), weight.unsqueeze(2).unsqueeze(2), bias,
                            (1, 1) + _tuple(stride, 1), (0, 0) + _tuple(padding, 1),
                            (0, 0) + _tuple(output_padding, 1), groups, (1, 1) + _tuple(dilation, 1)).squeeze(2).squeeze(2)
