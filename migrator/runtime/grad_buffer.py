"""torch's gradient accumulation for MindSpore: gradients add up until zero_grad().

Copied into converted files that accumulate gradients (several backward() per step, a step
under an `if`, ...). `add` is what backward() did, `step` what optimizer.step() did.
"""
import mindspore


class _GradBuffer:
    def __init__(self):
        self._grads = {}
        self._attached = {}  # optimizers whose parameters' .grad shows the sum (code reads p.grad)

    def add(self, optimizer, grads):
        old = self._grads.get(id(optimizer))
        self._grads[id(optimizer)] = grads if old is None else tuple(a + g for a, g in zip(old, grads))

    def grads(self, optimizer):
        return self._grads.get(id(optimizer), ())

    def attach(self, optimizer):
        """Each parameter's .grad is the gradient added up since zero_grad(), as torch's."""
        self._attached[id(optimizer)] = optimizer
        for p, g in zip(optimizer.parameters, self.grads(optimizer)):
            p.grad = g

    def zero(self, optimizer=None):
        for key, opt in list(self._attached.items()):
            if optimizer is None or key == id(optimizer):
                for p in opt.parameters:
                    p.grad = None
        if optimizer is None:
            self._grads.clear()
        else:
            self._grads.pop(id(optimizer), None)

    def clip_norm(self, optimizer, max_norm):
        if id(optimizer) in self._grads:
            self._grads[id(optimizer)] = mindspore.ops.clip_by_global_norm(self._grads[id(optimizer)], max_norm)

    def clip_value(self, optimizer, value):
        if id(optimizer) in self._grads:
            self._grads[id(optimizer)] = tuple(mindspore.ops.clamp(g, -value, value) for g in self._grads[id(optimizer)])

    def step(self, optimizer, closure=None):
        """optimizer.step() / optimizer.step(closure): the closure recomputes the loss and refills
        the gradients; its loss is returned, as torch does. L-BFGS calls it as often as it needs."""
        if closure is not None and hasattr(optimizer, "step_closure"):
            return optimizer.step_closure(closure, lambda: self.grads(optimizer))
        loss = None if closure is None else closure()
        if id(optimizer) in self._grads:
            optimizer(self._grads[id(optimizer)])
        return loss


ms_grad_buffer = _GradBuffer()
