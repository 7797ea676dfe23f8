"""Autograd on plain tensors, as torch does it. A tensor made with requires_grad=True is a leaf;
loss.backward() adds d(loss)/d(leaf) to leaf.grad, which keeps adding up until the code zeroes it
or sets it to None; `w -= lr * w.grad` and `w.data = ...` change that same tensor.

MindSpore differentiates functions with respect to Parameters. So a leaf is a mindspore.Parameter
(of a small subclass keeping torch's in-place operators, `.data` and `.grad`), the statements that
compute the loss become a function, and ms_backward differentiates it with respect to the leaves
that are alive (a leaf the loss does not use gets a zero gradient where torch leaves None).
torch.autograd.grad is ms_autograd_grad over a function of its inputs (differentiable further
when create_graph=True, as nested mindspore.grad calls are), and a torch.autograd.Function
subclass runs its forward in a Cell whose bprop calls its backward.
"""
import itertools
import weakref

import mindspore

from .param_grads import ms_attach_grads

_leaf_ids = itertools.count()
_live_leaves = weakref.WeakValueDictionary()
_leaf_classes = {}


def _inplace(op):
    def method(self, other):
        value = op(self, other)
        if isinstance(value, mindspore.Tensor) and value.dtype != self.dtype:
            value = value.astype(self.dtype)
        self.assign_value(value)
        return self
    return method


def _get_data(self):
    return mindspore.ops.stop_gradient(self)


def _set_data(self, value):
    if not isinstance(value, mindspore.Tensor):
        value = mindspore.tensor(value, dtype=self.dtype)
    if tuple(value.shape) == tuple(self.shape):
        self.assign_value(value.astype(self.dtype))
    else:
        self.set_data(value)


def _repr(self):
    return repr(mindspore.Tensor(self.asnumpy()))


_LEAF_METHODS = {
    "__iadd__": _inplace(lambda a, b: a + b),
    "__isub__": _inplace(lambda a, b: a - b),
    "__imul__": _inplace(lambda a, b: a * b),
    "__itruediv__": _inplace(lambda a, b: a / b),
    "__ipow__": _inplace(lambda a, b: a ** b),
    "data": property(_get_data, _set_data),
    "is_leaf": True,
    "grad_fn": None,
    "__repr__": _repr,
    "__str__": _repr,
}


def ms_leaf(tensor, requires_grad=True):
    """torch's `requires_grad=True` / `.requires_grad_()` / `Variable(t, requires_grad=True)`: a
    Parameter MindSpore can differentiate with respect to, registered as a leaf."""
    if not requires_grad:
        return tensor
    if isinstance(tensor, mindspore.Parameter):
        tensor.requires_grad = True
        if id(tensor) not in _live_leaves and type(tensor).__name__ != "MsLeaf":
            _live_leaves[id(tensor)] = tensor
        if not hasattr(tensor, "grad"):
            tensor.grad = None
        return tensor
    if not isinstance(tensor, mindspore.Tensor):
        tensor = mindspore.tensor(tensor)
    leaf = mindspore.Parameter(tensor, name=f"ms_leaf_{next(_leaf_ids)}", requires_grad=True)
    base = type(leaf)
    cls = _leaf_classes.get(base)
    if cls is None:
        cls = _leaf_classes[base] = type("MsLeaf", (base,), dict(_LEAF_METHODS))
    leaf.__class__ = cls
    leaf.grad = None
    _live_leaves[id(leaf)] = leaf
    return leaf


def ms_leaves():
    """The leaves alive that require grad, oldest first."""
    return [p for p in list(_live_leaves.values()) if p.requires_grad]


def ms_backward(forward_fn, *args, has_aux=False, params=None, gradient=None):
    """loss.backward() where no optimizer takes the gradients: forward_fn computes the loss (and,
    with has_aux, the other names its statements assign); the gradients of the loss with respect
    to `params` (the parameters of the models it calls) and every live leaf are added to their
    .grad, as torch does. `gradient` is backward's argument for a non-scalar loss. Returns what
    forward_fn returns."""
    weights, seen = [], set()
    for p in list(params or ()) + ms_leaves():
        if id(p) not in seen:
            seen.add(id(p))
            weights.append(p)
    if not weights:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")

    def scalar(*a):
        out = forward_fn(*a)
        loss = out[0] if has_aux else out
        if gradient is not None:
            loss = (loss * gradient).sum()
        elif loss.ndim:
            loss = loss.sum()
        return loss, out

    (_, out), grads = mindspore.value_and_grad(scalar, None, weights, has_aux=True)(*args)
    ms_attach_grads(weights, grads)
    return out


def ms_autograd_grad(fn, inputs, grad_outputs=None, create_graph=False):
    """torch.autograd.grad(outputs, inputs, grad_outputs): fn computes the outputs from the inputs
    (the statements between them, as a function); returns one gradient per input, as a tuple.
    Without create_graph the result takes no part in a gradient taken around it, as in torch."""
    single = isinstance(inputs, mindspore.Tensor)
    ins = (inputs,) if single else tuple(inputs)
    if grad_outputs is not None and not isinstance(grad_outputs, (tuple, list)):
        grad_outputs = (grad_outputs,)

    def total(*xs):
        out = fn(*xs)
        outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        s = 0
        for k, o in enumerate(outs):
            g = None if grad_outputs is None else grad_outputs[k]
            s = s + (o.sum() if g is None else (o * g).sum())
        return s

    grads = mindspore.grad(total, grad_position=tuple(range(len(ins))))(*ins)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if not create_graph:
        grads = tuple(mindspore.ops.stop_gradient(g) for g in grads)
    return tuple(grads)


class _FunctionCtx:
    """torch's ctx: save_for_backward / saved_tensors, and any attribute the forward sets."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *args):
        pass

    def mark_dirty(self, *args):
        pass

    def set_materialize_grads(self, value):
        pass


class _FunctionCell(mindspore.nn.Cell):
    def __init__(self, function):
        super().__init__()
        self.function = function
        self.ctx = _FunctionCtx()

    def construct(self, *args):
        self.ctx.needs_input_grad = tuple(isinstance(a, mindspore.Tensor) for a in args)
        return self.function.forward(self.ctx, *args)

    def bprop(self, *args):
        inputs, dout = args[:-2], args[-1]
        douts = dout if isinstance(dout, (tuple, list)) else (dout,)
        grads = self.function.backward(self.ctx, *douts)
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        grads = list(grads)[:len(inputs)] + [None] * (len(inputs) - len(grads))
        return tuple(mindspore.ops.zeros_like(x) if g is None and isinstance(x, mindspore.Tensor)
                     else (0 if g is None else g) for g, x in zip(grads, inputs))


class MsAutogradFunction:
    """torch.autograd.Function: `forward(ctx, ...)` and `backward(ctx, grad_output)` static
    methods, used as `MyFunction.apply(x)`: a Cell whose bprop is the user's backward, which
    MindSpore's gradients then use."""

    @classmethod
    def apply(cls, *args):
        return _FunctionCell(cls)(*args)
