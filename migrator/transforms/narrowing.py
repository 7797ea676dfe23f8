"""`if isinstance(m, nn.Embedding): m.weight ...`: inside such a block the layer's parameters have
their MindSpore names (`m.embedding_table`). Init functions applied with `model.apply(fn)` read
parameters this way in most model code."""
from __future__ import annotations

import libcst as cst

from ..context import FileContext


def narrowing_of(ctx: FileContext, test: cst.BaseExpression,
                 class_names: dict[str, str] | None = None) -> dict[str, dict[str, str]] | None:
    """{name: {torch parameter: MindSpore parameter}} for the test `isinstance(name, Layer)` or
    `isinstance(name, (Layer, ...))`, or a test on the layer's class name (see class_name_test),
    when the layers' rules rename parameters; else None."""
    by_name = class_name_test(ctx, test, class_names or {})
    if by_name is not None:
        obj, rules, _ = by_name
        # layers with parameters only (a name test for 'Embedding' also passes CosineEmbeddingLoss),
        # and not the ones whose parameters sit in a sub-cell (BatchNorm3d's bn2d.gamma)
        maps = [r.attr_renames for r in rules
                if (r.params or r.attrs) and not any("." in v for v in r.params.values())]
        if not maps:
            return None
        merged = {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps)}
        return {obj: merged} if merged else None
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
        maps.append(rule.attr_renames)
    # only what every class renames alike: (nn.LayerNorm, nn.BatchNorm2d): weight -> gamma;
    # (nn.Linear, nn.Embedding): nothing (weight stays weight for the Dense)
    merged = {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps)}
    return {test.args[0].value.value: merged} if merged else None


# ---- DCGAN's `classname = m.__class__.__name__; if classname.find('BatchNorm') != -1:` -----------
def class_name_source(value: cst.BaseExpression) -> str | None:
    """`m` for `m.__class__.__name__` or `type(m).__name__`."""
    if not (isinstance(value, cst.Attribute) and value.attr.value == "__name__"):
        return None
    inner = value.value
    if isinstance(inner, cst.Attribute) and inner.attr.value == "__class__" and isinstance(inner.value, cst.Name):
        return inner.value.value
    if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Name) and inner.func.value == "type" \
            and len(inner.args) == 1 and isinstance(inner.args[0].value, cst.Name):
        return inner.args[0].value.value
    return None


def class_name_test(ctx: FileContext, test, class_names: dict[str, str]):
    """(object, the translated torch.nn layer rules whose class name passes, the string literal)
    for `name.find('X') != -1` (or >= 0, > -1), `'X' in name`, `name == 'X'`, `name.startswith('X')`,
    where name holds an object's class name (`classname = m.__class__.__name__`) or is that
    expression itself; else None."""
    def subject(node):
        if isinstance(node, cst.Name) and node.value in class_names:
            return class_names[node.value]
        return class_name_source(node)

    def literal(node):
        if isinstance(node, cst.SimpleString):
            try:
                return node.evaluated_value if isinstance(node.evaluated_value, str) else None
            except Exception:  # noqa: BLE001 - an odd literal is simply not a class name
                return None
        return None

    obj = text = lit = None
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        op, right = test.comparisons[0].operator, test.comparisons[0].comparator
        left = test.left
        if isinstance(left, cst.Call) and isinstance(left.func, cst.Attribute) and left.func.attr.value == "find" \
                and len(left.args) == 1 and literal(left.args[0].value) is not None:
            bound = literal_int(right)
            if (isinstance(op, cst.NotEqual) and bound == -1) or (isinstance(op, cst.GreaterThanEqual) and bound == 0) \
                    or (isinstance(op, cst.GreaterThan) and bound == -1):
                obj, lit = subject(left.func.value), left.args[0].value
                text = literal(lit)
                match = lambda cls: text in cls  # noqa: E731
        elif isinstance(op, cst.In) and literal(left) is not None:
            obj, lit = subject(right), left
            text = literal(lit)
            match = lambda cls: text in cls  # noqa: E731
        elif isinstance(op, cst.Equal) and literal(right) is not None:
            obj, lit = subject(left), right
            text = literal(lit)
            match = lambda cls: cls == text  # noqa: E731
    elif isinstance(test, cst.Call) and isinstance(test.func, cst.Attribute) and test.func.attr.value == "startswith" \
            and len(test.args) == 1 and literal(test.args[0].value) is not None:
        obj, lit = subject(test.func.value), test.args[0].value
        text = literal(lit)
        match = lambda cls: cls.startswith(text)  # noqa: E731
    if obj is None or not text:
        return None
    rules = [r for r in ctx.rules.rules if r.torch.startswith("torch.nn.") and r.torch.count(".") == 2
             and r.translated and r.to and match(r.torch.rsplit(".", 1)[1])]
    return (obj, rules, lit) if rules else None


