"""Autograd on plain tensors (issue 17): tensors made with requires_grad=True, loss.backward()
with no optimizer, .grad (accumulating until zeroed), in-place updates of the leaves,
torch.autograd.grad (also create_graph=True inside a training step) and torch.autograd.Function.
Each program is converted with the CLI and RUN in MindSpore, compared with torch."""
import numpy as np

from equivalence import convert_program, to_numpy


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=rtol, atol=atol)


VARIABLE = '''
import torch
from torch.autograd import Variable

tensor = torch.FloatTensor([[1, 2], [3, 4]])
variable = Variable(tensor, requires_grad=True)
t_out = torch.mean(tensor * tensor)
v_out = torch.mean(variable * variable)
print(v_out)
v_out.backward()
grad = variable.grad.clone()
data = variable.data.numpy()
flag = variable.requires_grad
'''


def test_variable_backward_fills_grad(tmp_path):
    t, m = convert_program(tmp_path, VARIABLE)
    _close(t["grad"], m["grad"])
    _close(t["v_out"], m["v_out"])
    np.testing.assert_allclose(t["data"], m["data"])
    assert m["flag"] is True or bool(m["flag"]) is True


TWO_LAYER = '''
import numpy as np
import torch

rng = np.random.RandomState(0)
x = torch.tensor(rng.randn(8, 5).astype(np.float32))
y = torch.tensor(rng.randn(8, 3).astype(np.float32))
w1 = torch.tensor(rng.randn(5, 4).astype(np.float32), requires_grad=True)
w2 = torch.from_numpy(rng.randn(4, 3).astype(np.float32)).requires_grad_()
b = torch.zeros(3, requires_grad=True)
losses = []
for t in range(5):
    y_pred = x.mm(w1).clamp(min=0).mm(w2) + b
    loss = (y_pred - y).pow(2).sum()
    losses.append(loss.item())
    loss.backward()
    with torch.no_grad():
        w1 -= 1e-2 * w1.grad
        w2 -= 1e-2 * w2.grad
        b -= 1e-2 * b.grad
        w1.grad.zero_()
        w2.grad.zero_()
        b.grad = None
'''


def test_two_layer_net_on_leaf_tensors(tmp_path):
    t, m = convert_program(tmp_path, TWO_LAYER)
    _close(t["losses"], m["losses"], rtol=1e-4)
    for name in ("w1", "w2", "b"):
        _close(t[name], m[name], rtol=1e-4, atol=1e-5)
    assert m["b"].grad is None


DATA_UPDATE = '''
import torch

w = torch.tensor([1.0], requires_grad=True)

def forward(x):
    return x * w

def loss(y_pred, y_val):
    return (y_pred - y_val) ** 2

grads = []
for epoch in range(3):
    for x_val, y_val in zip([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]):
        l = loss(forward(x_val), y_val)
        l.backward()
        grads.append(w.grad.item())
        w.data = w.data - 0.01 * w.grad.data
        w.grad.data.zero_()
# no zeroing: gradients add up, as in torch
a = torch.tensor([2.0, 3.0], requires_grad=True)
for _ in range(3):
    s = (a * a).sum()
    s.backward()
summed = a.grad
# a non-scalar output with backward(gradient)
c = torch.ones(2, 2).requires_grad_(True)
out = c * 3
out.backward(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
cg = c.grad
final = forward(4).item()
'''


def test_data_assignment_grad_data_zero_and_accumulation(tmp_path):
    t, m = convert_program(tmp_path, DATA_UPDATE)
    _close(t["grads"], m["grads"], rtol=1e-5)
    _close(t["w"], m["w"])
    _close(t["summed"], m["summed"])
    _close(t["cg"], m["cg"])
    assert abs(t["final"] - m["final"]) < 1e-5


CUSTOM_FUNCTION = '''
import numpy as np
import torch


class ScaledReLU(torch.autograd.Function):
    """A backward that is not the forward's derivative: only the custom one gives these numbers."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        grad_x = grad_output.clone()
        grad_x[x < 0] = 0
        return grad_x * ctx.scale, None


rng = np.random.RandomState(1)
x = torch.tensor(rng.randn(6, 4).astype(np.float32))
y = torch.tensor(rng.randn(6, 2).astype(np.float32))
w1 = torch.tensor(rng.randn(4, 5).astype(np.float32), requires_grad=True)
w2 = torch.tensor(rng.randn(5, 2).astype(np.float32), requires_grad=True)
losses = []
for t in range(3):
    y_pred = ScaledReLU.apply(x.mm(w1), 3.0).mm(w2)
    loss = (y_pred - y).pow(2).sum()
    losses.append(loss.item())
    loss.backward()
    g1 = w1.grad.clone()
    with torch.no_grad():
        w1 -= 1e-3 * w1.grad
        w2 -= 1e-3 * w2.grad
        w1.grad.zero_()
        w2.grad.zero_()

# in a model trained by an optimizer
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, a):
        return ScaledReLU.apply(self.fc(a), 0.5)

net = Net()
with torch.no_grad():
    net.fc.weight.copy_(torch.tensor(rng.randn(2, 4).astype(np.float32)))
    net.fc.bias.zero_()
opt = torch.optim.SGD(net.parameters(), lr=0.1)
opt.zero_grad()
out = net(x)
l2 = ((out - y) ** 2).mean()
l2.backward()
opt.step()
w_after = net.fc.weight.detach().clone()
'''


def test_autograd_function_uses_its_backward(tmp_path):
    t, m = convert_program(tmp_path, CUSTOM_FUNCTION)
    _close(t["losses"], m["losses"], rtol=1e-5)
    _close(t["g1"], m["g1"], rtol=1e-5, atol=1e-5)
    _close(t["w1"], m["w1"], rtol=1e-5, atol=1e-5)
    _close(t["w_after"], m["w_after"], rtol=1e-5, atol=1e-6)
