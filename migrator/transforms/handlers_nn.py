"""Handlers for nn rules (registered with @handler).

Most nn rules are plain data; the handlers here cover what data cannot say: a template whose
optional arguments take the torch defaults (`template_defaults`), arguments whose MindSpore
value depends on another argument (LocalResponseNorm's alpha / size), and in-place
initialisers of parameters (`nn.init.*_`).
"""
from __future__ import annotations

import ast
import re

from ..context import Untranslated
from ..signature import NO_DEFAULT, BindError, bind
from .handlers import handler


def _code(node) -> str:
    from .calls import code
    return code(node).strip()


def _atom(node) -> str:
    from .calls import atom_code
    return atom_code(node).strip()


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL


_NOT_LITERAL = object()
_NUMBER = re.compile(r"^-?\d+(\.\d*)?([eE][-+]?\d+)?$")


def bound_values(rule, call) -> dict[str, str]:
    """Bind a call to the rule's torch signature and return every parameter's source text:
    the argument as written (parenthesised if it is not an atom) or the torch default.
    Checks `unsupported_args`; parameters without a value are left out."""
    from .calls import is_default

    sig = rule.signature
    try:
        bound = bind(sig, call.args)
    except BindError as exc:
        raise Untranslated(str(exc)) from None
    if bound.star or bound.extra_kwargs:
        raise Untranslated("*args/**kwargs cannot be mapped statically")
    for name, reason in rule.unsupported_args.items():
        if name in bound.values and not is_default(bound.values[name], sig.get(name).default):
            raise Untranslated(f"argument `{name}`: {reason}")
    out: dict[str, str] = {}
    for p in sig.params:
        if p.name in bound.values:
            text = _code(bound.values[p.name])
            out[p.name] = text if _NUMBER.match(text) else _atom(bound.values[p.name])
        elif p.default is not NO_DEFAULT:
            out[p.name] = p.default
    return out


def _fill(ctx, template: str, vals: dict[str, str], receiver=None):
    from .calls import fill
    extra = dict(vals)
    if receiver is not None:
        extra["self"] = _atom(receiver)
    return fill(ctx, template, None, receiver, extra)


@handler("template_defaults")
def template_defaults(ctx, rule, call, receiver):
    """`template` with every torch parameter available as {name}: the argument given or the
    torch default; {a|b} is a, or b when a is None (F.max_pool1d's stride defaults to kernel_size)."""
    vals = bound_values(rule, call)
    if receiver is not None:
        vals["self"] = _atom(receiver)

    def sub(m):
        a, b = m.group(1), m.group(2)
        return vals[b] if b and vals.get(a, "None") == "None" else vals[a]

    from .calls import render_code
    return render_code(ctx, re.sub(r"\{(\w+)(?:\|(\w+))?\}", sub, rule.template))


