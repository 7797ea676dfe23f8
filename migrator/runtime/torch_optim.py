# torch.optim.SGD / Adam / AdamW called with arguments only the run time knows
# (`AdamW(groups, lr=lr, **extra_args)` with extra_args = dict(fused=True)): torch's keywords,
# the CUDA-kernel choices (foreach, fused, capturable, differentiable) having no MindSpore meaning.
import mindspore.experimental.optim


class TorchSGD(mindspore.experimental.optim.SGD):
    """mindspore.experimental.optim.SGD taking torch's arguments (lr defaults to 0.001)."""

    def __init__(self, params, lr=0.001, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov, maximize=maximize)


class TorchAdam(mindspore.experimental.optim.Adam):
    """mindspore.experimental.optim.Adam taking torch's arguments."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if decoupled_weight_decay:
            raise NotImplementedError("Adam(decoupled_weight_decay=True): use mindspore.experimental.optim.AdamW")
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class TorchAdamW(mindspore.experimental.optim.AdamW):
    """mindspore.experimental.optim.AdamW taking torch's arguments."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
