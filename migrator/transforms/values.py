"""Value transforms named by rules (``transform = {momentum = "one_minus"}``).

Each takes the argument's (already converted) expression and returns the MindSpore keyword
arguments it becomes: usually one, sometimes none (the torch value is MindSpore's default)
or several (``padding='same'`` becomes ``pad_mode='same'``). They raise Untranslated when the
value has no MindSpore counterpart. Literals are folded so the output reads like hand-written
code (``momentum=0.9``, not ``momentum=1 - 0.1``).
"""
from __future__ import annotations

import re
from typing import Callable

import libcst as cst

from ..context import FileContext, Untranslated, parse_expr
from ..signature import Bound

Transform = Callable[..., dict]
TRANSFORMS: dict[str, Transform] = {}


def transform(name: str):
    def register(fn: Transform) -> Transform:
        if name in TRANSFORMS:
            raise ValueError(f"value transform {name!r} is defined twice")
        TRANSFORMS[name] = fn
        return fn
    return register


def apply(name: str, ctx: FileContext, value, arg: str, bound: Bound) -> dict[str, cst.BaseExpression]:
    target, _, option = name.partition(":")
    fn = TRANSFORMS.get(target)
    if fn is None:
        raise KeyError(f"unknown value transform {target!r}")
    return fn(ctx, value, arg, bound, option) if option else fn(ctx, value, arg, bound)


