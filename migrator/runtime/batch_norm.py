# torch.nn.functional.batch_norm: MindSpore's ops.batch_norm needs weight, bias and running
# statistics as tensors (torch accepts None). Running statistics are updated in place in both.
import mindspore


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """torch.nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)."""
    channels = input.shape[1]
    if weight is None:
        weight = mindspore.ops.ones(channels, input.dtype)
    if bias is None:
        bias = mindspore.ops.zeros(channels, input.dtype)
    if running_mean is None:
        running_mean = mindspore.ops.zeros(channels, input.dtype)
    if running_var is None:
        running_var = mindspore.ops.ones(channels, input.dtype)
    return mindspore.ops.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
