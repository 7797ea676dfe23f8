"""The generic rule interpreter: one torch call in, one MindSpore expression out.

Used for ``torch.*``/``F.*``/layer calls (no receiver) and for tensor/module methods (the
receiver is the object the method is called on). Everything a rule can say is handled here:
binding to the torch signature, dropped and unsupported arguments, renames, value
transforms, emitted defaults, positional-vs-keyword order of the target, templates.
"""
from __future__ import annotations

import ast
import re

import libcst as cst

from ..context import FileContext, Untranslated, parse_expr
from ..rules import Rule
from ..signature import NO_DEFAULT, Bound, BindError, bind
from . import handlers, values

_EMPTY = cst.Module(body=[])
_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.SimpleString,
          cst.Tuple, cst.List, cst.Dict, cst.ConcatenatedString, cst.FormattedString, cst.Imaginary, cst.Set)
_MS_CHAIN = re.compile(r"\bmindspore(?:\.[A-Za-z_]\w*)+")


def code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


def atom_code(node: cst.BaseExpression) -> str:
    """Source of an expression, parenthesized unless it binds tighter than any operator."""
    text = code(node)
    if isinstance(node, _ATOMS) or node.lpar:
        return text
    return f"({text})"


def literal(node: cst.BaseExpression):
    """The Python value of a literal expression, or raise ValueError."""
    return ast.literal_eval(code(node).strip())


def is_default(node: cst.BaseExpression, default) -> bool:
    if default is NO_DEFAULT:
        return False
    try:
        return literal(node) == ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError):
        return code(node).strip() == default


def render_code(ctx: FileContext, text: str) -> cst.BaseExpression:
    """Parse emitted code, spelling each ``mindspore.x.y`` chain the way this file imports it."""
    text = _MS_CHAIN.sub(lambda m: ctx.render_text(m.group(0)), text)
    return parse_expr(text)


def _whole_item(template: str, start: int, end: int) -> bool:
    """Is template[start:end] a whole argument or element (between `(`/`[`/`,` and `)`/`]`/`,`),
    where an expression needs no parentheses?"""
    before, after = template[:start].rstrip(), template[end:].lstrip()
    return bool(before) and before[-1] in "([," and bool(after) and after[0] in ")],"


def fill(ctx: FileContext, template: str, bound: Bound | None, receiver, extra: dict[str, str] | None = None) -> cst.BaseExpression:
    def sub(m: re.Match) -> str:
        key = m.group(1)
        if extra and key in extra:
            return extra[key]
        if key == "*":  # all *args as written
            return ", ".join(code(a.value) if a.star != "*" else "*" + code(a.value) for a in bound.star)
        if key != "self" and (bound is None or key not in bound.values):
            raise Untranslated(f"argument `{key}` is not given")
        node = receiver if key == "self" else bound.values[key]
        if _whole_item(template, m.start(), m.end()):
            return code(node)
        if template.startswith(".", m.end()) and isinstance(node, cst.Integer) and not node.lpar:
            return f"({code(node)})"  # `0.x` is not an attribute of 0
        return atom_code(node)

    return render_code(ctx, re.sub(r"\{([\w*]+)\}", sub, _spell_helpers(ctx, template)))


_PLACEHOLDER_OR_WORD = re.compile(r"\{[\w*]+\}|(?<![\w.'\"])([A-Za-z_]\w*)")


def _spell_helpers(ctx: FileContext, template: str) -> str:
    """A runtime helper named in a template (`Device({type})`) as this file spells it (`Device_`
    where the file already uses the name), as the import of the helper names it."""
    from .runtime import helper_names

    names = helper_names()
    return _PLACEHOLDER_OR_WORD.sub(
        lambda m: ctx.helper_spelling(m.group(1)) if m.group(1) and m.group(1) in names else m.group(0), template)


def choose_template(rule: Rule, bound: Bound | None) -> str | None:
    if rule.template is not None:
        return rule.template
    if rule.templates:
        given = set(bound.values) if bound else set()
        if bound and bound.star:
            given.add("*")
        for need, template in rule.templates:
            names = [n.strip() for n in need.split(",") if n.strip()]
            if all((n[1:] not in given) if n.startswith("!") else (n in given) for n in names):
                return template
    return None