def _lit(node):
    from .calls import literal
    try:
        return literal(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL


_NOT_LITERAL = object()


def _expr(text: str) -> cst.BaseExpression:
    return parse_expr(text)


def _num(v) -> cst.BaseExpression:
    if isinstance(v, float):
        return _expr(repr(round(v, 12)))
    return _expr(repr(v))


def _code(node) -> str:
    from .calls import atom_code
    return atom_code(node)


@transform("rename_to")
def rename_to(ctx, value, arg, bound, new_name):
    """Pass the value under another keyword (for when one torch argument maps to a keyword
    that `rename` cannot express because a transform already owns the argument)."""
    return {new_name: value}


@transform("one_minus")
def one_minus(ctx, value, arg, bound):
    """BatchNorm momentum: MindSpore's is the weight of the running value, torch's of the batch."""
    v = _lit(value)
    if v is None:
        raise Untranslated(f"{arg}=None (a cumulative moving average) has no MindSpore counterpart")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {arg: _num(1 - v)}
    return {arg: _expr(f"1 - {_code(value)}")}


@transform("batch_stats")
def batch_stats(ctx, value, arg, bound):
    """track_running_stats=False: normalise with batch statistics in training and inference."""
    v = _lit(value)
    if v is True:
        return {}
    if v is False:
        return {"use_batch_statistics": _expr("True")}
    return {"use_batch_statistics": _expr(f"None if {_code(value)} else True")}


@transform("conv_padding")
def conv_padding(ctx, value, arg, bound):
    """torch padding: int, tuple per spatial dim, 'same' or 'valid'.
    MindSpore: pad_mode plus padding as int or (before, after) per dim."""
    v = _lit(value)
    if isinstance(v, str):
        if v not in ("same", "valid"):
            raise Untranslated(f"padding={v!r} is not a padding mode")
        return {"pad_mode": _expr(repr(v))}
    if isinstance(v, int):
        return {"padding": value}
    if isinstance(v, (tuple, list)) and all(isinstance(i, int) for i in v):
        if len(set(v)) == 1:
            return {"padding": _num(v[0])}
        return {"padding": _expr(repr(tuple(i for i in v for _ in (0, 1))))}
    if isinstance(value, (cst.Tuple, cst.List)):
        elems = [e.value for e in value.elements]
        return {"padding": _expr("(" + ", ".join(_code(e) for e in elems for _ in (0, 1)) + ")")}
    # A name or expression: assumed to be an int, the common case; say so in the report.
    ctx.warn("padding", "non-literal padding is passed as is: MindSpore expects an int or (before, after) pairs", value)
    return {"padding": value}


# Pooling arguments MindSpore accepts only with pad_mode='pad'. When several are given, the
# first of them in this order emits pad_mode (once: a repeated keyword is a SyntaxError).
_POOL_PAD_ARGS = ("padding", "dilation", "return_indices", "ceil_mode")


def _emits_pad_mode(arg, bound) -> bool:
    for name in _POOL_PAD_ARGS:
        if name in bound.values and not (name == "padding" and _lit(bound.values[name]) == 0):
            return name == arg
    return False


@transform("pool_padding")
def pool_padding(ctx, value, arg, bound):
    """Pooling layers pad only with pad_mode='pad'."""
    v = _lit(value)
    if v == 0:
        return {}
    if not _emits_pad_mode(arg, bound):
        return {"padding": value}
    return {"pad_mode": _expr("'pad'"), "padding": value}


@transform("to_tuple")
def to_tuple(ctx, value, arg, bound):
    """An int or a sequence where MindSpore needs a tuple."""
    v = _lit(value)
    if isinstance(v, int):
        return {arg: _expr(f"({v},)")}
    if isinstance(value, (cst.Tuple, cst.List)):
        return {arg: _expr("(" + ", ".join(_code(e.value) for e in value.elements) + ("," if len(value.elements) == 1 else "") + ")")}
    c = _code(value)
    return {arg: _expr(f"tuple({c}) if isinstance({c}, (list, tuple)) else ({c},)")}


@transform("layer_norm_shape")
def layer_norm_shape(ctx, value, arg, bound):
    """LayerNorm(normalized_shape): MindSpore also needs the first normalised axis."""
    v = _lit(value)
    if isinstance(v, int):
        return {"normalized_shape": _expr(f"({v},)"), "begin_norm_axis": _num(-1), "begin_params_axis": _num(-1)}
    if isinstance(value, (cst.Tuple, cst.List)):
        if len(value.elements) != 1:
            # MindSpore's LayerNorm takes begin_norm_axis in [-1, rank): a multi-axis shape
            # needs the input rank, which is not known statically.
            raise Untranslated("normalized_shape over several axes needs the input rank (set begin_norm_axis by hand)")
        elem = _code(value.elements[0].value)
        return {"normalized_shape": _expr(f"({elem},)"), "begin_norm_axis": _num(-1), "begin_params_axis": _num(-1)}
    # A variable: almost always the feature size (an int).
    return {"normalized_shape": _expr(f"({_code(value)},)"), "begin_norm_axis": _num(-1), "begin_params_axis": _num(-1)}


@transform("map")
def map_values(ctx, value, arg, bound, table):
    """map:none=False,tanh=True -> a literal looked up in the table (keyword keeps its name)."""
    pairs = dict(p.split("=", 1) for p in table.split(","))
    v = _lit(value)
    if isinstance(v, str) and v in pairs:  # a qualified MindSpore name is rendered with the file's imports
        return {arg: _render(ctx, pairs[v]) if pairs[v].startswith("mindspore.") else _expr(pairs[v])}
    raise Untranslated(f"{arg}={v!r} has no MindSpore counterpart" if v is not _NOT_LITERAL else f"{arg} is not a literal")


@transform("shape")
def shape(ctx, value, arg, bound, keyword=None):
    """*size varargs (or one sequence) -> one size argument, as MindSpore's creation ops want
    (`shape:name` passes it as `name`)."""
    arg = keyword or arg
    if not isinstance(value, list):
        return {arg: value}
    if len(value) == 1:
        a = value[0]
        if a.star == "*":
            return {arg: _expr(f"tuple({_code(a.value)})")}
        if isinstance(a.value, cst.Integer):
            return {arg: _expr(f"({_code(a.value)},)")}
        return {arg: a.value}  # an int, a tuple, a list or x.shape: all accepted
    if any(a.star for a in value):
        raise Untranslated("a mix of * and plain sizes cannot be mapped statically")
    return {arg: _expr("(" + ", ".join(_code(a.value) for a in value) + ")")}


@transform("needs_pad_mode")
def needs_pad_mode(ctx, value, arg, bound):
    """Pooling options MindSpore accepts only with pad_mode='pad' (ceil_mode, dilation)."""
    if not _emits_pad_mode(arg, bound):
        return {arg: value}
    return {arg: value, "pad_mode": _expr("'pad'")}


@transform("drop_if_default")
def drop_if_default(ctx, value, arg, bound, default):
    return {} if _lit(value) == _lit(_expr(default)) else {arg: value}


@transform("negate_bool")
def negate_bool(ctx, value, arg, bound, new_name):
    v = _lit(value)
    if isinstance(v, bool):
        return {new_name: _expr(repr(not v))}
    return {new_name: _expr(f"not {_code(value)}")}


def _pairs(v, n: int) -> list:
    return list(v) if isinstance(v, (tuple, list)) else [v] * n


@transform("conv_transpose_padding")
def conv_transpose_padding(ctx, value, arg, bound):
    """Transposed convolution: torch's output_padding adds computed rows/columns at the end;
    MindSpore's only adds zeros. Padding (p, p - output_padding) per dimension is the same."""
    op_node = bound.values.get("output_padding")
    if op_node is None:
        return conv_padding(ctx, value, arg, bound)
    p, op = _lit(value), _lit(op_node)
    if p is _NOT_LITERAL or op is _NOT_LITERAL or isinstance(p, str):
        raise Untranslated("output_padding with non-literal padding: MindSpore's output_padding adds zeros, not computed values")
    n = max(len(p) if isinstance(p, (tuple, list)) else 1, len(op) if isinstance(op, (tuple, list)) else 1, 2)
    ps, ops_ = _pairs(p, n), _pairs(op, n)
    if any(a - b < 0 for a, b in zip(ps, ops_)):
        raise Untranslated("output_padding larger than padding has no MindSpore counterpart")
    return {"padding": _expr(repr(tuple(x for a, b in zip(ps, ops_) for x in (a, a - b))))}


@transform("absorbed_by_padding")
def absorbed_by_padding(ctx, value, arg, bound):
    """output_padding is folded into padding by conv_transpose_padding."""
    if _lit(value) in (0, (0, 0)):
        return {}
    if "padding" not in bound.values:
        raise Untranslated("output_padding without padding has no MindSpore counterpart")
    return {}


@transform("warn_if_true")
def warn_if_true(ctx, value, arg, bound, message):
    """Keep the argument; when it is (or may be) true, the report says `message`."""
    if _lit(value) is not False:
        ctx.warn(arg, message, value)
    return {arg: value}

# ---- torch.* functions (rules/torch_*.toml) -------------------------------------------------
def _render(ctx, text: str) -> cst.BaseExpression:
    from .calls import render_code
    return render_code(ctx, text)


@transform("fill_dtype")
def fill_dtype(ctx, value, arg, bound):
    """torch.full takes its dtype from fill_value (bool, int64, else float32); ops.full infers
    int64 from a float or a tensor and truncates, so the dtype is said when the call does not."""
    if "dtype" in bound.values:
        return {arg: value}
    v = _lit(value)
    if isinstance(v, bool):
        dtype = "mindspore.bool_"
    elif isinstance(v, int):
        dtype = "mindspore.int64"
    elif isinstance(v, float):
        dtype = "mindspore.float32"
    else:
        c = _code(value)
        dtype = (f"mindspore.bool_ if isinstance({c}, bool) else mindspore.int64 if isinstance({c}, int) "
                 f"else mindspore.float32")
    return {arg: value, "dtype": _render(ctx, dtype)}


@transform("unbiased_ddof")
def unbiased_ddof(ctx, value, arg, bound):
    """std/var unbiased=True/False -> ddof=1/0."""
    v = _lit(value)
    if isinstance(v, bool):
        return {"ddof": _num(int(v))}
    return {"ddof": _expr(f"int({_code(value)})")}


@transform("dim_or_unbiased")
def dim_or_unbiased(ctx, value, arg, bound):
    """std/var(x, True): the old overload's second argument is `unbiased`, not a dim."""
    v = _lit(value)
    if isinstance(v, bool):
        return {"ddof": _num(int(v))}
    return {"axis": value}


@transform("norm_p")
def norm_p(ctx, value, arg, bound):
    """torch.norm p -> ops.vector_norm ord: 'fro' is the 2-norm of the elements; 'nuc' is a
    matrix norm (not translated)."""
    v = _lit(value)
    if v == "fro":
        return {}
    if isinstance(v, str):
        raise Untranslated(f"p={v!r}: use mindspore.ops.matrix_norm")
    return {"ord": value}


@transform("scatter_src")
def scatter_src(ctx, value, arg, bound):
    """torch.scatter(..., src) / (..., value=): a number becomes a tensor of the index's shape
    in the input's dtype (ops.scatter takes a tensor src only)."""
    v = _lit(value)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        text = (f"mindspore.ops.full({_code(bound.values['index'])}.shape, {_code(value)}, "
                f"dtype={_code(bound.values['input'])}.dtype)")
        return {"src": _render(ctx, text)}
    return {"src": value}


@transform("unpack_list")
def unpack_list(ctx, value, arg, bound):
    """f(*tensors) called with one literal list/tuple of tensors: pass its elements."""
    if isinstance(value, list) and len(value) == 1 and not value[0].star \
            and isinstance(value[0].value, (cst.List, cst.Tuple)):
        elems = value[0].value.elements
        return {"*": [cst.Arg(value=e.value) for e in elems]}
    return {"*": list(value)}


@transform("as_star")
def as_star(ctx, value, arg, bound):
    """A keyword the target only takes positionally in its *args (torch.rand(size=(2, 3)) ->
    ops.rand((2, 3)))."""
    return {"*": [cst.Arg(value=value)]}

@transform("instance_norm_groups")
def instance_norm_groups(ctx, value, arg, bound):
    """InstanceNorm(num_features) as GroupNorm(num_features, num_features): one group per channel."""
    return {"num_groups": value, "num_channels": value}


@transform("int_if_integral")
def int_if_integral(ctx, value, arg, bound):
    """A float that MindSpore wants as an int (MultiMarginLoss's margin): 1.0 -> 1; a fractional
    literal has no counterpart; anything else is passed as is (MindSpore rejects a float)."""
    v = _lit(value)
    if isinstance(v, float):
        if not v.is_integer():
            raise Untranslated(f"{arg}={v!r}: MindSpore accepts only an integer {arg}")
        return {arg: _num(int(v))}
    return {arg: value}


@transform("conv_fn_padding")
def conv_fn_padding(ctx, value, arg, bound):
    """F.conv1d/2d/3d padding: ops.conv*d pads only with pad_mode='pad' (its default is 'valid'),
    and takes one int per spatial dimension as torch does; 'same'/'valid' are pad modes."""
    v = _lit(value)
    if isinstance(v, str):
        if v not in ("same", "valid"):
            raise Untranslated(f"padding={v!r} is not a padding mode")
        return {"pad_mode": _expr(repr(v))}
    if v == 0:
        return {}
    return {"pad_mode": _expr("'pad'"), "padding": value}


@transform("size_tensor")
def size_tensor(ctx, value, arg, bound):
    """A size MindSpore wants as a Tensor (ops.fold's output_size); an int means (n, n)."""
    from .calls import render_code
    v = _lit(value)
    if isinstance(v, int):
        return {arg: render_code(ctx, f"mindspore.Tensor(({v}, {v}))")}
    c = _code(value)
    if v is _NOT_LITERAL:
        return {arg: render_code(ctx, f"mindspore.Tensor(({c}, {c}) if isinstance({c}, int) else tuple({c}))")}
    return {arg: render_code(ctx, f"mindspore.Tensor({c})")}


@transform("seq_tuple")
def seq_tuple(ctx, value, arg, bound):
    """A sequence MindSpore wants as a tuple (a list literal becomes a tuple literal; a tuple
    literal or `x.shape` stays; any other expression is wrapped in tuple())."""
    if isinstance(value, cst.Tuple):
        return {arg: value}
    if isinstance(value, cst.List):
        return {arg: _expr("(" + ", ".join(_code(e.value) for e in value.elements) + ("," if len(value.elements) == 1 else "") + ")")}
    if isinstance(value, cst.Attribute) and value.attr.value == "shape":
        return {arg: value}
    return {arg: _expr(f"tuple({_code(value)})")}


@transform("param_dtype")
def param_dtype(ctx, value, arg, bound):
    """dtype= of a layer's parameters: MindSpore's layers take it too, defaulting to float32 where
    torch's default is None (meaning float32). A dtype written out passes; an expression known
    only at run time (`dtype=dtype`, None by default in many signatures) gets the None case too."""
    v = _lit(value)
    if v is None:
        return {}
    text = _code(value)
    if re.fullmatch(r"[\w.]*\.(b?float\d*|u?int\d+|bool_?|complex\d+|half|double)", text):
        return {arg: value}
    return {arg: _render(ctx, f"mindspore.float32 if {text} is None else {text}")}


@transform("pretrained_weights")
def pretrained_weights(ctx, value, arg, bound):
    """torchvision's pretrained= / weights= (migrator/runtime/vision_models.py reads torchvision's
    files without torch). False or None: dropped. True, a name ('IMAGENET1K_V2', 'DEFAULT') or a
    value known at run time: passed. A weights enum (`ResNet50_Weights.IMAGENET1K_V2`,
    `models.VGG16_Weights.DEFAULT`) becomes its name, which torchvision accepts too."""
    v = _lit(value)
    if v is None or v is False:
        return {}
    if v is not _NOT_LITERAL:
        return {arg: value}
    # the updated argument: an untranslated torch name is spelled out in full already
    q = ctx.table.resolve(value) or _code(value)
    m = re.fullmatch(r"torchvision\.models\.(?:\w+\.)?(\w+_Weights)\.(\w+)", q or "")
    if m:
        return {arg: _expr(repr(f"{m.group(1)}.{m.group(2)}"))}
    if q.startswith("torchvision."):
        raise Untranslated(f"{arg}=: {q} is not a torchvision weights name ms-migrate reads")
    return {arg: value}
