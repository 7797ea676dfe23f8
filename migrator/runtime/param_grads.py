"""loss.backward() with no optimizer step to take the gradients: torch adds each gradient to
its parameter's .grad, which the code then reads (a hand-written update,
`param.data.add_(-lr * param.grad)`). MindSpore computes the gradients as values; these put them
on the parameters the same way: added to what .grad holds, until zero_grad sets it to None.
"""


def ms_attach_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = g if getattr(p, "grad", None) is None else p.grad + g


def ms_set_grads(params, grads):
    """The gradients a training step just computed, on its parameters' .grad (read before the step)."""
    for p, g in zip(params, grads):
        p.grad = g


def ms_zero_grads(params):
    for p in params:
        p.grad = None


def ms_step_from_grads(optimizer):
    """optimizer.step() when backward() put the gradients on .grad: the optimizer applies them."""
    import mindspore

    optimizer(tuple(mindspore.ops.zeros_like(p) if getattr(p, "grad", None) is None else p.grad
                    for p in optimizer.parameters))


def ms_clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """torch.nn.utils.clip_grad_norm_ on the gradients in .grad: scaled together so that their
    total norm is at most max_norm; the total norm before clipping is returned."""
    import mindspore

    params = [p for p in ([parameters] if isinstance(parameters, mindspore.Tensor) else parameters)
              if getattr(p, "grad", None) is not None]
    if not params:
        return mindspore.Tensor(0.0)
    norm_type = float(norm_type)
    if norm_type == float("inf"):
        total = mindspore.ops.stack([p.grad.abs().max() for p in params]).max()
    else:
        total = mindspore.ops.stack([(p.grad.abs() ** norm_type).sum() for p in params]).sum() ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(mindspore.ops.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients is non-finite")
    scale = mindspore.ops.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in params:
        p.grad = p.grad * scale
    return total


def ms_clip_grad_value_(parameters, clip_value, foreach=None):
    import mindspore

    for p in ([parameters] if isinstance(parameters, mindspore.Tensor) else parameters):
        if getattr(p, "grad", None) is not None:
            p.grad = mindspore.ops.clamp(p.grad, -clip_value, clip_value)
