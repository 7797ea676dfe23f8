# torch.nn.functional.triplet_margin_loss: MindSpore's TripletMarginLoss has no CPU kernel.
import mindspore


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction='mean'):
    """max(d(a, p) - d(a, n) + margin, 0) with d(x, y) = ||x - y + eps||_p, as torch computes it."""
    d_ap = mindspore.ops.norm(anchor - positive + eps, p, dim=-1)
    d_an = mindspore.ops.norm(anchor - negative + eps, p, dim=-1)
    if swap:
        d_an = mindspore.ops.minimum(d_an, mindspore.ops.norm(positive - negative + eps, p, dim=-1))
    loss = mindspore.ops.relu(d_ap - d_an + margin)
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss
