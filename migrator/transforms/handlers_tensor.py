"""Handlers for tensor-method rules (registered with @handler).

The biggest one is ``inplace``: MindSpore 2.10's ``Tensor.add_``/``mul_``/``sub_`` return a new
tensor and leave the receiver unchanged, and ``zero_``/``fill_``/``clamp_``/``masked_fill_``...
have no CPU kernel. An in-place torch method becomes the out-of-place value (the rule's ``to`` or
``template``, with ``{self}`` the receiver) stored back into the receiver:

    x.add_(y)                 -> x.assign_value(x + y)          (returns x, like torch)
    m.weight.data.zero_()     -> m.weight.assign_value(ops.zeros_like(m.weight))
    w[0].fill_(1)             -> w.__setitem__(0, ops.full_like(w[0], 1))
    x.mul_(s).add_(b)         -> x.assign_value(x * s).assign_value(x + b)

``.data`` is dropped from the receiver because MindSpore's ``p.data`` is a new Tensor object:
``p.data.assign_value(v)`` and ``p.data[...] = v`` leave ``p`` unchanged (found by execution).
"""
from __future__ import annotations

import dataclasses
import re

import libcst as cst

from ..context import Untranslated
from ..names import dotted_name
from ..rules import Rule
from .handlers import handler

# Methods that return a view in torch: an in-place op on their result updates the base tensor,
# which a MindSpore translation cannot reproduce.
_VIEW_METHODS = {"view", "view_as", "reshape", "transpose", "permute", "t", "squeeze", "unsqueeze",
                 "flatten", "narrow", "select", "expand", "expand_as", "diagonal", "unbind", "split",
                 "chunk", "unflatten", "swapaxes", "movedim", "T", "mT", "real", "imag", "detach"}


def _code(node) -> str:
    from .calls import code
    return code(node).strip()


def _atom(node) -> str:
    from .calls import atom_code
    return atom_code(node)


def _literal(node):
    from .calls import literal
    try:
        return literal(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL


_NOT_LITERAL = object()


def _expr(ctx, text: str) -> cst.BaseExpression:
    from .calls import render_code
    return render_code(ctx, text)


def _no_star(call: cst.Call, what: str) -> None:
    if any(a.star for a in call.args):
        raise Untranslated(f"*args/**kwargs in {what} cannot be mapped statically")


def _bind(rule: Rule, call: cst.Call):
    from ..signature import BindError, bind
    try:
        return bind(rule.signature, call.args)
    except BindError as exc:
        raise Untranslated(str(exc)) from None


# ---- in-place methods ----------------------------------------------------------------------
_OUT_OF_PLACE: dict[tuple[str, str], Rule] = {}


def _out_of_place(rule: Rule) -> Rule:
    key = (rule.source, rule.torch)
    plain = _OUT_OF_PLACE.get(key)
    if plain is None or plain.sig != rule.sig:
        plain = _OUT_OF_PLACE[key] = dataclasses.replace(rule, handler=None)
    return plain


def _strip_data(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, cst.Attribute) and node.attr.value == "data" and not node.lpar:
        return node.value
    return node


def _index_code(sub: cst.Subscript) -> str:
    """The index of ``a[...]`` as an expression (``a[0, 1:]`` -> ``(0, slice(1, None, None))``)."""
    parts = []
    for el in sub.slice:
        s = el.slice
        if isinstance(s, cst.Index):
            if s.star is not None:
                raise Untranslated("a starred index cannot be written back")
            parts.append(_code(s.value))
        else:
            bounds = [_code(b) if b is not None else "None" for b in (s.lower, s.upper, s.step)]
            if bounds[2] == "None":
                bounds.pop()  # slice(1, None, None) -> slice(1, None) (never slice(1): that is :1)
                if bounds == ["None", "None"]:
                    bounds = ["None"]
            parts.append(f"slice({', '.join(bounds)})")
    if len(parts) == 1:
        return parts[0]
    return "(" + ", ".join(parts) + ")"


def _value(ctx, rule: Rule, call: cst.Call, receiver: cst.BaseExpression) -> cst.BaseExpression:
    from .calls import apply_rule
    func = call.func.with_changes(value=receiver) if isinstance(call.func, cst.Attribute) else call.func
    out = apply_rule(ctx, _out_of_place(rule), call.with_changes(func=func), receiver)
    if out is None:
        raise Untranslated("no value to assign")
    return out.visit(_Fold())


def _number(node):
    v = _literal(node)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _num_node(v) -> cst.BaseExpression:
    if isinstance(v, float):
        v = round(v, 12)
    node = cst.parse_expression(repr(v))
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]) if v < 0 else node


