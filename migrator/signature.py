"""Torch signatures as rules write them, and binding a call's arguments to one.

``parse_signature("input, dim=None, *, keepdim=False")`` gives a ``Signature``; ``bind`` maps
each argument of a libcst ``Call`` to a parameter name, so the rule interpreter can rename,
drop and reorder by name whatever form (positional or keyword) the user wrote.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

NO_DEFAULT = object()


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "pos" (positional or keyword), "kw" (keyword only), "star" (*args), "starstar" (**kwargs)
    default: str | object = NO_DEFAULT  # source text of the default


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]

    @property
    def positional(self) -> list[Param]:
        return [p for p in self.params if p.kind == "pos"]

    def get(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    @property
    def star(self) -> Param | None:
        return next((p for p in self.params if p.kind == "star"), None)

    @property
    def starstar(self) -> Param | None:
        return next((p for p in self.params if p.kind == "starstar"), None)


def parse_signature(text: str) -> Signature:
    fn = ast.parse(f"def f({text}): pass").body[0]
    a = fn.args
    params: list[Param] = []
    pos = a.posonlyargs + a.args
    defaults = [NO_DEFAULT] * (len(pos) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    params += [Param(p.arg, "pos", d) for p, d in zip(pos, defaults)]
    if a.vararg:
        params.append(Param(a.vararg.arg, "star"))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        params.append(Param(p.arg, "kw", NO_DEFAULT if d is None else ast.unparse(d)))
    if a.kwarg:
        params.append(Param(a.kwarg.arg, "starstar"))
    return Signature(tuple(params))


@dataclass
class Bound:
    """A call's arguments by torch parameter name (``star`` holds the *args list)."""

    values: dict[str, cst.BaseExpression]
    positional: set[str]  # names the user passed positionally
    star: list[cst.Arg]  # arguments collected by a *args parameter
    extra_kwargs: list[cst.Arg]  # arguments collected by a **kwargs parameter
    order: list[str]  # names in the order the user wrote them


class BindError(Exception):
    pass


def bind(sig: Signature, args: "list[cst.Arg] | tuple[cst.Arg, ...]") -> Bound:
    values: dict[str, cst.BaseExpression] = {}
    positional: set[str] = set()
    star: list[cst.Arg] = []
    extra: list[cst.Arg] = []
    order: list[str] = []
    pos_params = sig.positional
    i = 0
    for arg in args:
        if arg.star == "**":
            raise BindError("**kwargs in the call cannot be mapped statically")
        if arg.star == "*":
            if sig.star is not None and i >= len(pos_params):
                star.append(arg)
                continue
            raise BindError("*args in the call cannot be mapped statically")
        if arg.keyword is None:
            if i < len(pos_params):
                name = pos_params[i].name
                values[name] = arg.value
                positional.add(name)
                order.append(name)
                i += 1
            elif sig.star is not None:
                star.append(arg)
            else:
                raise BindError(f"too many positional arguments ({i + 1}+)")
        else:
            name = arg.keyword.value
            p = sig.get(name)
            if p is None or p.kind in ("star", "starstar"):
                if sig.starstar is not None:
                    extra.append(arg)
                    continue
                raise BindError(f"unexpected keyword argument {name!r}")
            if name in values:
                raise BindError(f"argument {name!r} given twice")
            values[name] = arg.value
            order.append(name)
    for p in sig.params:
        if p.kind in ("pos", "kw") and p.default is NO_DEFAULT and p.name not in values:
            if p.kind == "pos" and star:
                continue
            raise BindError(f"missing required argument {p.name!r}")
    return Bound(values, positional, star, extra, order)