@handler("local_response_norm")
def local_response_norm(ctx, rule, call, receiver):
    """nn.LocalResponseNorm(size, alpha, beta, k) -> nn.LRN(depth_radius, bias, alpha, beta).

    torch: x / (k + alpha / size * sum of x^2 over `size` neighbouring channels) ** beta.
    MindSpore: x / (bias + alpha * sum over [c - r, c + r]) ** beta. The same for odd sizes
    with r = (size - 1) // 2 and alpha / size; an even size has an asymmetric window."""
    v = bound_values(rule, call)
    size = _literal(v["size"])
    if size is _NOT_LITERAL:
        ctx.warn("torch.nn.LocalResponseNorm", "size is not a literal: it must be odd for the translation to hold", call)
        radius, alpha = f"({v['size']} - 1) // 2", f"{v['alpha']} / {v['size']}"
    else:
        if not isinstance(size, int) or size % 2 == 0:
            raise Untranslated("an even size has an asymmetric window; MindSpore's LRN window is symmetric")
        radius = str((size - 1) // 2)
        a = _literal(v["alpha"])
        alpha = repr(a / size) if isinstance(a, (int, float)) and not isinstance(a, bool) else f"{v['alpha']} / {size}"
    name = "mindspore.ops.lrn" if rule.to == "mindspore.ops.lrn" else "mindspore.nn.LRN"
    first = f"{v['input']}, " if "input" in v else ""
    return _fill(ctx, f"{name}({first}depth_radius={radius}, bias={v['k']}, alpha={alpha}, beta={v['beta']})", {})


@handler("circular_pad")
def circular_pad(ctx, rule, call, receiver):
    """nn.CircularPadNd(padding): an int pads every side of the N last dimensions; ops.pad
    needs the (left, right, top, bottom...) tuple spelled out."""
    v = bound_values(rule, call)
    n = 2 * int(rule.torch[-2])
    p = v["padding"]
    lit = _literal(p)
    if isinstance(lit, int):
        p = repr((lit,) * n)
    elif lit is _NOT_LITERAL:
        p = f"(({p},) * {n} if isinstance({p}, int) else tuple({p}))"
    return _fill(ctx, rule.template, {"padding": p})


# ---- interpolation --------------------------------------------------------------------------
_INTERP_FIXED = {  # torch API -> (mode, align_corners) it implies
    "torch.nn.functional.upsample_nearest": ("'nearest'", None),
    "torch.nn.functional.upsample_bilinear": ("'bilinear'", "True"),
    "torch.nn.UpsamplingNearest2d": ("'nearest'", None),
    "torch.nn.UpsamplingBilinear2d": ("'bilinear'", "True"),
}


def _integral_scale(text: str) -> str | None:
    """A literal scale factor whose values are all whole numbers, as floats ('2.0', '(2.0, 3.0)')."""
    v = _literal(text)
    vals = v if isinstance(v, (tuple, list)) else (v,)
    if not vals or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and float(s).is_integer() and s > 0
                            for s in vals):
        return None
    return repr(tuple(float(s) for s in v)) if isinstance(v, (tuple, list)) else repr(float(v))


@handler("interpolate")
def interpolate(ctx, rule, call, receiver):
    """F.interpolate / F.upsample* / nn.Upsample*: torch semantics on MindSpore.

    Without scale_factor, ops.interpolate / nn.Upsample agree with torch for every mode but
    bicubic, which (like a mode only the run time knows) goes through the helper: torch's cubic
    convolution as one matrix per axis. With an integral literal scale_factor in 'nearest' or
    'area' mode, ops.interpolate needs a float scale and recompute_scale_factor=True (then the
    same). Any other scale_factor goes through `interpolate_scaled` / `UpsampleScaled`, a helper
    emitted into the output that computes sizes and source coordinates as torch does."""
    from . import runtime

    v = bound_values(rule, call)
    mode, align = _INTERP_FIXED.get(rule.torch, (v.get("mode", "'nearest'"), v.get("align_corners", "None")))
    if align is None:
        align = "None"
    lit_mode = _literal(mode)
    if lit_mode is _NOT_LITERAL:
        lit_mode = "bicubic"  # decided at run time: the helper computes every mode as torch does
    elif lit_mode not in ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"):
        raise Untranslated(f"mode={lit_mode!r} has no MindSpore counterpart")
    layer = not rule.torch.startswith("torch.nn.functional.")
    size, scale = v.get("size", "None"), v.get("scale_factor", "None")
    recompute = v.get("recompute_scale_factor", "None")
    head = "" if layer else f"{v['input']}, "
    if scale == "None" and lit_mode != "bicubic":
        target = "mindspore.nn.Upsample" if layer else "mindspore.ops.interpolate"
        parts = [f"size={size}", f"mode={mode}"]
        if align != "None":
            parts.append(f"align_corners={align}")
        return _fill(ctx, f"{target}({head}{', '.join(parts)})", {})
    fscale = _integral_scale(scale)
    if lit_mode == "bicubic":
        pass  # MindSpore's bicubic computes other values: torch's, in the helper
    elif fscale is not None and lit_mode in ("nearest", "area") and size == "None":
        target = "mindspore.nn.Upsample" if layer else "mindspore.ops.interpolate"
        return _fill(ctx, f"{target}({head}scale_factor={fscale}, mode={mode}, recompute_scale_factor=True)", {})
    runtime.require(ctx, "interpolate")
    target = "UpsampleScaled" if layer else "interpolate_scaled"
    parts = [f"size={size}"] if size != "None" else []
    parts += ([f"scale_factor={scale}"] if scale != "None" else []) + [f"mode={mode}"]
    if align != "None":
        parts.append(f"align_corners={align}")
    if recompute != "None":
        parts.append(f"recompute_scale_factor={recompute}")
    return _fill(ctx, f"{target}({head}{', '.join(parts)})", {})


