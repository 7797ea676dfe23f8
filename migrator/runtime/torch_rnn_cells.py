"""torch.nn.LSTMCell / GRUCell / RNNCell for MindSpore: MindSpore's cells (same parameters, names
and initialisation) computing torch's formulas in the input's own dtype, float64 included (MindSpore's
cells accept float16/float32 only), with torch's optional state (zeros when it is not passed) and
torch's unbatched input (a 1-d x gives a 1-d state).
"""
import mindspore
from mindspore import ops


def _linear(x, weight, bias):
    y = ops.matmul(x, weight.T)
    return y if bias is None else y + bias


def _batched(x, hx, hidden_size, count):
    """x as a batch, the state (zeros when None) likewise, and whether x came unbatched."""
    single = x.ndim == 1
    if single:
        x = x.expand_dims(0)
    if hx is None:
        zeros = ops.zeros((x.shape[0], hidden_size), x.dtype)
        hx = zeros if count == 1 else (zeros, zeros)
    elif single:
        hx = hx.expand_dims(0) if count == 1 else tuple(h.expand_dims(0) for h in hx)
    return x, hx, single


class TorchLSTMCell(mindspore.nn.LSTMCell):
    def construct(self, x, hx=None):
        x, (h, c), single = _batched(x, hx, self.hidden_size, 2)
        gates = _linear(x, self.weight_ih, self.bias_ih) + _linear(h, self.weight_hh, self.bias_hh)
        i, f, g, o = ops.chunk(gates, 4, 1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return (h.squeeze(0), c.squeeze(0)) if single else (h, c)


class TorchGRUCell(mindspore.nn.GRUCell):
    def construct(self, x, hx=None):
        x, h, single = _batched(x, hx, self.hidden_size, 1)
        i_r, i_z, i_n = ops.chunk(_linear(x, self.weight_ih, self.bias_ih), 3, 1)
        h_r, h_z, h_n = ops.chunk(_linear(h, self.weight_hh, self.bias_hh), 3, 1)
        r = ops.sigmoid(i_r + h_r)
        z = ops.sigmoid(i_z + h_z)
        n = ops.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h
        return h.squeeze(0) if single else h


class TorchRNNCell(mindspore.nn.RNNCell):
    def construct(self, x, hx=None):
        x, h, single = _batched(x, hx, self.hidden_size, 1)
        pre = _linear(x, self.weight_ih, self.bias_ih) + _linear(h, self.weight_hh, self.bias_hh)
        h = ops.tanh(pre) if self.nonlinearity == "tanh" else ops.relu(pre)
        return h.squeeze(0) if single else h