def apply_rule(ctx: FileContext, rule: Rule, call: cst.Call, receiver: cst.BaseExpression | None) -> cst.BaseExpression:
    """Translate ``call`` by ``rule``; raises Untranslated when it cannot."""
    call = _legacy_reduction(rule, call)
    out, call = _split_out(rule, call, receiver)
    call, requires_grad = _requires_grad(rule, call)
    result = _apply_rule(ctx, rule, call, receiver)
    from . import runtime
    if requires_grad is not None and result is not None:
        # a tensor made with requires_grad=True is an autograd leaf (runtime/tensor_autograd.py)
        runtime.require(ctx, "tensor_autograd")
        flag = "" if requires_grad is True else f", {code(requires_grad)}"
        result = parse_expr(f"ms_leaf({code(result)}{flag})")
    if rule.runtime:  # only once translated: an untranslated call needs no helper
        runtime.require(ctx, rule.runtime)
    if out is not None and result is not None:
        runtime.require(ctx, "out_arg")
        result = cst.Call(func=cst.Name(ctx.helper_spelling("ms_out")), args=[cst.Arg(out, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                                                         cst.Arg(result)])
    return result


# torch functions whose `out=` is written into by ms_out (the namespaces of tensor functions)
_OUT_NAMESPACES = ("torch.nn", "torch.optim", "torch.utils", "torch.distributed", "torch.cuda", "torch.backends",
                   "torch.autograd", "torch.jit", "torch.onnx", "torch.hub", "torch.distributions")


def _split_out(rule: Rule, call: cst.Call, receiver) -> tuple[cst.BaseExpression | None, cst.Call]:
    """`torch.add(x, y, out=r)`: the call without `out=`, and the tensor to write into (the
    translation becomes `ms_out(r, ops.add(x, y))`, which writes in place and returns r)."""
    if receiver is not None or not rule.torch.startswith("torch.") or rule.torch.startswith(_OUT_NAMESPACES):
        return None, call
    given = next((a for a in call.args if a.keyword is not None and a.keyword.value == "out"), None)
    if given is None:
        return None, call
    args = [a for a in call.args if a is not given]
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    out = None if isinstance(given.value, cst.Name) and given.value.value == "None" else given.value
    return out, call.with_changes(args=args)  # `out=None` is torch's default: simply dropped


def _requires_grad(rule: Rule, call: cst.Call):
    """(the call without its `requires_grad=` argument, True or the argument's expression) for a
    tensor-creating call (its torch signature has `requires_grad=False`) passing something other
    than False; (call, None) otherwise."""
    sig = rule.signature
    if sig is None or rule.handler or sig.get("requires_grad") is None \
            or sig.get("requires_grad").default != "False":
        return call, None
    try:
        bound = bind(sig, call.args)
    except BindError:
        return call, None
    value = bound.values.get("requires_grad")
    if value is None:
        return call, None
    try:
        flag = literal(value)
    except (ValueError, SyntaxError, TypeError):
        flag = value
    arg = next((a for a in call.args if a.value is value), None)
    if arg is None or (arg.keyword is None and arg is not call.args[-1]):
        return call, None
    rest = [a for a in call.args if a is not arg]
    call = call.with_changes(args=_fix_commas(rest, list(call.args)))
    if flag is False or flag is None:  # torch's default: nothing to do
        return call, None
    return call, (True if flag is True else value)


def _apply_rule(ctx: FileContext, rule: Rule, call: cst.Call, receiver: cst.BaseExpression | None) -> cst.BaseExpression:
    if not (rule.to or rule.template is not None or rule.templates or rule.handler):
        raise Untranslated("translated only as a decorator (which is removed)")
    if rule.as_value and _bound_at_run_time(rule, call):
        return _as_value_call(ctx, rule, call)
    if rule.handler:
        return handlers.get(rule.handler)(ctx, rule, call, receiver)
    sig = rule.signature
    bound: Bound | None = None
    unbound: str | None = None  # why the arguments did not bind, when they are passed through as written
    if sig is not None:
        try:
            bound = bind(sig, call.args)
        except BindError as exc:
            if _passes_args_through(rule):
                bound, unbound = None, str(exc)
            else:
                raise Untranslated(str(exc)) from None
    if bound is not None:
        for name, reason in rule.unsupported_args.items():
            if name in bound.values and not is_default(bound.values[name], sig.get(name).default):
                raise Untranslated(f"argument `{name}`: {reason}")
    template = choose_template(rule, bound)
    if template is not None:
        if template == "":
            return None  # the call is dropped (caller removes the statement)
        if unbound is not None and re.search(r"\{(?!self\}|args\})[\w*]+\}", template):
            raise Untranslated(unbound)  # the template names arguments the call does not bind to
        if "{args}" in template:
            args_text = ", ".join(_arg_text(a) for a in _mapped_args(ctx, rule, call, bound))
            return fill(ctx, template, bound, receiver, {"args": args_text})
        return fill(ctx, template, bound, receiver)
    if rule.templates:
        raise Untranslated("no template fits the arguments given")
    args = _mapped_args(ctx, rule, call, bound)
    return _make_call(ctx, rule.to, call, receiver, args, bound)


_LEGACY = {"True": True, "False": False, "None": None}


def _legacy_reduction(rule: Rule, call: cst.Call) -> cst.Call:
    """The deprecated `size_average=` / `reduce=` of torch's losses, given as literal keywords,
    become the `reduction=` torch derives from them (torch.nn._reduction.legacy_get_string):
    reduce=False is 'none', else size_average=False is 'sum', else 'mean'. Other forms are left to
    the rule (its unsupported_args mark them)."""
    sig = rule.signature
    if sig is None or not (sig.get("size_average") and sig.get("reduce") and sig.get("reduction")):
        return call
    try:
        bound = bind(sig, call.args)
    except BindError:
        return call
    red = bound.values.get("reduction")
    if isinstance(red, cst.SimpleString) and red.evaluated_value == "elementwise_mean":  # torch 0.4's 'mean'
        call = call.with_changes(args=[a.with_changes(value=cst.SimpleString(repr("mean"))) if a.value is red else a
                                       for a in call.args])
        bound = bind(sig, call.args)
    given = {n: bound.values[n] for n in ("size_average", "reduce") if n in bound.values}
    if (not given or any(n in bound.positional for n in given)
            or any(not isinstance(v, cst.Name) or v.value not in _LEGACY for v in given.values())):
        return call
    size_average, reduce = (_LEGACY[given[n].value] if n in given else None for n in ("size_average", "reduce"))
    if size_average is None and reduce is None:
        reduction = None  # both None: reduction= as given
    else:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    drop = {"size_average", "reduce"} | ({"reduction"} if reduction is not None else set())
    if reduction is not None and "reduction" in bound.positional:
        return call
    args = [a for a in call.args if a.keyword is None or a.keyword.value not in drop]
    if reduction is not None:
        args.append(cst.Arg(keyword=cst.Name("reduction"), value=cst.SimpleString(repr(reduction)),
                            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))))
    return call.with_changes(args=[a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in args])


