"""Files written by torch.save, read without torch.

Copied into converted files that load torch's files: torchvision's pretrained weights
(vision_models.py) and `torch.load` of a file torch wrote (checkpoint_io.py). Both of torch's
layouts are read: the zip archive of torch >= 1.6 (data.pkl plus one entry per storage) and the
older stream (pickles, then each storage's element count and bytes). Tensors come back as numpy
arrays (or through `tensor=`), bfloat16 widened to float32. Only what checkpoints hold is
unpickled: containers, numbers, strings, numpy arrays, argparse.Namespace; any other class is
refused by name rather than imported.
"""
import pickle

import numpy as np

_BFLOAT16 = "bfloat16"
_STORAGE_DTYPES = {"DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
                   "BFloat16Storage": _BFLOAT16, "LongStorage": np.int64, "IntStorage": np.int32,
                   "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
                   "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
                   "ComplexDoubleStorage": np.complex128}


def _allowed(module, name):
    """The classes and functions a checkpoint may name, other than torch's own."""
    import argparse
    import codecs
    import collections

    multiarray = np.core.multiarray
    table = {
        ("collections", "OrderedDict"): collections.OrderedDict, ("argparse", "Namespace"): argparse.Namespace,
        ("collections", "Counter"): collections.Counter, ("collections", "defaultdict"): collections.defaultdict,
        ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
        ("builtins", "complex"): complex, ("_codecs", "encode"): codecs.encode,  # bytes, in pickle protocol 2
        ("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray,
        ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
        ("numpy.core.multiarray", "scalar"): multiarray.scalar, ("numpy._core.multiarray", "scalar"): multiarray.scalar,
        ("torch", "Size"): tuple, ("torch", "device"): str,
    }
    return table.get((module, name))


def _flat(data, dtype):
    if dtype == _BFLOAT16:  # the upper half of a float32
        return (np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(data, dtype=dtype)


def _strided(flat, offset, size, stride):
    view = np.lib.stride_tricks.as_strided(flat[offset:], shape=tuple(size), strides=[s * flat.itemsize for s in stride])
    return np.array(view)


class _Pending:
    """A tensor of the old layout: its bytes come after the pickle."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _TorchUnpickler(pickle.Unpickler):
    def __init__(self, file, storage, tensor):
        super().__init__(file)
        self._storage, self._tensor = storage, tensor

    def _rebuild_tensor(self, storage, offset, size, stride, *args):
        if isinstance(storage, tuple):  # ("pending", key, dtype, view) of the old layout
            return _Pending(storage, offset, size, stride)
        return self._tensor(_strided(storage, offset, size, stride))

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *args: data
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        found = _allowed(module, name)
        if found is not None:
            return found
        raise pickle.UnpicklingError(f"the file holds a {module}.{name}, which is read only with torch")

    def persistent_load(self, pid):
        return self._storage(pid)


def _read_zip(f, tensor):
    import zipfile

    with zipfile.ZipFile(f) as archive:
        pkl = next(n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl"))
        root = pkl[: -len("data.pkl")]

        def storage(pid):  # ('storage', dtype, key, location, numel)
            return _flat(archive.read(f"{root}data/{pid[2]}"), pid[1]).copy()
        with archive.open(pkl) as data:
            return _TorchUnpickler(data, storage, tensor).load()


_MAGIC = 0x1950a86a20f9469cfc6c  # what torch's old file layout starts with


def _read_legacy(f, tensor):
    import struct

    try:
        magic = pickle.load(f)
    except Exception:
        magic = None
    if magic != _MAGIC:
        raise ValueError(f"{getattr(f, 'name', f)}: not a file torch saved")
    for _ in range(2):  # protocol version, system information
        pickle.load(f)
    dtypes = {}

    def storage(pid):  # ('storage', dtype, key, location, numel, view_metadata)
        dtypes[pid[2]] = pid[1]
        return ("pending", pid[2], pid[1], pid[5] if len(pid) > 5 else None)
    result = _TorchUnpickler(f, storage, tensor).load()
    data = {}
    for key in pickle.load(f):
        (count,) = struct.unpack("<q", f.read(8))
        dtype = dtypes[key]
        data[key] = _flat(f.read(count * (2 if dtype == _BFLOAT16 else np.dtype(dtype).itemsize)), dtype)

    def build(obj):
        if isinstance(obj, _Pending):
            _, key, _, view = obj.storage
            flat = data[key] if view is None else data[view[0]][view[1]:view[1] + view[2]]
            return tensor(_strided(flat, obj.offset, obj.size, obj.stride))
        if isinstance(obj, dict):
            return type(obj)((k, build(v)) for k, v in obj.items())
        if isinstance(obj, (list, tuple)):
            return type(obj)(build(v) for v in obj)
        return obj
    return build(result)


def is_torch_file(path):
    """Whether torch saved this file (either layout)."""
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(n == "data.pkl" or n.endswith("/data.pkl") for n in archive.namelist())
    with open(path, "rb") as f:
        head = f.read(2)
    return head[:1] == b"\x80"  # a pickle: the old layout starts with one (its magic number)


def read_torch_file(path, tensor=lambda array: array):
    """What torch would load from the file, tensors made by `tensor(numpy_array)`."""
    import zipfile

    if zipfile.is_zipfile(path):
        return _read_zip(path, tensor)
    with open(path, "rb") as f:
        return _read_legacy(f, tensor)
