"""torch.optim.lr_scheduler.CyclicLR: mindspore.experimental.optim.lr_scheduler.CyclicLR with
torch's momentum cycling.

MindSpore's CyclicLR cycles the learning rate as torch does but has no cycle_momentum. torch's
default (cycle_momentum=True) also cycles the optimizer's momentum, or beta1 for the Adam family,
inversely to the learning rate between max_momentum and base_momentum (and refuses an optimizer
with neither). This subclass adds that. Momentum values are passed as mindspore.mutable floats,
so the optimizer's compiled step is reused rather than recompiled for each new value.
"""
import math

import mindspore
from mindspore.experimental.optim.lr_scheduler import CyclicLR


def _cyclic_format_param(name, optimizer, param):
    if isinstance(param, (list, tuple)):
        if len(param) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have the same length as optimizer.param_groups. {name} has "
                             f"{len(param)} values, param_groups has {len(optimizer.param_groups)}.")
        return list(param)
    return [param] * len(optimizer.param_groups)


class MsCyclicLR(CyclicLR):
    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode='triangular',
                 gamma=1.0, scale_fn=None, scale_mode='cycle', cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if 'momentum' not in optimizer.defaults and 'betas' not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = 'betas' in optimizer.defaults
            self.base_momentums = _cyclic_format_param('base_momentum', optimizer, base_momentum)
            self.max_momentums = _cyclic_format_param('max_momentum', optimizer, max_momentum)
            if last_epoch == -1:
                for group, group_max, group_base in zip(optimizer.param_groups, self.max_momentums,
                                                        self.base_momentums):
                    self._set_momentum(group, group_max)
                    group['max_momentum'] = group_max
                    group['base_momentum'] = group_base
        step_up = float(step_size_up)
        self._momentum_total_size = step_up + (step_up if step_size_down is None else float(step_size_down))
        self._momentum_step_ratio = step_up / self._momentum_total_size
        super().__init__(optimizer, base_lr, max_lr, step_size_up, step_size_down, mode, gamma, scale_fn,
                         scale_mode, last_epoch)

    def _set_momentum(self, group, value):
        value = mindspore.mutable(float(value))  # a new value each step: no recompiled optimizer graph
        if self.use_beta1:
            group['betas'] = (value, *group['betas'][1:])
        else:
            group['momentum'] = value

    def get_lr(self):
        lrs = super().get_lr()
        if self.cycle_momentum:
            last_epoch = float(self.last_epoch)
            cycle = math.floor(1 + last_epoch / self._momentum_total_size)
            x = 1.0 + last_epoch / self._momentum_total_size - cycle
            if x <= self._momentum_step_ratio:
                scale_factor = x / self._momentum_step_ratio
            else:
                scale_factor = (x - 1) / (self._momentum_step_ratio - 1)
            scale = float(self.scale_fn(cycle if self.scale_mode == 'cycle' else last_epoch))
            for group, base_momentum, max_momentum in zip(self.optimizer.param_groups, self.base_momentums,
                                                          self.max_momentums):
                self._set_momentum(group, max_momentum - (max_momentum - base_momentum) * scale_factor * scale)
        return lrs
