# torch.nn.functional.binary_cross_entropy with a weight that broadcasts to the input (a weight per
# class, say): MindSpore's binary_cross_entropy reads past such a weight and returns garbage, so
# the weight is broadcast to the input's shape first.
import mindspore


def binary_cross_entropy_weighted(input, target, weight=None, reduction='mean'):
    """torch.nn.functional.binary_cross_entropy(input, target, weight, reduction=reduction)."""
    if weight is not None:
        weight = mindspore.ops.broadcast_to(weight, input.shape)
    return mindspore.ops.binary_cross_entropy(input, target, weight, reduction)
