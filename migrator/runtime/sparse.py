"""torch.sparse_coo_tensor and torch.spmm on MindSpore's COOTensor (2-D).

torch's indices are (ndim, nnz); MindSpore's COOTensor takes them as (nnz, ndim). Duplicate
indices add up, as after torch's coalesce(). A COOTensor plus a dense tensor of the same dtype
gives a dense tensor (torch also promotes mixed dtypes; MindSpore needs them equal).
"""
import mindspore
import numpy as np
from mindspore import ops


def ms_sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                         requires_grad=False, check_invariants=None, is_coalesced=None):
    indices = indices if isinstance(indices, mindspore.Tensor) else mindspore.Tensor(np.asarray(indices))
    values = values if isinstance(values, mindspore.Tensor) else mindspore.Tensor(np.asarray(values))
    if dtype is not None:
        values = values.astype(dtype)
    if size is None:
        size = tuple(int(n) + 1 for n in indices.asnumpy().max(axis=1))
    if len(size) != 2 or values.ndim != 1:
        raise NotImplementedError("MindSpore's COOTensor is a 2-D matrix of scalar values")
    return mindspore.COOTensor(indices.astype(mindspore.int64).T, values, tuple(int(n) for n in size))


def ms_spmm(input, mat2):
    """input @ mat2 for a sparse (COOTensor) or dense 2-D input and a dense mat2."""
    if isinstance(input, mindspore.COOTensor):
        return ops.SparseTensorDenseMatmul()(input.indices, input.values, input.shape, mat2)
    return ops.matmul(input, mat2)