class _Fold(cst.CSTTransformer):
    """Constant arithmetic that templates leave behind, so the output reads like hand-written
    code: randn_like(w) * 0.02 + 0 -> randn_like(w) * 0.02; rand_like(w) * (0.1 - (-0.1)) + (-0.1)
    -> rand_like(w) * 0.2 - 0.1. Only literal numbers are folded."""

    def leave_BinaryOperation(self, original_node, updated_node):
        op = updated_node.operator
        left, right = _number(updated_node.left), _number(updated_node.right)
        if not isinstance(op, (cst.Add, cst.Subtract, cst.Multiply)):
            return updated_node
        if left is not None and right is not None:
            value = left + right if isinstance(op, cst.Add) else left - right if isinstance(op, cst.Subtract) else left * right
            return _num_node(value)
        if right is not None and ((right == 0 and isinstance(op, (cst.Add, cst.Subtract))) or (right == 1 and isinstance(op, cst.Multiply))):
            return updated_node.left
        if left == 1 and isinstance(op, cst.Multiply):
            return updated_node.right
        if left == -1 and isinstance(op, cst.Multiply):
            return cst.UnaryOperation(operator=cst.Minus(), expression=updated_node.right)
        if isinstance(updated_node.right, cst.UnaryOperation) and isinstance(updated_node.right.operator, cst.Minus) \
                and not updated_node.right.lpar and isinstance(op, (cst.Add, cst.Subtract)):
            flipped = cst.Subtract() if isinstance(op, cst.Add) else cst.Add()
            return updated_node.with_changes(operator=flipped.with_changes(
                whitespace_before=op.whitespace_before, whitespace_after=op.whitespace_after),
                right=updated_node.right.expression)
        if right is not None and right < 0 and isinstance(op, (cst.Add, cst.Subtract)):
            flipped = cst.Subtract() if isinstance(op, cst.Add) else cst.Add()
            return updated_node.with_changes(operator=flipped.with_changes(
                whitespace_before=op.whitespace_before, whitespace_after=op.whitespace_after), right=_num_node(-right))
        return updated_node


def _method_call(obj: cst.BaseExpression, method: str, args: list[cst.BaseExpression]) -> cst.Call:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    cargs = [cst.Arg(value=a, comma=comma if i < len(args) - 1 else cst.MaybeSentinel.DEFAULT)
             for i, a in enumerate(args)]
    return cst.Call(func=cst.Attribute(value=obj, attr=cst.Name(method)), args=cargs)


def _is_inplace_chain(node) -> bool:
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "assign_value")


