"""torch.optim.lr_scheduler.CosineAnnealingWarmRestarts: MindSpore's, with torch's step(epoch).

mindspore.experimental.optim.lr_scheduler.CosineAnnealingWarmRestarts computes the same
schedule, but its step(epoch) fails once epoch reaches T_0 when T_mult > 1 (it calls ops.Log
with a base). torch's documented use passes fractional epochs, step(epoch + i / iters): this
subclass finds the restart cycle of such an epoch as torch does and leaves every other call to
MindSpore.
"""
import math

import mindspore
from mindspore import ops
from mindspore.experimental.optim.lr_scheduler import CosineAnnealingWarmRestarts


class MsCosineAnnealingWarmRestarts(CosineAnnealingWarmRestarts):
    def step(self, epoch=None):
        t_0 = int(self.T_0)
        if epoch is None or self.T_mult == 1 or epoch < t_0:
            return super().step(epoch)
        epoch = float(epoch)
        n = int(math.log(epoch / t_0 * (self.T_mult - 1) + 1, self.T_mult))
        ops.assign(self.T_cur, mindspore.Tensor(epoch - t_0 * (self.T_mult ** n - 1) / (self.T_mult - 1), mindspore.float32))
        ops.assign(self.T_i, mindspore.Tensor(t_0 * self.T_mult ** n, mindspore.float32))
        ops.assign(self.last_epoch, mindspore.Tensor(math.floor(epoch), mindspore.float32))
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            ops.assign(group['lr'], lr)
        return None
