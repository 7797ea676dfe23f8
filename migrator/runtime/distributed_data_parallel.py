"""torch.nn.parallel.DistributedDataParallel as a MindSpore cell (PyNative mode).

Like torch's, the wrapper keeps the model as `.module` (parameter names gain a `module.`
prefix), copies rank 0's parameters and buffers to every rank when it is built, broadcasts rank
0's buffers (BatchNorm statistics) before each training-mode forward, and averages each
parameter's gradient over the ranks as it is computed: a gradient hook on every trainable
parameter all-reduces it and divides by the world size, so mindspore.grad / value_and_grad
return the averaged gradients and the optimizer step is unchanged. Without an initialized
process group (one process) the wrapper only forwards to the model.
"""
import mindspore
import mindspore.mint.distributed
from mindspore.communication import get_group_size


class MsDistributedDataParallel(mindspore.nn.Cell):
    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=None, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None,
                 skip_all_reduce_unused_params=False, bucket_cap_mb_list=None, batched_grad_copy=False,
                 forward_sync_buffers=None):
        super().__init__()
        if process_group is not None or device_mesh is not None:
            raise NotImplementedError("DistributedDataParallel: only the default process group is supported")
        if mixed_precision is not None:
            raise NotImplementedError("DistributedDataParallel(mixed_precision=...) has no MindSpore counterpart here")
        self.module = module
        self._ddp_world = get_group_size() if mindspore.mint.distributed.is_initialized() else 1
        self._ddp_sync_buffers = (broadcast_buffers is not False) if forward_sync_buffers is None \
            else bool(forward_sync_buffers)
        if self._ddp_world > 1:
            if init_sync:
                for p in module.get_parameters():
                    if p.requires_grad or broadcast_buffers is not False:
                        mindspore.mint.distributed.broadcast(p, src=0)
            world = self._ddp_world

            def average(grad):
                grad = grad.copy()
                mindspore.mint.distributed.all_reduce(grad)
                return grad / world

            for p in module.trainable_params():
                p.register_hook(average)

    def construct(self, *inputs, **kwargs):
        if self._ddp_world > 1 and self._ddp_sync_buffers and self.training:
            for p in self.module.get_parameters():
                if not p.requires_grad:
                    mindspore.mint.distributed.broadcast(p, src=0)
        return self.module(*inputs, **kwargs)

    def no_sync(self):
        raise NotImplementedError("DistributedDataParallel.no_sync(): gradients are averaged as they are computed; "
                                  "accumulate the averaged gradients instead")