@handler("inplace")
def inplace(ctx, rule, call, receiver):
    """An in-place torch method: compute the rule's out-of-place value, store it in the receiver."""
    if receiver is None:
        raise Untranslated("an in-place method needs its tensor")
    target = _strip_data(receiver)
    if isinstance(target, (cst.Name, cst.Attribute)):
        value = _value(ctx, rule, call, target)
        return _method_call(target, "assign_value", [value])
    if _is_inplace_chain(target):
        # x.mul_(s).add_(b): the receiver already stored into x and returns it
        base = target.func.value
        while _is_inplace_chain(base):  # x.mul_(a).add_(b).clamp_(...)
            base = base.func.value
        value = _value(ctx, rule, call, base)
        return _method_call(target, "assign_value", [value])
    if isinstance(target, cst.Subscript):
        base = _strip_data(target.value)
        if isinstance(base, (cst.Name, cst.Attribute)):
            item = target.with_changes(value=base)
            value = _value(ctx, rule, call, item)
            index = _expr(ctx, _index_code(target))
            return _method_call(base, "__setitem__", [index, value])
    if isinstance(target, cst.Call) and isinstance(target.func, cst.Attribute) \
            and target.func.attr.value in _VIEW_METHODS:
        ctx.warn(rule.torch, f"in place on the result of .{target.func.attr.value}(): "
                             "the tensor it views is not updated in MindSpore", None)
    # a temporary (torch.empty(3).uniform_()): its value is all that is observable
    return _value(ctx, rule, call, receiver)


@handler("tensor_copy_")
def tensor_copy_(ctx, rule, call, receiver):
    """x.copy_(src): MindSpore's copy_ mutates (casting and broadcasting like torch) but does
    nothing on a sliced tensor, so x[i].copy_(src) becomes x.__setitem__(i, src)."""
    _no_star(call, ".copy_()")
    bound = _bind(rule, call)
    src = bound.values["src"]
    target = _strip_data(receiver) if isinstance(_strip_data(receiver), cst.Subscript) else receiver
    if isinstance(target, cst.Subscript):
        base = _strip_data(target.value)
        if isinstance(base, (cst.Name, cst.Attribute)):
            return _method_call(base, "__setitem__", [_expr(ctx, _index_code(target)), src])
    return _method_call(receiver, "copy_", [src])


# ---- max / min: a dim or another tensor ------------------------------------------------------
_DIM_NAME = re.compile(r"(^|_)(dim|dims|axis|axes|ax|d|i|j|k|n|idx|index)(_|$|\d)|dim$|axis$", re.I)


def _is_int_literal(node) -> bool:
    v = _literal(node)
    return isinstance(v, int) and not isinstance(v, bool)


@handler("tensor_max_min")
def max_min(ctx, rule, call, receiver):
    """x.max() / x.max(dim, keepdim) keep their form (MindSpore returns (values, int64 indices)
    like torch); x.max(other) is the element-wise maximum."""
    _no_star(call, f".{rule.method_name}()")
    op = "maximum" if rule.method_name == "max" else "minimum"
    kws = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    pos = [a.value for a in call.args if a.keyword is None]
    unknown = set(kws) - {"dim", "keepdim", "other"}
    if unknown:
        raise Untranslated(f"argument `{sorted(unknown)[0]}` of .{rule.method_name}()")
    method = call.with_changes(func=cst.Attribute(value=receiver, attr=cst.Name(rule.method_name)))
    other = kws.get("other")
    if other is None and len(pos) == 1 and not kws:
        first = pos[0]
        if _is_int_literal(first) or isinstance(first, (cst.Tuple, cst.List)):
            return method
        name = dotted_name(first)
        if name is not None and _DIM_NAME.search(name.rsplit(".", 1)[1] if "." in name else name):
            return method
        if name is not None:
            # cannot tell a dim from a tensor statically: decide at run time
            return _expr(ctx, f"(mindspore.ops.{op}({_atom(receiver)}, {name}) if isinstance({name}, "
                              f"mindspore.Tensor) else {_atom(receiver)}.{rule.method_name}({name}))")
        return method  # MindSpore raises a TypeError if it is a tensor: never silently wrong
    if other is None and len(pos) == 1 and "other" not in kws and set(kws) <= {"keepdim"}:
        return method
    if other is not None:
        return _expr(ctx, f"mindspore.ops.{op}({_atom(receiver)}, {_code(other)})")
    return method