# ---- nn.init ----------------------------------------------------------------------------------
_INIT = "mindspore.common.initializer"


def _num_text(v) -> str:
    return repr(round(v, 12)) if isinstance(v, float) else repr(v)


@handler("init")
def init(ctx, rule, call, receiver):
    """nn.init.X_(tensor, ...) -> tensor.set_data(initializer(X(...), tensor.shape, tensor.dtype)).

    The rule's `template` is the MindSpore initializer (`Normal({std}, {mean})`), with the torch
    arguments (or their defaults) in braces. set_data re-initialises the Parameter in place and
    returns it, as torch's initialisers return the tensor. uniform_(a, b) is Uniform(scale),
    symmetric in MindSpore, shifted by (a + b) / 2."""
    v = bound_values(rule, call)
    # `w.data` shares storage with the parameter in torch; MindSpore's Parameter.data is a copy
    # without set_data, so the parameter itself is re-initialised.
    t = v["tensor"][:-5] if v["tensor"].endswith(".data") else v["tensor"]
    if rule.torch.endswith("uniform_") and "kaiming" not in rule.torch and "xavier" not in rule.torch:
        a, b = _literal(v["a"]), _literal(v["b"])
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
            scale, shift = _num_text((b - a) / 2), (a + b) / 2
            value = f"{_INIT}.initializer({_INIT}.Uniform({scale}), {t}.shape, {t}.dtype)"
            if shift:
                value = f"{value}.init_data() + {_num_text(shift)}"
        else:
            value = (f"{_INIT}.initializer({_INIT}.Uniform(({v['b']} - {v['a']}) / 2), {t}.shape, {t}.dtype)"
                     f".init_data() + ({v['a']} + {v['b']}) / 2")
    else:
        spec = _subst(rule.template, v)
        value = f"{_INIT}.initializer({spec}, {t}.shape, {t}.dtype)"
    return _fill(ctx, f"{t}.set_data({value})", {})


def _subst(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


_GAINS = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
          "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
          "relu": 2.0 ** 0.5, "selu": 3.0 / 4}


@handler("calculate_gain")
def calculate_gain(ctx, rule, call, receiver):
    """nn.init.calculate_gain with literal arguments is a number: it is computed here (the same
    table as torch's); MindSpore has no public counterpart."""
    v = bound_values(rule, call)
    name, param = _literal(v["nonlinearity"]), _literal(v["param"])
    if name is _NOT_LITERAL or param is _NOT_LITERAL:
        raise Untranslated("calculate_gain is computed at conversion time: its arguments must be literals")
    if name in _GAINS:
        gain = _GAINS[name]
    elif name == "leaky_relu":
        slope = 0.01 if param is None else param
        if not isinstance(slope, (int, float)) or isinstance(slope, bool):
            raise Untranslated(f"negative_slope {slope!r} is not a number")
        gain = (2.0 / (1 + slope ** 2)) ** 0.5
    else:
        raise Untranslated(f"unsupported nonlinearity {name!r}")
    return _fill(ctx, repr(gain), {})