def _as_value_call(ctx: FileContext, rule: Rule, call: cst.Call) -> cst.Call:
    """The call as written, on the rule's as_value helper: a subclass of the MindSpore class that
    takes torch's arguments (and refuses, when called, the values it cannot honour)."""
    from . import runtime

    helper, name = rule.as_value.split(".")
    runtime.require(ctx, helper)
    return call.with_changes(func=cst.Name(name))


def _bound_at_run_time(rule: Rule, call: cst.Call) -> bool:
    """Arguments only the run time knows: `nn.Conv2d(c, c, 3, **kw)`, or a value for an argument
    the static translation cannot take (`dtype=dtype`)."""
    if any(a.star for a in call.args):
        return True
    if rule.signature is None or not rule.unsupported_args:
        return False
    try:
        bound = bind(rule.signature, call.args)
    except BindError:
        return False
    return any(name in bound.values and not _is_literal(bound.values[name]) for name in rule.unsupported_args)


def _is_literal(node: cst.BaseExpression) -> bool:
    try:
        literal(node)
        return True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _arg_text(a: cst.Arg) -> str:
    star = a.star if isinstance(a.star, str) else ""
    kw = f"{a.keyword.value}=" if a.keyword is not None else ""
    return f"{star}{kw}{code(a.value)}"


def _passes_args_through(rule: Rule) -> bool:
    return not (rule.rename or rule.emit or rule.drop or rule.transform or rule.unsupported_args or rule.ms_args is not None)


