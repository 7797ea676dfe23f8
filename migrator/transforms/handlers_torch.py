"""Handlers for torch rules (registered with @handler)."""
from __future__ import annotations

import libcst as cst

from ..context import Untranslated
from .handlers import handler


def _split_args(call: cst.Call, allowed: set[str]) -> tuple[list[cst.BaseExpression], dict[str, cst.BaseExpression]]:
    if any(a.star for a in call.args):
        raise Untranslated("*args/**kwargs cannot be mapped statically")
    pos = [a.value for a in call.args if a.keyword is None]
    kws = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    for k in kws:
        if k not in allowed:
            raise Untranslated(f"argument `{k}`" + (": out= has no MindSpore counterpart; assign the result" if k == "out" else ""))
    return pos, kws


def _int_literal(node: cst.BaseExpression) -> bool:
    from .calls import literal
    try:
        v = literal(node)
    except (ValueError, SyntaxError, TypeError):
        return False
    return isinstance(v, int) and not isinstance(v, bool)


@handler("max_min")
def max_min(ctx, rule, call, receiver):
    """torch.max / torch.min, three overloads in one name:
    (input) -> the extreme element (ops.amax/amin); (input, dim[, keepdim]) -> (values, int64
    indices) (ops.max/min); (input, other) -> elementwise (ops.maximum/minimum). A second
    positional argument that is not an int literal may be either: a plain name or attribute is
    checked at run time; a call is taken to be a tensor (len()/int() excepted)."""
    from .calls import atom_code, code, fill
    name = rule.torch.rsplit(".", 1)[1]
    reduce_all, reduce_dim, elementwise = {"max": ("amax", "max", "maximum"),
                                           "min": ("amin", "min", "minimum")}[name]
    pos, kws = _split_args(call, {"input", "dim", "keepdim", "other"})
    if len(pos) > 3:
        raise Untranslated(f"torch.{name} takes at most 3 positional arguments")
    names = ["input", "second", "keepdim"]
    vals = dict(zip(names, pos))
    if "input" in kws:
        vals["input"] = kws["input"]
    if "input" not in vals:
        raise Untranslated(f"torch.{name} needs an input")
    x = code(vals["input"])
    if "other" in kws:
        return fill(ctx, f"mindspore.ops.{elementwise}({{x}}, {{o}})", None, None, {"x": x, "o": code(kws["other"])})
    keepdim = kws.get("keepdim", vals.get("keepdim"))
    kd = f", {code(keepdim)}" if keepdim is not None else ""
    if "dim" in kws:
        return fill(ctx, f"mindspore.ops.{reduce_dim}({{x}}, {{d}}{kd})", None, None, {"x": x, "d": code(kws["dim"])})
    second = vals.get("second")
    if second is None:
        if keepdim is not None:
            raise Untranslated("keepdim without dim")
        return fill(ctx, f"mindspore.ops.{reduce_all}({{x}})", None, None, {"x": x})
    s = code(second)
    if _int_literal(second) or keepdim is not None:
        return fill(ctx, f"mindspore.ops.{reduce_dim}({{x}}, {{d}}{kd})", None, None, {"x": x, "d": s})
    if isinstance(second, cst.Call):
        fname = code(second.func)
        if fname in ("len", "int"):
            return fill(ctx, f"mindspore.ops.{reduce_dim}({{x}}, {{d}})", None, None, {"x": x, "d": s})
        return fill(ctx, f"mindspore.ops.{elementwise}({{x}}, {{o}})", None, None, {"x": x, "o": s})
    a = atom_code(second)
    return fill(ctx, f"(mindspore.ops.{reduce_dim}({{x}}, {{d}}) if isinstance({{a}}, int) "
                     f"else mindspore.ops.{elementwise}({{x}}, {{d}}))", None, None, {"x": x, "d": s, "a": a})
