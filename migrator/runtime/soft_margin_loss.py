# torch.nn.functional.soft_margin_loss: MindSpore's SoftMarginLoss has no CPU kernel.
import mindspore


def soft_margin_loss(input, target, reduction='mean'):
    """mean(log(1 + exp(-target * input))), as torch.nn.functional.soft_margin_loss."""
    loss = mindspore.ops.log1p(mindspore.ops.exp(-target * input))
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss
