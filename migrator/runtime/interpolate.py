# torch.nn.functional.interpolate / nn.Upsample with a scale_factor, on MindSpore: ops.interpolate
# takes no scale_factor in the linear modes, and torch maps output to input coordinates with the
# scale given (not the in/out size ratio) unless recompute_scale_factor=True. Sizes that are an
# exact multiple use ops.interpolate; others are resampled here exactly as torch does.
import math

import numpy

import mindspore


def interpolate_scaled(input, size=None, scale_factor=None, mode='nearest', align_corners=None,
                       recompute_scale_factor=None):
    """torch.nn.functional.interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor)."""
    if mode == 'bicubic':
        return _bicubic(input, size, scale_factor, bool(align_corners), recompute_scale_factor)
    if scale_factor is None:
        return mindspore.ops.interpolate(input, size=size, mode=mode, align_corners=align_corners)
    dims = input.ndim - 2
    scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
    in_sizes = tuple(input.shape[2:])
    out_sizes = tuple(int(math.floor(float(i) * float(s))) for i, s in zip(in_sizes, scales))
    if (recompute_scale_factor or align_corners or mode in ('area', 'bicubic')
            or all(o == i * s for o, i, s in zip(out_sizes, in_sizes, scales))):
        return mindspore.ops.interpolate(input, size=out_sizes, mode=mode, align_corners=align_corners)
    if mode not in ('nearest', 'nearest-exact', 'linear', 'bilinear', 'trilinear'):
        raise ValueError(f"interpolate_scaled: mode {mode!r} is not supported")
    out = input
    for d in range(dims):
        out = _resample_axis(out, 2 + d, in_sizes[d], out_sizes[d], float(scales[d]), mode)
    return out


def _resample_axis(x, axis, in_size, out_size, scale, mode):
    """One spatial axis, with torch's source-index rules (align_corners=False, scale given)."""
    inv = numpy.float32(1.0 / scale)
    dst = numpy.arange(out_size, dtype=numpy.float32)
    if mode in ('nearest', 'nearest-exact'):
        src = (dst + numpy.float32(0.5)) * inv if mode == 'nearest-exact' else dst * inv
        idx = numpy.minimum(numpy.floor(src).astype(numpy.int64), in_size - 1)
        return mindspore.ops.gather(x, mindspore.Tensor(idx), axis)
    src = numpy.maximum((dst + numpy.float32(0.5)) * inv - numpy.float32(0.5), numpy.float32(0.0))
    i0 = numpy.minimum(numpy.floor(src).astype(numpy.int64), in_size - 1)
    i1 = numpy.minimum(i0 + 1, in_size - 1)
    w1 = numpy.clip(src - i0, 0.0, 1.0).astype(numpy.float32)
    shape = [1] * x.ndim
    shape[axis] = out_size
    w1 = mindspore.Tensor(w1.reshape(shape)).astype(x.dtype)
    a = mindspore.ops.gather(x, mindspore.Tensor(i0), axis)
    b = mindspore.ops.gather(x, mindspore.Tensor(i1), axis)
    return a + (b - a) * w1


def _bicubic(x, size, scale_factor, align_corners, recompute_scale_factor):
    """torch's bicubic (cubic convolution, A = -0.75, border indices clamped), as one matrix per
    spatial axis: MindSpore's own bicubic computes other values."""
    in_sizes = tuple(x.shape[2:])
    if size is not None:
        out_sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * len(in_sizes)
        scales = (None,) * len(in_sizes)
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * len(in_sizes)
        out_sizes = tuple(int(math.floor(float(i) * float(s))) for i, s in zip(in_sizes, scales))
        if recompute_scale_factor:
            scales = (None,) * len(in_sizes)
    out = x
    for d, (i, o, s) in enumerate(zip(in_sizes, out_sizes, scales)):
        w = mindspore.Tensor(_cubic_matrix(int(i), int(o), s, align_corners).T).astype(x.dtype)
        axis = 2 + d
        moved = out.swapaxes(axis, -1)
        out = mindspore.ops.matmul(moved, w).swapaxes(axis, -1)
    return out


def _cubic_matrix(in_size, out_size, scale, align_corners):
    """(out, in) weights of torch's upsample_bicubic2d along one axis."""
    a = -0.75
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        ratio = 1.0 / scale if scale is not None and scale > 0 else in_size / out_size
    dst = numpy.arange(out_size, dtype=numpy.float64)
    src = ratio * dst if align_corners else ratio * (dst + 0.5) - 0.5
    src = src.astype(numpy.float32).astype(numpy.float64)
    i0 = numpy.floor(src).astype(numpy.int64)
    t = src - i0

    def near(v):  # |v| <= 1
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def far(v):  # 1 < |v| < 2
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    coeffs = (far(t + 1), near(t), near(1 - t), far(2 - t))
    m = numpy.zeros((out_size, in_size), numpy.float64)
    rows = numpy.arange(out_size)
    for k, c in enumerate(coeffs):
        numpy.add.at(m, (rows, numpy.clip(i0 - 1 + k, 0, in_size - 1)), c)
    return m.astype(numpy.float32)


class UpsampleScaled(mindspore.nn.Cell):
    """torch.nn.Upsample(size, scale_factor, mode, align_corners, recompute_scale_factor)."""

    def __init__(self, size=None, scale_factor=None, mode='nearest', align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def construct(self, x):
        return interpolate_scaled(x, self.size, self.scale_factor, self.mode, self.align_corners,
                                  self.recompute_scale_factor)
