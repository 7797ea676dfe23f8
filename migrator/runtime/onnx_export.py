"""torch.onnx.export through mindspore.export(..., file_format="ONNX").

The model is exported in inference mode (set_train(False), as torch exports in eval mode) on
example inputs `args` (a tensor or a tuple of them), to exactly the path or file object `f`
(mindspore.export itself appends ".onnx" to a name). Nested inputs (an RNN's (h, c) state) are
flattened into separate graph inputs, in order, as torch does; MindSpore would otherwise fold
them into the graph as constants. MindSpore chooses the opset and the input/output names.
"""
import os
import shutil
import tempfile

import mindspore


class _FlatInputs(mindspore.nn.Cell):
    """The model with each tensor of a tuple argument as an input of its own."""

    def __init__(self, model, plan):
        super().__init__(auto_prefix=False)
        self.model, self.plan = model, plan

    def construct(self, *flat):
        args = []
        for item in self.plan:
            if isinstance(item, int):
                args.append(flat[item])
            else:
                args.append(tuple(flat[i] for i in item))
        return self.model(*args)


def ms_onnx_export(model, args=(), f=None):
    if not isinstance(args, tuple):
        args = (args,)
    if args and isinstance(args[-1], dict):
        raise NotImplementedError("torch.onnx.export: keyword inputs (a trailing dict in args) are not supported")
    flat, plan = [], []
    for a in args:
        if isinstance(a, (tuple, list)):
            if any(isinstance(v, (tuple, list)) for v in a):
                raise NotImplementedError("torch.onnx.export: inputs nested more than one tuple deep")
            plan.append(tuple(range(len(flat), len(flat) + len(a))))
            flat += list(a)
        else:
            plan.append(len(flat))
            flat.append(a)
    net = model if len(flat) == len(args) else _FlatInputs(model, tuple(plan))
    training = getattr(model, "training", False)
    folder = tempfile.mkdtemp()
    try:
        model.set_train(False)
        mindspore.export(net, *flat, file_name=os.path.join(folder, "model"), file_format="ONNX")
        produced = os.path.join(folder, "model.onnx")
        if hasattr(f, "write"):
            with open(produced, "rb") as fh:
                f.write(fh.read())
        else:
            shutil.move(produced, os.fspath(f))
    finally:
        model.set_train(training)
        shutil.rmtree(folder, ignore_errors=True)
