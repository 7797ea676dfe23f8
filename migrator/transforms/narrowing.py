"""`if isinstance(m, nn.Embedding): m.weight ...`: inside such a block the layer's parameters have
their MindSpore names (`m.embedding_table`). Init functions applied with `model.apply(fn)` read
parameters this way in most model code."""
from __future__ import annotations

import libcst as cst

from ..context import FileContext


def narrowing_of(ctx: FileContext, test: cst.BaseExpression) -> dict[str, dict[str, str]] | None:
    """{name: {torch parameter: MindSpore parameter}} for the test `isinstance(name, Layer)` or
    `isinstance(name, (Layer, ...))`, when the layers' rules rename parameters; else None."""
    if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"
            and len(test.args) == 2 and isinstance(test.args[0].value, cst.Name)):
        return None
    classes = test.args[1].value
    items = [e.value for e in classes.elements] if isinstance(classes, cst.Tuple) else [classes]
    maps = []
    for item in items:
        q = ctx.table.resolve(item)
        rule = ctx.rules.get(q) if q else None
        if rule is None or not rule.translated:
            return None
        maps.append({k: v for k, v in rule.params.items() if v and v != k})
    # only what every class renames alike: (nn.LayerNorm, nn.BatchNorm2d): weight -> gamma;
    # (nn.Linear, nn.Embedding): nothing (weight stays weight for the Dense)
    merged = {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps)}
    return {test.args[0].value.value: merged} if merged else None
