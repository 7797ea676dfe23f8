"""torch.sparse_coo_tensor, torch.spmm and Tensor.to_dense for MindSpore, on dense tensors.

MindSpore's COOTensor takes part in few operations (a float tensor plus an int64 COOTensor fails,
where torch promotes), so a sparse tensor is built dense: the values scattered into zeros at
their indices, duplicates adding up as after torch's coalesce(). Every product and sum with it
gives torch's values; the memory is that of the dense tensor.
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
        size = tuple(int(n) + 1 for n in indices.asnumpy().max(axis=1)) + tuple(values.shape[1:])
    dense = ops.zeros(tuple(int(n) for n in size), values.dtype)
    return ops.tensor_scatter_add(dense, indices.astype(mindspore.int64).T, values)


def ms_spmm(input, mat2):
    """input @ mat2 for a sparse (COOTensor) or dense 2-D input and a dense mat2."""
    if isinstance(input, mindspore.COOTensor):
        return ops.SparseTensorDenseMatmul()(input.indices, input.values, input.shape, mat2)
    return ops.matmul(input, mat2)


def ms_to_dense(x):
    """A sparse tensor's dense matrix; a dense one as it is (to_sparse() keeps tensors dense)."""
    return x.to_dense() if isinstance(x, (mindspore.COOTensor, mindspore.CSRTensor)) else x
