"""Bespoke translations for the few APIs whose semantics a data rule cannot express.

A handler is named by a rule (``handler = "tensor_to"``) and has the signature
``(ctx, rule, call, receiver) -> expression`` (``None`` drops the call); it raises
Untranslated with a reason when it cannot translate.
"""
from __future__ import annotations

import re
from typing import Callable

import libcst as cst

from ..context import FileContext, Untranslated
from ..rules import Rule

Handler = Callable[[FileContext, Rule, cst.Call, "cst.BaseExpression | None"], "cst.BaseExpression | None"]
HANDLERS: dict[str, Handler] = {}

_DTYPE = re.compile(r"^(mindspore|ms)\.(float|int|uint|bool|complex|bfloat|half|double|long|short)\w*$")


def handler(name: str):
    def register(fn: Handler) -> Handler:
        if name in HANDLERS:
            raise ValueError(f"handler {name!r} is defined twice ({HANDLERS[name].__module__} and {fn.__module__})")
        HANDLERS[name] = fn
        return fn
    return register


def get(name: str) -> Handler:
    try:
        return HANDLERS[name]
    except KeyError:
        raise KeyError(f"unknown handler {name!r}") from None


def _code(node) -> str:
    from .calls import code
    return code(node).strip()


@handler("tensor_to")
def tensor_to(ctx, rule, call, receiver):
    """x.to(device) -> x; x.to(dtype) / x.to(device, dtype) -> x.astype(dtype). MindSpore places
    tensors itself (set_device), so only a dtype change survives."""
    dtype = None
    for a in call.args:
        if a.star:
            raise Untranslated("*args/**kwargs in .to() cannot be mapped statically")
        kw = a.keyword.value if a.keyword is not None else None
        if kw == "dtype" or (kw is None and _DTYPE.match(_code(a.value))):
            dtype = a.value
        elif kw in (None, "device", "non_blocking", "copy", "memory_format"):
            continue
        else:
            raise Untranslated(f"argument `{kw}` of .to()")
    if dtype is None:
        return receiver
    from .calls import fill
    return fill(ctx, "{self}.astype({dtype})", None, receiver, {"dtype": _code(dtype)})


@handler("randint")
def randint(ctx, rule, call, receiver):
    """torch.randint(high, size) / randint(low, high, size): an overload a signature cannot express."""
    pos = [a for a in call.args if a.keyword is None]
    kws = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    if any(a.star for a in call.args):
        raise Untranslated("*args/**kwargs cannot be mapped statically")
    names = ["low", "high", "size"] if len(pos) == 3 else ["high", "size"]
    vals = dict(zip(names, (a.value for a in pos)))
    for k in ("low", "high", "size", "dtype"):
        if k in kws:
            vals[k] = kws.pop(k)
    for k in ("device", "requires_grad", "layout", "pin_memory"):
        kws.pop(k, None)
    if kws:
        raise Untranslated(f"argument `{sorted(kws)[0]}` of torch.randint")
    if "high" not in vals or "size" not in vals:
        raise Untranslated("torch.randint needs high and size")
    from .calls import code, fill
    extra = {k: code(v) for k, v in vals.items()}
    extra.setdefault("low", "0")
    extra.setdefault("dtype", "mindspore.int64")
    return fill(ctx, "mindspore.ops.randint({low}, {high}, {size}, dtype={dtype})", None, None, extra)


# Handlers grouped by the rules that use them; importing registers them.
from . import handlers_data, handlers_nn, handlers_tensor, handlers_torch  # noqa: E402,F401
