# torch.optim.SGD / Adam / AdamW called with arguments only the run time knows
# (`AdamW(groups, lr=lr, **extra_args)` with extra_args = dict(fused=True)): torch's keywords,
# the CUDA-kernel choices (foreach, fused, capturable, differentiable) having no MindSpore meaning.
import sys

import mindspore
import mindspore.experimental.optim


def _params(params):
    """torch takes any iterable of parameters (`itertools.chain(G.parameters(), D.parameters())`);
    MindSpore wants a list whose parameter names are unique. Separate top-level models name their
    parameters alike (both have `model.0.weight`): the later ones get a numbered suffix, as
    MindSpore's optimizer requires (their checkpoint names change accordingly)."""
    params = list(params)
    if not params or isinstance(params[0], dict):
        return params
    seen = {}
    for p in params:
        name = getattr(p, "name", None)
        if name is None:
            continue
        if name in seen:
            seen[name] += 1
            p.name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
    return params


class TorchSGD(mindspore.experimental.optim.SGD):
    """mindspore.experimental.optim.SGD taking torch's arguments (lr defaults to 0.001)."""

    def __init__(self, params, lr=0.001, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        super().__init__(_params(params), lr, momentum, dampening, weight_decay, nesterov, maximize=maximize)


class TorchAdam(mindspore.experimental.optim.Adam):
    """mindspore.experimental.optim.Adam taking torch's arguments and computing torch's update.

    MindSpore's Adam runs the fused ops.Adam kernel, which adds eps to sqrt(v) before the bias
    correction (lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)); torch adds it after
    (lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)), so for gradients below about 1e-4
    the steps differ (31x larger eps at step 1). It also ignores amsgrad. Here the update is
    torch's, amsgrad included (the max of v is kept in max_exp_avg_sq, as torch's state)."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if decoupled_weight_decay:
            raise NotImplementedError("Adam(decoupled_weight_decay=True): use mindspore.experimental.optim.AdamW")
        super().__init__(_params(params), lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
        self.torch_amsgrad = bool(amsgrad)

    def implementation(self, *args):
        # compiled, as MindSpore's own Adam (65x faster than op by op for 100 parameters); the
        # compiler reads this class's module by name, which code run by exec or runpy lacks
        if type(self).__module__ in sys.modules:
            return self._torch_update_compiled(*args)
        return self._torch_update(*args)

    def _torch_update(self, beta1, beta2, eps, lr, start_id, end_id, gradients, maximize, weight_decay):
        ops = mindspore.ops
        step = ops.cast(self.state_step, mindspore.float32)
        bias_correction1 = 1 - ops.pow(beta1, step)
        bias_correction2_sqrt = ops.sqrt(1 - ops.pow(beta2, step))
        step_size = lr / bias_correction1
        params = self.parameters[start_id: end_id]
        grads = tuple(grad if not maximize else ops.neg(grad) for grad in gradients[start_id: end_id])
        grads = self._decay_weight(weight_decay, params, grads)
        exp_avgs = self.exp_avg[start_id: end_id]
        exp_avg_sqs = self.exp_avg_sq[start_id: end_id]
        max_exp_avg_sqs = self.max_exp_avg_sq[start_id: end_id]
        for i in range(len(params)):
            grad = ops.cast(grads[i], exp_avgs[i].dtype)
            ops.assign(exp_avgs[i], exp_avgs[i] * beta1 + grad * (1 - beta1))
            ops.assign(exp_avg_sqs[i], exp_avg_sqs[i] * beta2 + grad * grad * (1 - beta2))
            if self.torch_amsgrad:
                ops.assign(max_exp_avg_sqs[i], ops.maximum(max_exp_avg_sqs[i], exp_avg_sqs[i]))
                denom = ops.sqrt(max_exp_avg_sqs[i]) / bias_correction2_sqrt + eps
            else:
                denom = ops.sqrt(exp_avg_sqs[i]) / bias_correction2_sqrt + eps
            ops.assign(params[i], params[i] - ops.cast(step_size * exp_avgs[i] / denom, params[i].dtype))
        return True

    _torch_update_compiled = mindspore.jit(_torch_update)


class TorchAdamW(mindspore.experimental.optim.AdamW):
    """mindspore.experimental.optim.AdamW taking torch's arguments."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(_params(params), lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
