"""``nn.Module`` subclasses become ``nn.Cell`` subclasses with ``construct`` instead of ``forward``.

The base-class rename itself is an ordinary rule (``torch.nn.Module`` -> ``mindspore.nn.Cell``);
this module decides which classes are models (so that ``forward`` is renamed) and follows
classes that derive from them, in the same file or imported from the user's own modules.
"""
from __future__ import annotations

import libcst as cst

from ..names import ImportTable, dotted_name
from ..rules import RuleSet

# Bases that say a class is not a torch module even if it has a `forward` method.
NOT_MODULE_BASES = {"object", "Exception", "ABC", "abc.ABC", "NamedTuple", "typing.NamedTuple", "dict", "list",
                    "tuple", "str", "int", "float", "Enum", "enum.Enum", "Protocol", "typing.Protocol"}


def is_cell_class(node: cst.ClassDef, table: ImportTable, rules: RuleSet, known_cells: set[str]) -> bool:
    bases = [a.value for a in node.bases if a.keyword is None]
    unknown_base = False
    for base in bases:
        q = table.resolve(base)
        if q is not None:
            rule = rules.get(q)
            if q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                return True
            if builds_cell(rule):
                return True  # subclass of a torch layer (class MyConv(nn.Conv2d), class Mixed(nn.ModuleDict))
            continue
        name = dotted_name(base)
        if name in known_cells or name in table.external_cells:  # (a model class of another module)
            return True
        if name is not None and name not in NOT_MODULE_BASES:
            unknown_base = True
    # A user base class we cannot see (imported from the user's package) plus a `forward`
    # method: a model in every code base we measured.
    return unknown_base and _has_forward(node)


def builds_cell(rule) -> bool:
    """The rule turns a torch layer class into a MindSpore Cell class: `mindspore.nn.X`, or a runtime
    helper class deriving from one (`nn.ModuleDict` -> MsModuleDict(mindspore.nn.CellDict))."""
    if rule is None or not rule.to:
        return False
    if rule.to.startswith("mindspore.nn."):
        return True
    from ..helper_module import is_cell_class

    return bool(rule.runtime) and "." not in rule.to and is_cell_class(rule.to)


def _has_forward(node: cst.ClassDef) -> bool:
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    return any(isinstance(s, cst.FunctionDef) and s.name.value == "forward" for s in body)


def forward_mixins(module: cst.Module, table: ImportTable, rules: RuleSet, known_cells: set[str]) -> set[str]:
    """Top-level plain classes with a `forward` that a model class of the file derives from
    (`class DistillableViT(DistillMixin, ViT)`): MindSpore calls `construct`, so their `forward`
    is renamed too, or the model would run its other base's construct instead."""
    defs = [s for s in module.body if isinstance(s, cst.ClassDef)]
    if len(defs) < 2:
        return set()
    known = set(known_cells)
    plain: set[str] = set()
    out: set[str] = set()
    for node in defs:
        if is_cell_class(node, table, rules, known):
            known.add(node.name.value)
            out |= {dotted_name(a.value) for a in node.bases if a.keyword is None} & plain
        elif _has_forward(node):
            plain.add(node.name.value)
    return out
