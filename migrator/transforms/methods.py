"""Method calls whose receiver type is unknown statically (``x.view(...)``, ``model.train()``).

A method is translated only when its receiver is plausibly what the rule is for: receivers
that are clearly something else (literals, numpy, strings, lists, dicts, well-known stdlib
modules, names assigned from such values) are left alone, so ``parts.append(p)``,
``arr.repeat(3)`` on a numpy array or ``"a,b".split(",")`` never change.
"""
from __future__ import annotations

import libcst as cst

from ..names import dotted_name
from ..rules import Rule

# Receivers that are never torch tensors or modules.
NON_TENSOR_MODULES = {"np", "numpy", "os", "sys", "math", "random", "json", "re", "time", "pd", "plt",
                      "torchvision", "PIL", "Image", "shutil", "pickle", "argparse", "itertools", "string",
                      "collections", "functools", "copy", "logging", "warnings", "datetime", "glob", "io"}
# Methods of lists, dicts, strings and sets. On a receiver of unknown type these are far more
# often plain Python than torch, so they are translated only on a known tensor or module.
CONTAINER_METHODS = {"copy", "index", "count", "sort", "pop", "append", "extend", "insert", "remove", "update",
                     "items", "keys", "values", "get", "join", "replace", "format", "strip", "lower", "upper",
                     "startswith", "endswith", "find", "clear", "add", "discard", "setdefault", "reverse"}


class Kinds:
    """What names hold, as far as assignments in this file show: 'tensor', 'module',
    'optimizer', 'scheduler', 'loader', 'ndarray' or 'python'."""

    def __init__(self) -> None:
        self.of: dict[str, str] = {}

    def set(self, target: cst.BaseExpression, kind: str | None) -> None:
        name = dotted_name(target)
        if name is None:
            return
        if kind is None:
            self.of.pop(name, None)
        else:
            self.of[name] = kind

    def get(self, node: cst.BaseExpression) -> str | None:
        name = dotted_name(node)
        return self.of.get(name) if name else None


def literal_kind(node: cst.BaseExpression) -> str | None:
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.List, cst.Dict,
                         cst.Set, cst.ListComp, cst.DictComp, cst.SetComp, cst.Integer, cst.Float, cst.Tuple)):
        return "python"
    return None


def receiver_kind(node: cst.BaseExpression, kinds: Kinds, in_cell: bool) -> str | None:
    lit = literal_kind(node)
    if lit:
        return lit
    name = dotted_name(node)
    if name is not None:
        head = name.split(".", 1)[0]
        if head in NON_TENSOR_MODULES and "." not in name:
            return "python"
        if name == "self" and in_cell:
            return "module"
        known = kinds.get(node)
        if known:
            return known
        if name.split(".")[0] in NON_TENSOR_MODULES:
            return "python"
        return None
    if isinstance(node, cst.Call):
        fn = dotted_name(node.func)
        if fn in ("super",):
            return "module" if in_cell else None
        if fn and fn.split(".")[0] in ("np", "numpy", "str", "list", "dict", "set", "tuple", "int", "float", "len", "range", "open", "os", "json"):
            return "python"
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("numpy", "tolist", "item", "keys", "values", "items", "split", "strip", "format", "read", "readlines", "join"):
            return "python"
    return None


def choose(rules: list[Rule], method: str, kind: str | None) -> Rule | None:
    """The rule for this receiver, or None to leave the call alone."""
    if kind in ("python", "ndarray", "loader"):
        return None
    if kind is not None:
        return next((r for r in rules if r.receiver in (kind, "any")), None)
    if method in CONTAINER_METHODS:
        return None
    by_receiver = {r.receiver: r for r in rules}
    for receiver in ("tensor", "any", "module", "optimizer"):
        if receiver in by_receiver:
            return by_receiver[receiver]
    return None
