# torch.nn.functional.scaled_dot_product_attention, written out with MindSpore ops (the fused
# attention kernels are Ascend-only).
import math

import mindspore


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(q @ k^T * scale + mask) @ v; a boolean mask keeps the True positions."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = mindspore.ops.matmul(query, key.swapaxes(-2, -1)) * scale
    if is_causal:
        keep = mindspore.ops.ones((query.shape[-2], key.shape[-2]), mindspore.bool_).tril()
        scores = scores.masked_fill(~keep, float('-inf'))
    if attn_mask is not None:
        if attn_mask.dtype == mindspore.bool_:
            scores = scores.masked_fill(~attn_mask, float('-inf'))
        else:
            scores = scores + attn_mask
    weights = mindspore.ops.softmax(scores, axis=-1)
    if dropout_p > 0.0:
        weights = mindspore.ops.dropout(weights, p=dropout_p)
    return mindspore.ops.matmul(weights, value)