# ---- std / var: torch is unbiased by default -------------------------------------------------
@handler("std_var")
def std_var(ctx, rule, call, receiver):
    """x.std(dim, unbiased, keepdim, *, correction) -> ops.std(x, axis, ddof=, keepdims=).
    torch's default is the unbiased estimate (ddof=1); MindSpore's Tensor.std/var default to
    ddof=0 and Tensor.var has no CPU kernel."""
    _no_star(call, f".{rule.method_name}()")
    args = list(call.args)
    unbiased = None
    if args and args[0].keyword is None and isinstance(_literal(args[0].value), bool):
        unbiased, args = args[0].value, args[1:]  # the x.std(unbiased) overload
    bound = _bind(rule, call.with_changes(args=args))
    v = bound.values
    if unbiased is None:
        unbiased = v.get("unbiased")
    if "correction" in v:
        if unbiased is not None:
            raise Untranslated("both unbiased and correction given")
        ddof = _code(v["correction"])
    elif unbiased is None:
        ddof = "1"
    else:
        u = _literal(unbiased)
        ddof = {True: "1", False: "0"}.get(u, f"int({_code(unbiased)})") if isinstance(u, bool) else f"int({_code(unbiased)})"
    parts = [_atom(receiver)]
    if "dim" in v and _literal(v["dim"]) is not None:
        parts.append(_code(v["dim"]))
    parts.append(f"ddof={ddof}")
    if "keepdim" in v and _literal(v["keepdim"]) is not False:
        parts.append(f"keepdims={_code(v['keepdim'])}")
    return _expr(ctx, f"mindspore.ops.{rule.method_name}({', '.join(parts)})")


# ---- norm: a vector norm whatever the rank ---------------------------------------------------
@handler("tensor_norm")
def tensor_norm(ctx, rule, call, receiver):
    """x.norm(p, dim, keepdim, dtype) is a vector norm over `dim` (all elements by default) for
    every number p and 'fro'. MindSpore's Tensor.norm(2) of a matrix is the spectral norm, so
    the target is ops.vector_norm."""
    _no_star(call, ".norm()")
    v = _bind(rule, call).values
    parts = [_atom(receiver)]
    p = v.get("p")
    if p is not None:
        lit = _literal(p)
        if lit == "nuc":
            raise Untranslated("the nuclear norm (p='nuc') has no vector-norm form")
        if lit not in ("fro", 2, 2.0):
            if isinstance(lit, str):
                raise Untranslated(f"p={lit!r}")
            parts.append(f"ord={_code(p)}")
    for torch_name, ms_name in (("dim", "axis"), ("keepdim", "keepdims"), ("dtype", "dtype")):
        if torch_name in v and _literal(v[torch_name]) is not None:
            parts.append(f"{ms_name}={_code(v[torch_name])}")
    return _expr(ctx, f"mindspore.ops.vector_norm({', '.join(parts)})")


# ---- small ones ------------------------------------------------------------------------------
@handler("nonzero")
def nonzero(ctx, rule, call, receiver):
    """x.nonzero(as_tuple=True) has no CPU kernel: the (n, ndim) index matrix split by column."""
    _no_star(call, ".nonzero()")
    v = _bind(rule, call).values
    flag = v.get("as_tuple")
    r = _atom(receiver)
    lit = _literal(flag) if flag is not None else False
    if lit is False:
        return _expr(ctx, f"{r}.nonzero()")
    if lit is True:
        return _expr(ctx, f"{r}.nonzero().unbind(1)")
    return _expr(ctx, f"({r}.nonzero().unbind(1) if {_code(flag)} else {r}.nonzero())")


