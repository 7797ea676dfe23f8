"""torch.distributions on MindSpore tensors: Categorical, Normal, Bernoulli, Uniform, Independent,
MultivariateNormal, Beta and kl_divergence.

Each class takes torch's arguments (numbers become float32 tensors, or the dtype of the other
parameter, and parameters are broadcast together, as torch's broadcast_all does) and has torch's
attributes (batch_shape and event_shape as tuples, mean, variance, stddev, mode) and methods
(sample, rsample, log_prob, entropy, cdf, icdf where torch has them), with torch's formulas, so
they are differentiable through mindspore.grad / value_and_grad. rsample is reparameterised
(loc + scale * standard normal draws, low + (high - low) * uniform draws), so gradients reach
the parameters; sample() is rsample() with the gradient stopped. The random stream is
MindSpore's, not torch's. Arguments are not validated (torch checks supports by default).

Categorical: probs (normalized over the last axis, as torch does) or logits (log-normalized);
sample() draws int64 category indices of shape sample_shape + batch_shape; log_prob, entropy,
mode and the probs / logits attributes follow torch's formulas (probabilities clamped to
[eps, 1 - eps] before the log).

MultivariateNormal factors its covariance with a Cholesky decomposition written with plain ops
(MindSpore's CPU Cholesky has no gradient) and solves triangular systems by substitution, so it
is differentiable too; both loop over the event size. Beta has no rsample: MindSpore's gamma
sampler has no reparameterised gradient.

The inverse error function is computed here (a rational approximation polished by Newton steps
in float64): mindspore.ops.erfinv loses accuracy near +-1.
"""
import math

import mindspore
import numpy as np
from mindspore import ops


def ms_dist_broadcast_all(*values):
    """Numbers -> tensors of the first tensor's dtype (float32 if none), all broadcast together."""
    dtype = next((v.dtype for v in values if isinstance(v, mindspore.Tensor)), mindspore.float32)
    values = [v if isinstance(v, mindspore.Tensor) else mindspore.Tensor(v, dtype) for v in values]
    shape = tuple(np.broadcast_shapes(*(tuple(v.shape) for v in values)))
    return [v if tuple(v.shape) == shape else ops.broadcast_to(v, shape) for v in values]


def ms_dist_value(value, like):
    return value if isinstance(value, mindspore.Tensor) else mindspore.Tensor(value, like.dtype)


def ms_dist_shape(sample_shape, *shapes):
    shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
    for s in shapes:
        shape += tuple(s)
    return shape


def ms_dist_sum_rightmost(value, dim):
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def ms_dist_eps(x):
    return float(np.finfo(mindspore.dtype_to_nptype(x.dtype)).eps)


def ms_dist_bce_with_logits(logits, target):
    # (1 - target) * logits - log_sigmoid(logits), elementwise
    return (1 - target) * logits - ops.clamp(logits, max=0) + ops.log1p(ops.exp(-ops.abs(logits)))


def ms_dist_xlogy(x, y):
    return ops.where(x == 0, ops.zeros_like(x * y), x * ops.log(y))


