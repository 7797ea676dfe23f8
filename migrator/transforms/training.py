"""The training step: ``zero_grad / forward / loss.backward() / step`` becomes a forward function,
``mindspore.value_and_grad`` and ``optimizer(grads)``."""
from __future__ import annotations

import libcst as cst

from ..context import FileContext


def rewrite_block(ctx: FileContext, converter, body: list) -> list:
    return body

