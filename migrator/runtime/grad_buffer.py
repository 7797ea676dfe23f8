"""torch's gradient accumulation for MindSpore: gradients add up until zero_grad().

Copied into converted files that accumulate gradients (several backward() per step, a step
under an `if`, ...). `add` is what backward() did, `step` what optimizer.step() did.
"""
import mindspore


class _GradBuffer:
    def __init__(self):
        self._grads = {}

    def add(self, optimizer, grads):
        old = self._grads.get(id(optimizer))
        self._grads[id(optimizer)] = grads if old is None else tuple(a + g for a, g in zip(old, grads))

    def grads(self, optimizer):
        return self._grads.get(id(optimizer), ())

    def zero(self, optimizer=None):
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

    def step(self, optimizer):
        if id(optimizer) in self._grads:
            optimizer(self._grads[id(optimizer)])


ms_grad_buffer = _GradBuffer()
