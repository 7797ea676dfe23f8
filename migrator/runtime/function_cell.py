# A Cell that applies a function, for torch layers MindSpore has no Cell for (nn.Softplus,
# nn.PairwiseDistance...): FunctionCell(ops.softplus, beta=2) computes ops.softplus(x, beta=2).
import mindspore


class FunctionCell(mindspore.nn.Cell):
    """Applies ``fn(*inputs, **kwargs)``; it has no parameters."""

    def __init__(self, fn, **kwargs):
        super().__init__()
        self.fn = fn
        self.kwargs = kwargs

    def construct(self, *inputs):
        return self.fn(*inputs, **self.kwargs)
