# finfo / iinfo (torch's) for MindSpore dtypes (MindSpore has neither): the numpy limits of the
# matching numpy type, as Python numbers like torch's.
import mindspore
import numpy


class dtype_finfo:
    """Floating-point limits: bits, eps, max, min, tiny (= smallest_normal), resolution."""

    def __init__(self, dtype=mindspore.float32):
        info = numpy.finfo(mindspore.dtype_to_nptype(dtype))
        self.dtype = dtype
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = float(info.resolution)


class dtype_iinfo:
    """Integer limits: bits, max, min."""

    def __init__(self, dtype):
        info = numpy.iinfo(mindspore.dtype_to_nptype(dtype))
        self.dtype = dtype
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)