def ms_erfinv(y):
    x = y.astype(mindspore.float64)
    w = -ops.log((1 - x) * (1 + x))
    a = w - 2.5
    p = a * 2.81022636e-08 + 3.43273939e-07
    for c in (-3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
        p = p * a + c
    b = ops.sqrt(ops.clamp(w, min=5.0)) - 3
    q = b * -0.000200214257 + 0.000100950558
    for c in (0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
        q = q * b + c
    r = ops.where(w < 5, p, q) * x
    for _ in range(2):  # Newton steps on erf(r) = x
        r = r - (ops.erf(r) - x) / (2 / math.sqrt(math.pi) * ops.exp(-r * r))
    r = ops.where(ops.abs(x) == 1, x * float("inf"), r)
    return r.astype(y.dtype)


def ms_cholesky(a):
    """Lower Cholesky factor of (a batch of) positive-definite matrices, column by column."""
    a = (a + a.swapaxes(-1, -2)) / 2  # the gradient is symmetric, as for a symmetric input it should be
    n = a.shape[-1]
    cols = []
    for j in range(n):
        s = a[..., :, j]
        if j:
            prev = ops.stack(cols, -1)
            s = s - ops.matmul(prev, prev[..., j, :].expand_dims(-1)).squeeze(-1)
        d = ops.sqrt(s[..., j])
        below = mindspore.Tensor((np.arange(n) >= j).astype(mindspore.dtype_to_nptype(a.dtype)))
        cols.append(s / d.expand_dims(-1) * below)
    return ops.stack(cols, -1)


def ms_solve_tril(l, b):
    """Solves l @ y = b for y, l lower-triangular (..., n, n), b vectors (..., n), by substitution."""
    ys = []
    for i in range(b.shape[-1]):
        r = b[..., i]
        if i:
            r = r - (l[..., i, :i] * ops.stack(ys, -1)).sum(-1)
        ys.append(r / l[..., i, i])
    return ops.stack(ys, -1)


class MsCategorical:
    has_rsample = False

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
        shape = ms_dist_shape(sample_shape)
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


class MsNormal:
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = ms_dist_broadcast_all(loc, scale)
        self.batch_shape = tuple(self.loc.shape)
        self.event_shape = ()

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale.pow(2)

    def rsample(self, sample_shape=()):
        shape = ms_dist_shape(sample_shape, self.batch_shape)
        eps = ops.standard_normal(shape).astype(self.loc.dtype)
        return self.loc + eps * self.scale

    def sample(self, sample_shape=()):
        return ops.stop_gradient(self.rsample(sample_shape))

    def log_prob(self, value):
        value = ms_dist_value(value, self.loc)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - ops.log(self.scale) - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value):
        value = ms_dist_value(value, self.loc)
        return 0.5 * (1 + ops.erf((value - self.loc) * ops.reciprocal(self.scale) / math.sqrt(2)))

    def icdf(self, value):
        value = ms_dist_value(value, self.loc)
        return self.loc + self.scale * ms_erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + ops.log(self.scale)


class MsBernoulli:
    has_rsample = False

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = ms_dist_broadcast_all(probs)
            eps = ms_dist_eps(self.probs)
            clamped = ops.clamp(self.probs, eps, 1 - eps)
            self.logits = ops.log(clamped) - ops.log1p(-clamped)
        else:
            (self.logits,) = ms_dist_broadcast_all(logits)
            self.probs = ops.sigmoid(self.logits)
        self.batch_shape = tuple(self.probs.shape)
        self.event_shape = ()

    @property
    def param_shape(self):
        return self.batch_shape

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    @property
    def stddev(self):
        return self.variance.sqrt()

    @property
    def mode(self):
        mode = (self.probs >= 0.5).astype(self.probs.dtype)
        return ops.where(self.probs == 0.5, mode * float("nan"), mode)

    def sample(self, sample_shape=()):
        shape = ms_dist_shape(sample_shape, self.batch_shape)
        draws = ops.rand(shape, dtype=self.probs.dtype)
        return ops.stop_gradient((draws < self.probs).astype(self.probs.dtype))

    def log_prob(self, value):
        logits, value = ms_dist_broadcast_all(self.logits, ms_dist_value(value, self.logits))
        return -ms_dist_bce_with_logits(logits, value.astype(logits.dtype))

    def entropy(self):
        return ms_dist_bce_with_logits(self.logits, self.probs)

    def enumerate_support(self, expand=True):
        values = ops.arange(2, dtype=self.probs.dtype).reshape((-1,) + (1,) * len(self.batch_shape))
        return ops.broadcast_to(values, (-1,) + self.batch_shape) if expand else values


class MsUniform:
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = ms_dist_broadcast_all(low, high)
        self.batch_shape = tuple(self.low.shape)
        self.event_shape = ()

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return float("nan") * self.high

    @property
    def stddev(self):
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=()):
        shape = ms_dist_shape(sample_shape, self.batch_shape)
        draws = ops.rand(shape, dtype=self.low.dtype)
        return self.low + draws * (self.high - self.low)

    def sample(self, sample_shape=()):
        return ops.stop_gradient(self.rsample(sample_shape))

    def log_prob(self, value):
        value = ms_dist_value(value, self.low)
        lb = (self.low <= value).astype(self.low.dtype)
        ub = (self.high > value).astype(self.low.dtype)
        return ops.log(lb * ub) - ops.log(self.high - self.low)

    def cdf(self, value):
        value = ms_dist_value(value, self.low)
        return ops.clamp((value - self.low) / (self.high - self.low), 0, 1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return ops.log(self.high - self.low)


class MsIndependent:
    def __init__(self, base_distribution, reinterpreted_batch_ndims, validate_args=None):
        if reinterpreted_batch_ndims > len(base_distribution.batch_shape):
            raise ValueError(
                "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                f"actual {reinterpreted_batch_ndims} vs {len(base_distribution.batch_shape)}")
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        event_dim = reinterpreted_batch_ndims + len(base_distribution.event_shape)
        self.batch_shape = shape[:len(shape) - event_dim]
        self.event_shape = shape[len(shape) - event_dim:]
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims

    @property
    def has_rsample(self):
        return self.base_dist.has_rsample

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def mode(self):
        return self.base_dist.mode

    @property
    def variance(self):
        return self.base_dist.variance

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return ms_dist_sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self):
        return ms_dist_sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def enumerate_support(self, expand=True):
        if self.reinterpreted_batch_ndims > 0:
            raise NotImplementedError("Enumeration over cartesian product is not implemented")
        return self.base_dist.enumerate_support(expand=expand)


class MsMultivariateNormal:
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [(k, m) for k, m in (("covariance_matrix", covariance_matrix), ("precision_matrix", precision_matrix),
                                     ("scale_tril", scale_tril)) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        name, matrix = given[0]
        if matrix.ndim < 2:
            raise ValueError(f"{name} must be at least two-dimensional, with optional leading batch dimensions")
        n = loc.shape[-1]
        self.batch_shape = tuple(np.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1])))
        self.event_shape = (n,)
        self.loc = ops.broadcast_to(loc, self.batch_shape + (n,))
        self._given = {name: matrix}
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = ms_cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = ms_cholesky(ops.inverse(precision_matrix))

    def _matrix(self, name, compute):
        m = self._given[name] if name in self._given else compute()
        return ops.broadcast_to(m, self.batch_shape + self.event_shape + self.event_shape)

    @property
    def scale_tril(self):
        return self._matrix("scale_tril", lambda: self._unbroadcasted_scale_tril)

    @property
    def covariance_matrix(self):
        l = self._unbroadcasted_scale_tril
        return self._matrix("covariance_matrix", lambda: ops.matmul(l, l.swapaxes(-1, -2)))

    @property
    def precision_matrix(self):
        l = self._unbroadcasted_scale_tril
        return self._matrix("precision_matrix", lambda: ops.inverse(ops.matmul(l, l.swapaxes(-1, -2))))

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return ops.broadcast_to(self._unbroadcasted_scale_tril.pow(2).sum(-1), self.batch_shape + self.event_shape)

    @property
    def stddev(self):
        return self.variance.sqrt()

    def rsample(self, sample_shape=()):
        shape = ms_dist_shape(sample_shape, self.batch_shape, self.event_shape)
        eps = ops.standard_normal(shape).astype(self.loc.dtype)
        return self.loc + ops.matmul(self._unbroadcasted_scale_tril, eps.expand_dims(-1)).squeeze(-1)

    def sample(self, sample_shape=()):
        return ops.stop_gradient(self.rsample(sample_shape))

    def _half_log_det(self):
        return ops.log(ops.diagonal(self._unbroadcasted_scale_tril, 0, -2, -1)).sum(-1)

    def log_prob(self, value):
        diff = value - self.loc
        m = ms_solve_tril(self._unbroadcasted_scale_tril, diff).pow(2).sum(-1)
        return -0.5 * (self.event_shape[0] * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        h = 0.5 * self.event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h if not self.batch_shape else ops.broadcast_to(h, self.batch_shape)


class MsBeta:
    has_rsample = False

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = ms_dist_broadcast_all(concentration1, concentration0)
        self.batch_shape = tuple(self.concentration1.shape)
        self.event_shape = ()

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        a, b = self.concentration1, self.concentration0
        mode = (a - 1) / (a + b - 2)
        return ops.where((a > 1) & (b > 1), mode, mode * float("nan"))

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=()):
        shape = ms_dist_shape(sample_shape, self.batch_shape)
        one = mindspore.Tensor(np.array([1], np.int64))
        x = ops.random_gamma(one, ops.broadcast_to(self.concentration1, shape).reshape(-1))
        y = ops.random_gamma(one, ops.broadcast_to(self.concentration0, shape).reshape(-1))
        eps = ms_dist_eps(x)
        out = ops.clamp(x / (x + y), float(np.finfo(mindspore.dtype_to_nptype(x.dtype)).tiny), 1 - eps)
        return ops.stop_gradient(out.reshape(shape))

    def rsample(self, sample_shape=()):
        raise NotImplementedError("Beta.rsample: MindSpore's gamma sampler has no reparameterised gradient")

    def log_prob(self, value):
        value = ms_dist_value(value, self.concentration1)
        a, b = self.concentration1, self.concentration0
        return (ms_dist_xlogy(a - 1.0, value) + ms_dist_xlogy(b - 1.0, 1.0 - value)
                + ops.lgamma(a + b) - (ops.lgamma(a) + ops.lgamma(b)))

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        a0 = a + b
        return (ops.lgamma(a) + ops.lgamma(b) - ops.lgamma(a0) - (2 - a0) * ops.digamma(a0)
                - ((a - 1.0) * ops.digamma(a) + (b - 1.0) * ops.digamma(b)))


