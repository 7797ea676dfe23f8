"""Regressions found on real code (pytorch/examples and others), each run or checked as it must be."""
import os
import subprocess
import sys

from equivalence import convert

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN_IN_ONE_FUNCTION = """
import torch
import torch.nn as nn
import torch.optim as optim

class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 2)

    def forward(self, x):
        return self.net(x)

def demo(x, y):
    model = Toy()
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    outputs = model(x)
    loss_fn(outputs, y).backward()
    optimizer.step()
    return model.net.weight.shape
"""


def test_model_and_optimizer_built_in_the_step_stay_outside_the_forward_function():
    """distributed/ddp/example.py: building the model and optimizer next to the step must not move
    them into the forward function (a new model each step; the optimizer used before it exists)."""
    conv = convert(TRAIN_IN_ONE_FUNCTION)
    code = conv.ms_code
    assert not [f for f in conv.findings if f.kind == "untranslated"], conv.findings
    fn = code[code.index("def forward_fn"):code.index("return loss_fn")]
    assert "Toy()" not in fn and "optim.SGD" not in fn
    ns = {}
    exec(compile(code, "<ms>", "exec"), ns)
    import mindspore
    import numpy as np
    shape = ns["demo"](mindspore.Tensor(np.ones((3, 4), np.float32)), mindspore.Tensor(np.zeros((3, 2), np.float32)))
    assert tuple(shape) == (2, 4)


def test_a_users_train_method_is_not_a_module_train():
    code = convert("import torch\ndef main(trainer, model):\n    trainer.train(10)\n    model.train(False)\n").ms_code
    assert "trainer.train(10)" in code and "model.set_train(False)" in code


def test_reading_a_dropped_setting_is_false_and_does_not_remove_other_statements():
    code = convert("import torch\ntorch.backends.cudnn.benchmark = True\nif torch.backends.cudnn.benchmark:\n"
                   "    print('fast')\nx = 2\n").ms_code
    assert "benchmark" not in code and "if False:" in code and "print('fast')" in code and "x = 2" in code
    compile(code, "<ms>", "exec")


def test_module_level_alias_rebinding_is_not_rewritten_into_an_assignment_to_a_dotted_name():
    code = convert("import torch\nimport torch.nn as nn\nF = torch.nn.functional\nmake = nn.Conv2d\n"
                   "def f(x):\n    return F.relu(make(3, 4, 3)(x))\n").ms_code
    compile(code, "<ms>", "exec")
    assert "ops.relu" in code and "nn.Conv2d(3, 4, 3, pad_mode='pad', has_bias=True)" in code


DECORATED = """
import torch
from torch.jit import ignore

class A:
    # above
    @torch.jit.ignore  # on it
    @staticmethod
    # between
    @torch.jit.unused
    def f(x):
        return torch.jit.ignore(x)

@ignore()
def g():
    return torch.jit.is_tracing() or torch.compiler.is_compiling()
"""


def test_dropped_decorators_keep_their_comments_and_later_findings_their_place():
    """timm: 360 `@torch.jit.ignore`; a decorator rule removes the decorator, not its comments,
    and the references it held still count when later findings are located."""
    conv = convert(DECORATED)
    code = conv.ms_code
    assert "@staticmethod" in code and "@torch" not in code and "@ignore" not in code and "torch.jit import" not in code
    for comment in ("# above", "# on it", "# between"):
        assert comment in code
    assert "return False or False" in code
    [finding] = [f for f in conv.findings if f.kind == "untranslated"]
    assert (finding.api, finding.line, finding.col) == ("torch.jit.ignore", 12, 16), finding
    assert convert(code).ms_code == code
