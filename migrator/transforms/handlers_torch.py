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
    from .calls import atom_code, code, fill, render_code
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


def _literal(node):
    from .calls import literal
    try:
        return literal(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _minus(a: str, s) -> str:
    """(a - s), folding a literal shift's sign."""
    if isinstance(s, int) and not isinstance(s, bool):
        return f"({a} + {-s})" if s < 0 else f"({a} - {s})"
    return f"({a} - {s})"


@handler("roll")
def roll(ctx, rule, call, receiver):
    """torch.roll(input, shifts, dims=None) as a gather of rotated indices: ops.roll has no CPU
    kernel in MindSpore 2.10. Tuples of shifts/dims roll one dimension after the other."""
    from .calls import atom_code, code, fill, render_code
    pos, kws = _split_args(call, {"input", "shifts", "dims"})
    vals = dict(zip(["input", "shifts", "dims"], pos))
    vals.update(kws)
    if "input" not in vals or "shifts" not in vals:
        raise Untranslated("torch.roll needs input and shifts")
    x = atom_code(vals["input"])
    shifts, dims = vals["shifts"], vals.get("dims")
    if dims is None or _literal(dims) is None and code(dims) == "None":
        s = atom_code(shifts)
        sl = _literal(shifts)
        if isinstance(sl, (tuple, list)):
            raise Untranslated("several shifts need dims")
        idx = _minus(f"mindspore.ops.arange({x}.size)", sl if isinstance(sl, int) else s)
        text = f"mindspore.ops.gather({x}.flatten(), {idx} % {x}.size, 0).reshape({x}.shape)"
        return render_code(ctx, text)
    sl, dl = _literal(shifts), _literal(dims)
    if isinstance(sl, (tuple, list)) or isinstance(dl, (tuple, list)):
        if not (isinstance(sl, (tuple, list)) and isinstance(dl, (tuple, list)) and len(sl) == len(dl)):
            raise Untranslated("shifts and dims must be literal sequences of the same length")
        pairs = [(s, repr(d)) for s, d in zip(sl, dl)]
    else:
        pairs = [(sl if isinstance(sl, int) else atom_code(shifts), atom_code(dims))]
    out = x
    for s, d in pairs:
        n = f"{x}.shape[{d}]"
        out = f"mindspore.ops.gather({out}, {_minus('mindspore.ops.arange(' + n + ')', s)} % {n}, {d})"
    return render_code(ctx, out)


def _einsum_spec(eq: str, n: int):
    eq = eq.replace(" ", "")
    if "." in eq:
        raise Untranslated("einsum with an ellipsis is not translated")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != n:
        raise Untranslated(f"einsum equation names {len(ins)} operands, {n} given")
    letters = "".join(ins)
    if not arrow:
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for s in ins + [out]:
        if (s and not s.isalpha()) or len(set(s)) != len(s):
            raise Untranslated("einsum with a repeated index within an operand (a diagonal) is not translated")
    if set(out) - set(letters):
        raise Untranslated("einsum output index not in the inputs")
    return ins, out


def _permute(x: str, src: str, dst_order: str) -> str:
    """x (indexed by src) permuted so its letters follow dst_order."""
    order = sorted(range(len(src)), key=lambda i: dst_order.index(src[i]))
    if order == list(range(len(src))):
        return x
    return f"{x}.permute({', '.join(map(str, order))})"


@handler("einsum")
def einsum(ctx, rule, call, receiver):
    """torch.einsum with a literal equation, written with matmul where the contraction is one
    (batch..., i, k) x (batch..., k, j), else as a broadcast product summed over the contracted
    indices: ops.einsum has no CPU kernel in MindSpore 2.10."""
    from .calls import atom_code, fill, render_code
    if any(a.star for a in call.args) or any(a.keyword is not None for a in call.args):
        raise Untranslated("einsum operands must be positional")
    if not call.args:
        raise Untranslated("einsum needs an equation")
    eq = _literal(call.args[0].value)
    if not isinstance(eq, str):
        raise Untranslated("the einsum equation is not a string literal")
    ops_nodes = [a.value for a in call.args[1:]]
    if len(ops_nodes) == 1 and isinstance(ops_nodes[0], (cst.List, cst.Tuple)):
        ops_nodes = [e.value for e in ops_nodes[0].elements]
    if not ops_nodes:
        raise Untranslated("einsum needs operands")
    ins, out = _einsum_spec(eq, len(ops_nodes))
    xs = [atom_code(n) for n in ops_nodes]
    if len(ins) == 2:
        text = _einsum_matmul(xs, ins, out)
        if text is not None:
            return render_code(ctx, text)
    # general form: align every operand to (output letters, contracted letters), multiply, sum
    contracted = "".join(dict.fromkeys(c for s in ins for c in s if c not in out))
    order = out + contracted
    terms = []
    for x, s in zip(xs, ins):
        t = _permute(x, s, order)
        present = sorted(s, key=order.index)
        if len(present) != len(order):
            idx = ", ".join(":" if c in s else "None" for c in order)
            t = f"{t}[{idx}]"
        terms.append(t)
    prod = " * ".join(terms)
    if contracted:
        axes = [str(len(out) + i) for i in range(len(contracted))]
        dim = axes[0] if len(axes) == 1 else "(" + ", ".join(axes) + ")"
        prod = f"mindspore.ops.sum({prod}, dim={dim})"
    elif len(terms) == 1 and terms[0] == xs[0] and len(ins[0]) == len(out):
        prod = xs[0]
    return render_code(ctx, prod)


def _einsum_matmul(xs, ins, out):
    a, b = ins
    batch = [c for c in out if c in a and c in b]
    left = [c for c in out if c in a and c not in b]
    right = [c for c in out if c in b and c not in a]
    contracted = [c for c in a if c in b and c not in out]
    if len(left) != 1 or len(right) != 1 or len(contracted) != 1:
        return None
    if set(a) != set(batch + left + contracted) or set(b) != set(batch + contracted + right):
        return None  # an index summed within one operand only
    bt = "".join(batch)
    ta = _permute(xs[0], a, bt + left[0] + contracted[0])
    tb = _permute(xs[1], b, bt + contracted[0] + right[0])
    res = f"mindspore.ops.matmul({ta}, {tb})"
    got = bt + left[0] + right[0]
    if got != out:
        res = _permute(res, got, out)
    return res