def literal_int(node) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) and isinstance(node.expression, cst.Integer):
        return -int(node.expression.value)
    return None


def class_name_literal_fix(ctx: FileContext, test, class_names: dict[str, str]):
    """(literal node, new text) when the torch layers a class-name test picks out are all one
    MindSpore class whose name fails the test: 'Linear' -> 'Dense' (nn.Linear is nn.Dense)."""
    found = class_name_test(ctx, test, class_names)
    if found is None:
        return None
    _, rules, lit = found
    ms_names = {r.to.rsplit(".", 1)[1] for r in rules}
    text = lit.evaluated_value
    if len(ms_names) != 1 or any(text in n for n in ms_names):
        return None
    quote = lit.value[: len(lit.value) - len(lit.value.lstrip("rRbBuUfF"))] + lit.quote
    return lit, f"{quote}{ms_names.pop()}{lit.quote}"


def local_layers(ctx: FileContext, func: cst.FunctionDef) -> dict[str, dict[str, str]]:
    """{name: {torch parameter: MindSpore parameter}} for the local variables of one function
    that hold a torch layer whose rule renames parameters (`bn = nn.BatchNorm2d(c)`, then
    `bn.weight`): only names every assignment in the function binds to such a layer, alike."""
    found: dict[str, dict | None] = {}

    def bind(target, value) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                bind(el.value, None)
            return
        if not isinstance(target, cst.Name):
            return
        renames = None
        if isinstance(value, cst.Call):
            q = ctx.table.resolve(value.func)
            rule = ctx.rules.get(q) if q else None
            if rule is not None and rule.translated and q.startswith("torch.nn.") and (rule.params or rule.attrs) \
                    and not any("." in v for v in rule.params.values()):
                renames = rule.attr_renames or None
        name = target.value
        if name in found and found[name] != renames:
            found[name] = None
        else:
            found[name] = renames

    def walk(body) -> None:
        """The function's statements (not those of nested functions and classes, which have
        their own locals); bindings are statements, so no expression is walked (speed)."""
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign):
                        for t in small.targets:
                            bind(t.target, small.value)
                    elif isinstance(small, cst.AnnAssign) and small.value is not None:
                        bind(small.target, small.value)
                    elif isinstance(small, cst.AugAssign):
                        bind(small.target, None)
                continue
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            if isinstance(stmt, cst.For):
                bind(stmt.target, None)
            elif isinstance(stmt, cst.With):
                for item in stmt.items:
                    if item.asname is not None:
                        bind(item.asname.name, None)
            for block in (getattr(stmt, "body", None), getattr(stmt, "orelse", None),
                          getattr(stmt, "finalbody", None), *getattr(stmt, "handlers", ())):
                if isinstance(block, (cst.Else, cst.Finally, cst.ExceptHandler, cst.ExceptStarHandler, cst.If)):
                    block = block.body if not isinstance(block, cst.If) else block
                if isinstance(block, cst.If):
                    walk([block])
                elif isinstance(block, cst.IndentedBlock):
                    walk(block.body)

    if isinstance(func.body, cst.IndentedBlock):
        walk(func.body.body)
    params = {p.name.value for p in [*func.params.params, *func.params.kwonly_params, *func.params.posonly_params]}
    return {k: v for k, v in found.items() if v and k not in params}
