"""Tensor indexing with numpy values, as torch allows: `x[np.int64(3)]`, `x[idx_array]`, `x[a:b]`
with numpy bounds, `x[[i, j]]` with numpy elements. MindSpore's tensors refuse every one of these
(IndexError "Unsupported Python object type"), and numpy values reach indexes constantly in data
code (np.where, np.random.choice, an element of a numpy array). Copied into converted files that
import numpy and index with computed values, it makes Tensor.__getitem__/__setitem__ turn numpy
scalars into Python numbers and numpy arrays into tensors first; once per process, nothing else
changes.
"""
import mindspore
import numpy as np


def _ms_plain_index(index):
    if isinstance(index, np.ndarray):
        return mindspore.Tensor(index)
    if isinstance(index, np.integer):
        return int(index)
    if isinstance(index, np.bool_):
        return bool(index)
    if isinstance(index, slice) and any(isinstance(v, np.generic) for v in (index.start, index.stop, index.step)):
        return slice(*(v.item() if isinstance(v, np.generic) else v for v in (index.start, index.stop, index.step)))
    if isinstance(index, (tuple, list)):
        return type(index)(_ms_plain_index(i) for i in index)
    return index


def _ms_allow_numpy_index():
    tensor = mindspore.Tensor
    if getattr(tensor, "_ms_migrate_numpy_index", False):
        return
    getitem, setitem = tensor.__getitem__, tensor.__setitem__

    def __getitem__(self, index):
        return getitem(self, _ms_plain_index(index))

    def __setitem__(self, index, value):
        return setitem(self, _ms_plain_index(index), value)
    tensor.__getitem__, tensor.__setitem__ = __getitem__, __setitem__
    tensor._ms_migrate_numpy_index = True


_ms_allow_numpy_index()