@handler("unique")
def unique(ctx, rule, call, receiver):
    """x.unique() is sorted in torch (also with sorted=False on CPU); MindSpore's ops.unique
    keeps first-occurrence order and Tensor.unique has no CPU kernel: sort, then collapse runs."""
    _no_star(call, ".unique()")
    v = _bind(rule, call).values
    if "dim" in v and _literal(v["dim"]) is not None:
        raise Untranslated("unique along a dim")
    if "return_inverse" in v and _literal(v["return_inverse"]) is not False:
        raise Untranslated("return_inverse=True (indices into the input) is not translated")
    counts = v.get("return_counts")
    flat = f"{_atom(receiver)}.flatten().sort()[0]"
    c = _literal(counts) if counts is not None else False
    if c is False:
        return _expr(ctx, f"mindspore.ops.unique_consecutive({flat})")
    if c is True:
        return _expr(ctx, f"mindspore.ops.unique_consecutive({flat}, return_counts=True)")
    raise Untranslated("return_counts is not a literal")


@handler("requires_grad_")
def requires_grad_(ctx, rule, call, receiver):
    """MindSpore's requires_grad_ sets the flag (on a Parameter it decides what is trained) but
    returns None: kept as a call on a named tensor (a statement: freezing), dropped on a
    temporary (torch.zeros(3).requires_grad_()), whose gradient MindSpore takes by function."""
    _no_star(call, ".requires_grad_()")
    bound = _bind(rule, call)
    target = receiver
    if isinstance(target, (cst.Name, cst.Attribute)) and not (isinstance(target, cst.Attribute)
                                                              and target.attr.value == "data"):
        return call.with_changes(func=cst.Attribute(value=receiver, attr=cst.Name("requires_grad_")))
    # a temporary made an autograd leaf (`(a * x + b).requires_grad_(True)`): a Parameter that
    # backward()/autograd.grad differentiate with respect to (runtime/tensor_autograd.py)
    flag = bound.values.get("requires_grad")
    if flag is not None and _literal(flag) is False:
        return receiver
    from . import runtime
    runtime.require(ctx, "tensor_autograd")
    extra = "" if flag is None or _literal(flag) is True else f", {_code(flag)}"
    return _expr(ctx, f"ms_leaf({_code(receiver)}{extra})")


_TYPE_NAMES = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
               "BFloat16Tensor": "bfloat16", "LongTensor": "int64", "IntTensor": "int32",
               "ShortTensor": "int16", "CharTensor": "int8", "ByteTensor": "uint8", "BoolTensor": "bool_"}


@handler("tensor_type")
def tensor_type(ctx, rule, call, receiver):
    """x.type(dtype) -> x.astype(dtype); x.type('torch.FloatTensor') -> x.astype(mindspore.float32).
    x.type() (the type's name) is left alone."""
    _no_star(call, ".type()")
    v = _bind(rule, call).values
    dtype = v.get("dtype")
    if dtype is None:
        raise Untranslated("x.type() returns torch's type name")
    lit = _literal(dtype)
    if isinstance(lit, str):
        leaf = lit.rsplit(".", 1)[-1]
        if leaf not in _TYPE_NAMES:
            raise Untranslated(f"type {lit!r}")
        text = f"mindspore.{_TYPE_NAMES[leaf]}"
    elif _code(dtype).rsplit(".", 1)[-1] in _TYPE_NAMES:  # x.type(torch.cuda.FloatTensor)
        text = f"mindspore.{_TYPE_NAMES[_code(dtype).rsplit('.', 1)[-1]]}"
    else:
        text = _code(dtype)
    return _expr(ctx, f"{_atom(receiver)}.astype({text})")


# ---- to: a device, a dtype or another tensor -----------------------------------------------
_DTYPE_CODE = re.compile(r"^(mindspore|ms|torch)\.(float|int|uint|bool|complex|bfloat|half|double|long|short|cfloat|cdouble)\w*$")
_DEVICE_NAME = re.compile(r"(device|dev|cuda|gpu|cpu|rank|accelerator)", re.I)
_DTYPE_NAME = re.compile(r"(^|_|\.)dtype$|^dt$", re.I)