# ---- layers without a MindSpore Cell, losses --------------------------------------------------
def _given_keywords(ctx, rule, call) -> list[str]:
    """`name=value` for each torch argument the call gives (renamed, `drop` left out), then the
    rule's `emit` entries it does not set; `unsupported_args` are checked."""
    from .calls import is_default

    sig = rule.signature
    try:
        bound = bind(sig, call.args)
    except BindError as exc:
        raise Untranslated(str(exc)) from None
    if bound.star or bound.extra_kwargs:
        raise Untranslated("*args/**kwargs cannot be mapped statically")
    for name, reason in rule.unsupported_args.items():
        if name in bound.values and not is_default(bound.values[name], sig.get(name).default):
            raise Untranslated(f"argument `{name}`: {reason}")
    from . import values

    out, names = [], set()
    for p in sig.params:
        if p.name in bound.values and p.name not in rule.drop:
            if p.name in rule.transform:
                for ms, node in values.apply(rule.transform[p.name], ctx, bound.values[p.name], p.name, bound).items():
                    out.append(f"{ms}={_code(node)}")
                    names.add(ms)
                continue
            ms = rule.rename.get(p.name, p.name)
            out.append(f"{ms}={_code(bound.values[p.name])}")
            names.add(ms)
    out += [f"{k}={text}" for k, text in rule.emit.items() if k not in names]
    return out


@handler("function_cell")
def function_cell(ctx, rule, call, receiver):
    """A torch layer MindSpore has no Cell for (or whose Cell differs) -> FunctionCell(fn, k=v...),
    fn being the rule's `template` (a MindSpore function or a runtime helper). The arguments the
    call gives are passed by keyword (renamed by `rename`, `emit` added)."""
    from . import runtime

    runtime.require(ctx, "function_cell")
    args = _given_keywords(ctx, rule, call)
    return _fill(ctx, f"FunctionCell({', '.join([rule.template, *args])})", {})


@handler("bce")
def bce(ctx, rule, call, receiver):
    """BCELoss / F.binary_cross_entropy: without a weight, MindSpore's own; with one, the
    binary_cross_entropy_weighted helper (MindSpore's reads past a weight that only broadcasts)."""
    from . import runtime

    v = bound_values(rule, call)
    layer = not rule.torch.startswith("torch.nn.functional.")
    weighted = v.get("weight", "None") != "None"
    red = f"reduction={v['reduction']}"
    if not weighted:
        if layer:
            return _fill(ctx, f"mindspore.nn.BCELoss({red})" if "reduction" in _given(rule, call) else "mindspore.nn.BCELoss()", {})
        return _fill(ctx, f"mindspore.ops.binary_cross_entropy({v['input']}, {v['target']}, {red})", {})
    runtime.require(ctx, "bce_weighted")
    if layer:
        runtime.require(ctx, "function_cell")
        return _fill(ctx, f"FunctionCell(binary_cross_entropy_weighted, weight={v['weight']}, {red})", {})
    return _fill(ctx, f"binary_cross_entropy_weighted({v['input']}, {v['target']}, {v['weight']}, {red})", {})


def _given(rule, call) -> set[str]:
    try:
        return set(bind(rule.signature, call.args).values)
    except BindError:
        return set()


@handler("kl_div")
def kl_div(ctx, rule, call, receiver):
    """F.kl_div(input, target, reduction, log_target): MindSpore has no log_target; a target
    given as log-probabilities is exponentiated."""
    v = bound_values(rule, call)
    log_target = _literal(v["log_target"])
    if log_target is _NOT_LITERAL:
        raise Untranslated("log_target is not a literal")
    target = f"mindspore.ops.exp({v['target']})" if log_target else v["target"]
    return _fill(ctx, f"mindspore.ops.kl_div({v['input']}, {target}, reduction={v['reduction']})", {})


_SIMPLE = re.compile(r"^[A-Za-z_][\w.]*$")


