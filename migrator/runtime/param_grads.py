"""loss.backward() with no optimizer step to take the gradients: torch adds each gradient to
its parameter's .grad, which the code then reads (a hand-written update,
`param.data.add_(-lr * param.grad)`). MindSpore computes the gradients as values; these put them
on the parameters the same way: added to what .grad holds, until zero_grad sets it to None.
"""


def ms_attach_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = g if getattr(p, "grad", None) is None else p.grad + g


def ms_zero_grads(params):
    for p in params:
        p.grad = None
