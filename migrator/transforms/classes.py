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
            if rule is not None and rule.to and rule.to.startswith("mindspore.nn."):
                return True  # subclass of a torch layer (class MyConv(nn.Conv2d))
            continue
        name = dotted_name(base)
        if name in known_cells:
            return True
        if name is not None and name not in NOT_MODULE_BASES:
            unknown_base = True
    # A user base class we cannot see (imported from the user's package) plus a `forward`
    # method: a model in every code base we measured.
    return unknown_base and _has_forward(node)


def _has_forward(node: cst.ClassDef) -> bool:
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    return any(isinstance(s, cst.FunctionDef) and s.name.value == "forward" for s in body)