def _once(expr: str, template: str) -> str:
    """`template` with {t} replaced by expr, which it uses more than once: a plain name or
    attribute chain is repeated; anything else is bound once with a lambda."""
    if _SIMPLE.match(expr):
        return template.replace("{t}", expr)
    return f"(lambda t: {template.replace('{t}', 't')})({expr})"


@handler("normalize")
def normalize(ctx, rule, call, receiver):
    """F.normalize(input, p, dim, eps) = input / max(||input||_p along dim, eps)."""
    v = bound_values(rule, call)
    return _fill(ctx, _once(v["input"], f"{{t}} / mindspore.ops.clamp(mindspore.ops.norm({{t}}, {v['p']}, "
                                         f"dim={v['dim']}, keepdim=True), min={v['eps']})"), {})


@handler("one_hot")
def one_hot(ctx, rule, call, receiver):
    """F.one_hot(tensor, num_classes=-1): -1 means max + 1."""
    v = bound_values(rule, call)
    n = v["num_classes"]
    if _literal(n) == -1:
        return _fill(ctx, _once(v["tensor"], "mindspore.ops.one_hot({t}, int({t}.max()) + 1)"), {})
    return _fill(ctx, f"mindspore.ops.one_hot({v['tensor']}, {n})", {})


@handler("instance_norm")
def instance_norm(ctx, rule, call, receiver):
    """F.instance_norm without running statistics: group_norm with one group per channel."""
    v = bound_values(rule, call)
    return _fill(ctx, _once(v["input"], f"mindspore.ops.group_norm({{t}}, {{t}}.shape[1], {v['weight']}, "
                                         f"{v['bias']}, {v['eps']})"), {})


@handler("layer_norm_layer")
def layer_norm_layer(ctx, rule, call, receiver):
    """nn.LayerNorm: the rule's mapping to mindspore.nn.LayerNorm, except elementwise_affine=False
    (no parameters in torch; MindSpore's always has trainable gamma/beta), which becomes
    FunctionCell(layer_norm, normalized_shape=..., eps=...) with the layer_norm helper."""
    import dataclasses

    from . import calls, runtime

    v = bound_values(rule, call)
    affine = _literal(v["elementwise_affine"])
    if affine is True:
        return calls.apply_rule(ctx, dataclasses.replace(rule, handler=None), call, receiver)
    if affine is _NOT_LITERAL:
        raise Untranslated("elementwise_affine is not a literal")
    runtime.require(ctx, "function_cell")
    runtime.require(ctx, "layer_norm")
    return _fill(ctx, f"FunctionCell(layer_norm, normalized_shape={v['normalized_shape']}, eps={v['eps']})", {})


def _plain_cells(node) -> bool:
    """A list display (or list comprehension) whose items are all layer calls: CellList takes it."""
    import libcst as cst

    if isinstance(node, cst.List):
        return all(isinstance(el, cst.Element) and isinstance(el.value, cst.Call) for el in node.elements)
    if isinstance(node, cst.ListComp):
        return isinstance(node.elt, cst.Call)
    return False


@handler("module_list")
def module_list(ctx, rule, call, receiver):
    """nn.ModuleList: mindspore.nn.CellList when its argument is a list of layer calls (or none);
    otherwise (a tuple, a generator, a variable, None entries, `x if c else None`) the MsModuleList
    helper, a CellList that takes what torch's ModuleList takes, with torch's indices and names."""
    import dataclasses

    from . import calls, runtime

    args = [a for a in call.args if a.keyword is None or a.keyword.value == "modules"]
    if len(args) != len(call.args) or any(a.star for a in args):
        raise Untranslated("ModuleList(*args/**kwargs)")
    if not args or _plain_cells(args[0].value):
        return calls.apply_rule(ctx, dataclasses.replace(rule, handler=None), call, receiver)
    runtime.require(ctx, "cell_list")
    return _fill(ctx, f"MsModuleList({_code(args[0].value)})", {})
