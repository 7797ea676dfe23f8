"""torch.nn.init._calculate_fan_in_and_fan_out for MindSpore tensors and Parameters (model zoos
call it to scale their own initialisers): fans from the shape, as torch computes them."""


def ms_calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (the product of the
    remaining dims); a tensor with fewer than 2 dimensions raises ValueError, as in torch."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in shape[2:]:
        receptive *= int(s)
    return int(shape[1]) * receptive, int(shape[0]) * receptive
