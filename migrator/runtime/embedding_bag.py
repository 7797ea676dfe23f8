# torch.nn.EmbeddingBag: MindSpore has none. Bags are rows of a 2-D input, or runs of a 1-D
# input starting at `offsets`; each bag is the sum, mean or max of its rows of `weight`
# (padding_idx rows left out, empty bags 0), as torch computes it.
import mindspore


class EmbeddingBag(mindspore.nn.Cell):
    """torch.nn.EmbeddingBag(num_embeddings, embedding_dim, mode, include_last_offset, padding_idx)."""

    def __init__(self, num_embeddings, embedding_dim, mode='mean', include_last_offset=False, padding_idx=None):
        super().__init__()
        init = mindspore.common.initializer
        self.weight = mindspore.Parameter(init.initializer(init.Normal(1.0), (num_embeddings, embedding_dim),
                                                           mindspore.float32), name='weight')
        if padding_idx is not None:
            padding_idx = padding_idx % num_embeddings
            self.weight[padding_idx] = 0.0
        self.mode = mode
        self.include_last_offset = include_last_offset
        self.padding_idx = padding_idx

    def construct(self, input, offsets=None, per_sample_weights=None):
        ops = mindspore.ops
        if input.ndim == 2:
            bags, width = input.shape
            segments = ops.arange(bags).repeat_interleave(width)
            ids = input.reshape(-1)
        else:
            ids = input
            starts = offsets[:-1] if self.include_last_offset else offsets
            bags = starts.shape[0]
            segments = ops.searchsorted(starts, ops.arange(ids.shape[0], dtype=starts.dtype), right=True) - 1
        rows = ops.gather(self.weight, ids, 0)
        if per_sample_weights is not None:
            rows = rows * per_sample_weights.reshape(-1, 1)
        keep = ops.ones(ids.shape, mindspore.float32) if self.padding_idx is None else \
            (ids != self.padding_idx).astype(mindspore.float32)
        count = ops.unsorted_segment_sum(keep, segments, bags).reshape(-1, 1)
        if self.mode == 'max':
            rows = ops.where(keep.reshape(-1, 1) > 0, rows, float('-inf'))
            out = ops.unsorted_segment_max(rows, segments, bags)
            return ops.where(count > 0, out, 0.0)
        out = ops.unsorted_segment_sum(rows * keep.reshape(-1, 1), segments, bags)
        if self.mode == 'mean':
            out = out / ops.clamp(count, min=1.0)
        return out