def _to_kind(node) -> str:
    """'dtype', 'device' or 'unknown' for a positional argument of Tensor.to."""
    text = _code(node)
    if _DTYPE_CODE.match(text):
        return "dtype"
    lit = _literal(node)
    if lit is not _NOT_LITERAL:
        return "device"  # 'cpu', 'cuda:0', 0, None
    if isinstance(node, cst.Call):
        fn = dotted_name(node.func) or ""
        return "device" if "device" in fn else "unknown"
    name = dotted_name(node)
    if name is None:
        return "unknown"
    if _DTYPE_NAME.search(name):
        return "dtype"
    if _DEVICE_NAME.search(name.rsplit(".", 1)[-1]) or _DEVICE_NAME.search(name):
        return "device"
    return "unknown"


@handler("tensor_to_any")
def tensor_to_any(ctx, rule, call, receiver):
    """x.to(device) -> x; x.to(dtype) / x.to(device, dtype) -> x.astype(dtype);
    x.to(other) -> x.astype(other.dtype). MindSpore places tensors itself, so only the dtype
    survives. A name that may be a device, a dtype or a tensor is decided at run time."""
    _no_star(call, ".to()")
    r = _atom(receiver)
    dtype = None
    for a in call.args:
        kw = a.keyword.value if a.keyword is not None else None
        if kw == "dtype":
            dtype = _code(a.value)
        elif kw == "tensor":
            dtype = f"{_atom(a.value)}.dtype"
        elif kw in ("device", "non_blocking", "copy", "memory_format"):
            continue
        elif kw is not None:
            raise Untranslated(f"argument `{kw}` of .to()")
        else:
            kind = _to_kind(a.value)
            if kind == "dtype":
                dtype = _code(a.value)
            elif kind == "unknown":
                if len(call.args) > 1:
                    continue  # x.to(dev, dtype) / x.to(t, non_blocking=True): the first is a device
                v = _atom(a.value)
                return _expr(ctx, f"({r}.astype({v}.dtype) if isinstance({v}, mindspore.Tensor) else "
                                  f"{r}.astype({v}) if isinstance({v}, mindspore.dtype.Type) else {r})")
    if dtype is None:
        return receiver
    return _expr(ctx, f"{r}.astype({dtype})")


# ---- roll: no CPU kernel -----------------------------------------------------------------------
def _elements(node):
    if isinstance(node, (cst.Tuple, cst.List)):
        return [e.value for e in node.elements]
    return None


@handler("tensor_roll")
def roll(ctx, rule, call, receiver):
    """x.roll(shifts, dims): MindSpore 2.10 has no Roll kernel on CPU; each rolled dimension
    becomes an index_select with the indices (arange(n) - shift) % n."""
    _no_star(call, ".roll()")
    v = _bind(rule, call).values
    r = _atom(receiver)
    shifts, dims = v["shifts"], v.get("dims")
    if dims is None or _literal(dims) is None:
        if _elements(shifts) is not None:
            raise Untranslated("several shifts need their dims")
        s = _atom(shifts)
        return _expr(ctx, f"{r}.flatten().index_select(0, (mindspore.ops.arange({r}.numel()) - {s}) % {r}.numel())"
                          f".reshape({r}.shape)")
    s_list, d_list = _elements(shifts), _elements(dims)
    if (s_list is None) != (d_list is None):
        if d_list is not None and len(d_list) == 1:
            s_list = [shifts]
        elif s_list is not None and len(s_list) == 1:
            d_list = [dims]
        else:
            raise Untranslated("shifts and dims of different lengths")
    if s_list is None:
        s_list, d_list = [shifts], [dims]
    if len(s_list) != len(d_list):
        raise Untranslated("shifts and dims of different lengths")
    out = r
    for s, d in zip(s_list, d_list):
        n = f"{r}.shape[{_code(d)}]"
        out = f"{out}.index_select({_code(d)}, (mindspore.ops.arange({n}) - {_atom(s)}) % {n})"
    return _expr(ctx, out)