def _mapped_args(ctx: FileContext, rule: Rule, call: cst.Call, bound: Bound | None) -> list[cst.Arg]:
    if bound is None:
        return list(call.args)
    sig = rule.signature
    orig_by_name: dict[str, cst.Arg] = {}
    pos_iter = iter(p.name for p in sig.positional)
    for a in call.args:
        if a.star:
            continue
        name = a.keyword.value if a.keyword is not None else next(pos_iter, None)
        if name is not None:
            orig_by_name[name] = a
    # (ms keyword, value, original Arg or None, given positionally)
    items: list[tuple[str, cst.BaseExpression, cst.Arg | None, bool]] = []
    set_keys: set[str] = set()
    star_emitted = False
    for p in sig.params:
        if p.kind == "star":
            if bound.star:
                if p.name in rule.transform:
                    out = values.apply(rule.transform[p.name], ctx, bound.star, p.name, bound)
                    for k, v in out.items():
                        if k == "*":  # the transform rewrote the *args themselves (a list of Args)
                            star_emitted = True
                            items.extend(("*", a, a, True) for a in v)
                            continue
                        items.append((k, v, None, True))
                        set_keys.add(k)
                else:
                    star_emitted = True
                    items.extend(("*", a, a, True) for a in bound.star)  # type: ignore[misc]
            continue
        if p.kind == "starstar" or p.name not in bound.values or p.name in rule.drop:
            continue
        if p.name in rule.unsupported_args:  # only its default gets here (`dtype=None`): as if not given
            continue
        value = bound.values[p.name]
        if p.name in rule.transform:
            out = values.apply(rule.transform[p.name], ctx, value, p.name, bound)
            for k, v in out.items():
                if k == "*":  # positional arguments of the target's *args (a list of Args)
                    star_emitted = True
                    items.extend(("*", a, a, True) for a in v)
                    continue
                orig = orig_by_name.get(p.name) if k == rule.rename.get(p.name, p.name) else None
                items.append((k, v, orig, orig is not None and p.name in bound.positional))
                set_keys.add(k)
            continue
        ms = rule.rename.get(p.name, p.name)
        items.append((ms, value, orig_by_name.get(p.name), p.name in bound.positional))
        set_keys.add(ms)
    for k, text in rule.emit.items():
        if k not in set_keys:
            needs = re.findall(r"\{(\w+)\}", text)
            if all(n in bound.values for n in needs):
                items.append((k, fill(ctx, text, bound, None), None, False))
                set_keys.add(k)
    for a in bound.extra_kwargs:
        items.append((a.keyword.value, a.value, a, False))
    # Positional order of the target: ms_args, or the torch order after renames.
    ms_order = rule.ms_args if rule.ms_args is not None else [
        rule.rename.get(p.name, p.name) for p in sig.positional if p.name not in rule.drop]
    args: list[cst.Arg] = []
    slot = 0
    keyword_from_here = False
    for ms, value, orig, was_pos in items:
        if ms == "*":
            args.append(value)  # an original *arg / extra positional Arg
            continue
        positional = (not keyword_from_here and was_pos and not star_emitted
                      and slot < len(ms_order) and ms_order[slot] == ms)
        if positional:
            slot += 1
        else:
            keyword_from_here = True
        args.append(_arg(ms if not positional else None, value, orig))
    return _fix_commas(args, list(call.args))


def _arg(keyword: str | None, value: cst.BaseExpression, orig: cst.Arg | None) -> cst.Arg:
    if orig is not None:
        if keyword is None:
            return orig.with_changes(value=value, keyword=None, equal=cst.MaybeSentinel.DEFAULT)
        if orig.keyword is not None:
            return orig.with_changes(value=value, keyword=cst.Name(keyword))
        return orig.with_changes(value=value, keyword=cst.Name(keyword),
                                 equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    if keyword is None:
        return cst.Arg(value=value)
    return cst.Arg(value=value, keyword=cst.Name(keyword),
                   equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))


def _fix_commas(args: list[cst.Arg], original: list[cst.Arg]) -> list[cst.Arg]:
    """Keep the call's layout: separators as the user wrote them, the trailing comma (and the
    line break before the closing parenthesis) moved to whatever is now last."""
    if not args:
        return args
    sep = next((a.comma for a in original[:-1] if isinstance(a.comma, cst.Comma)), None)
    if sep is None:
        sep = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    last_comma = original[-1].comma if original else cst.MaybeSentinel.DEFAULT
    out = []
    orig_last = original[-1] if original else None
    for i, a in enumerate(args):
        if i == len(args) - 1:
            out.append(a.with_changes(comma=last_comma))
        elif not isinstance(a.comma, cst.Comma) or (orig_last is not None and a.comma is orig_last.comma):
            out.append(a.with_changes(comma=sep))
        else:
            out.append(a)
    return out


def _make_call(ctx: FileContext, target: str, call: cst.Call, receiver, args: list[cst.Arg], bound: Bound | None) -> cst.BaseExpression:
    if target.startswith("mindspore.Tensor.") and target.count(".") == 2:
        method = target.rsplit(".", 1)[1]
        if receiver is None:
            # torch.f(x, ...) -> x.f(...): the first argument becomes the receiver
            if not args or args[0].keyword is not None or args[0].star:
                raise Untranslated("the tensor argument is not positional")
            receiver, args = args[0].value, _fix_commas(list(args[1:]), list(args[1:]))
        func = call.func
        if isinstance(func, cst.Attribute):
            new_func = func.with_changes(value=receiver, attr=cst.Name(method))
        else:
            new_func = cst.Attribute(value=receiver, attr=cst.Name(method))
        return call.with_changes(func=new_func, args=args)
    func = ctx.render(target)
    if receiver is not None:
        first = cst.Arg(value=receiver, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if args else cst.MaybeSentinel.DEFAULT)
        args = [first, *args]
    return call.with_changes(func=func, args=args)
