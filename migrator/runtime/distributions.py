"""torch.distributions.Categorical on MindSpore tensors.

probs (normalized over the last axis, as torch does) or logits (log-normalized); sample() draws
int64 category indices of shape sample_shape + batch_shape; log_prob, entropy, mode and the
probs / logits attributes follow torch's formulas (probabilities clamped to [eps, 1 - eps]
before the log), so they are differentiable through mindspore.grad. The random stream is
MindSpore's, not torch's.
"""
import mindspore
import numpy as np
from mindspore import ops


class MsCategorical:
    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdims=True)
            eps = float(np.finfo(mindspore.dtype_to_nptype(self.probs.dtype)).eps)
            self.logits = ops.log(ops.clamp(self.probs, eps, 1 - eps))
        else:
            self.logits = logits - ops.logsumexp(logits, -1, True)
            self.probs = ops.softmax(self.logits, -1)
        self._num_events = self.probs.shape[-1]
        self.batch_shape = tuple(self.probs.shape[:-1])
        self.event_shape = ()

    @property
    def param_shape(self):
        return tuple(self.probs.shape)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    def sample(self, sample_shape=()):
        shape = tuple(sample_shape)
        n = int(np.prod(shape)) if shape else 1
        probs_2d = self.probs.reshape(-1, self._num_events)
        draws = ops.multinomial(probs_2d, n, True).astype(mindspore.int64)  # (batch, n)
        return draws.swapaxes(0, 1).reshape(shape + self.batch_shape)

    def log_prob(self, value):
        value = value.astype(mindspore.int64).expand_dims(-1)
        shape = np.broadcast_shapes(tuple(value.shape), tuple(self.logits.shape))
        value = ops.broadcast_to(value, shape[:-1] + (1,))
        logits = ops.broadcast_to(self.logits, shape)
        return ops.gather_elements(logits, -1, value).squeeze(-1)

    def entropy(self):
        min_real = float(np.finfo(mindspore.dtype_to_nptype(self.logits.dtype)).min)
        return -(ops.clamp(self.logits, min=min_real) * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = ops.arange(self._num_events, dtype=mindspore.int64).reshape((-1,) + (1,) * len(self.batch_shape))
        return ops.broadcast_to(values, (-1,) + self.batch_shape) if expand else values