def ms_kl_divergence(p, q):
    inf = float("inf")
    if isinstance(p, MsNormal) and isinstance(q, MsNormal):
        var_ratio = (p.scale / q.scale).pow(2)
        t1 = ((p.loc - q.loc) / q.scale).pow(2)
        return 0.5 * (var_ratio + t1 - 1 - ops.log(var_ratio))
    if isinstance(p, MsBernoulli) and isinstance(q, MsBernoulli):
        t1 = p.probs * (ops.softplus(-q.logits) - ops.softplus(-p.logits))
        t1 = ops.where(p.probs == 0, ops.zeros_like(t1), ops.where(q.probs == 0, ops.full_like(t1, inf), t1))
        t2 = (1 - p.probs) * (ops.softplus(q.logits) - ops.softplus(p.logits))
        t2 = ops.where(p.probs == 1, ops.zeros_like(t2), ops.where(q.probs == 1, ops.full_like(t2, inf), t2))
        return t1 + t2
    if isinstance(p, MsCategorical) and isinstance(q, MsCategorical):
        t = p.probs * (p.logits - q.logits)
        t = ops.where(ops.broadcast_to(q.probs == 0, t.shape), ops.full_like(t, inf), t)
        t = ops.where(ops.broadcast_to(p.probs == 0, t.shape), ops.zeros_like(t), t)
        return t.sum(-1)
    if isinstance(p, MsUniform) and isinstance(q, MsUniform):
        result = ops.log((q.high - q.low) / (p.high - p.low))
        return ops.where((q.low > p.low) | (q.high < p.high), ops.full_like(result, inf), result)
    if isinstance(p, MsUniform) and isinstance(q, MsNormal):
        common = p.high - p.low
        t1 = ops.log(math.sqrt(math.pi * 2) * q.scale / common)
        t2 = common.pow(2) / 12
        t3 = ((p.high + p.low - 2 * q.loc) / 2).pow(2)
        return t1 + 0.5 * (t2 + t3) / q.scale.pow(2)
    if isinstance(p, MsNormal) and isinstance(q, MsUniform):
        return ops.full_like(p.loc, inf)
    if isinstance(p, MsBeta) and isinstance(q, MsBeta):
        sum_p = p.concentration1 + p.concentration0
        sum_q = q.concentration1 + q.concentration0
        t1 = ops.lgamma(q.concentration1) + ops.lgamma(q.concentration0) + ops.lgamma(sum_p)
        t2 = ops.lgamma(p.concentration1) + ops.lgamma(p.concentration0) + ops.lgamma(sum_q)
        t3 = (p.concentration1 - q.concentration1) * ops.digamma(p.concentration1)
        t4 = (p.concentration0 - q.concentration0) * ops.digamma(p.concentration0)
        t5 = (sum_q - sum_p) * ops.digamma(sum_p)
        return t1 - t2 + t3 + t4 + t5
    if isinstance(p, MsMultivariateNormal) and isinstance(q, MsMultivariateNormal):
        if p.event_shape != q.event_shape:
            raise ValueError("KL-divergence between two Multivariate Normals with different event shapes cannot be computed")
        n = p.event_shape[0]
        shape = tuple(np.broadcast_shapes(tuple(q._unbroadcasted_scale_tril.shape[:-2]),
                                          tuple(p._unbroadcasted_scale_tril.shape[:-2])))
        q_tril = ops.broadcast_to(q._unbroadcasted_scale_tril, shape + (n, n))
        p_tril = ops.broadcast_to(p._unbroadcasted_scale_tril, shape + (n, n))
        # trace(X X^T) for X = q_tril^-1 p_tril, solved column by column
        term2 = ms_solve_tril(q_tril.expand_dims(-3), p_tril.swapaxes(-1, -2)).pow(2).sum((-1, -2))
        term3 = ms_solve_tril(q._unbroadcasted_scale_tril, q.loc - p.loc).pow(2).sum(-1)
        return q._half_log_det() - p._half_log_det() + 0.5 * (term2 + term3 - n)
    if isinstance(p, MsIndependent) and isinstance(q, MsIndependent):
        if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
            raise NotImplementedError
        return ms_dist_sum_rightmost(ms_kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)
    raise NotImplementedError(
        f"No KL(p || q) is implemented for p type {type(p).__name__} and q type {type(q).__name__}")
