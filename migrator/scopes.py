"""Scopes: a local binding shadows an import alias inside its own scope, not elsewhere.

After `import torch.utils.data as data`, `def f(): data = [3, 1]; data.sort()` sorts a list: in
`f`, `data` is not torch. The import table (names.py) is per file; this pass says, for each
function, lambda, class body and comprehension, which of the file's torch aliases a local binding
shadows there (Python's rules: assignment, parameter, for/with/except target, import,
def/class name, del, walrus, match capture make a name local to the function; `global` and
`nonlocal` send it out; class bodies are not seen by the functions in them; a comprehension's
variables are its own). The converter then sets ImportTable.shadowed while it is inside that scope.

Cheap by design: the pass runs only when some alias of the file appears bare (not followed by a
dot) outside an import line, which a text search decides; most files never pay for it. At module
level nothing is shadowed (the import table decides there, as before).
"""
from __future__ import annotations

import re
from functools import lru_cache

import libcst as cst

from .names import TORCH_ROOTS, dotted_name, module_name

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def might_shadow(source: str, table) -> bool:
    """Could a local binding shadow a torch alias? A text search: each bare occurrence of an alias
    (not followed by a dot) outside a torch import is looked at on its line for a binding position
    (assigned, a parameter, a loop/with/except/import target, global, del, def, class...).
    Comments and strings may say yes where nothing binds (the scope pass then finds nothing)."""
    if table.star_modules:
        return True
    names = tuple(sorted((n for n in table.aliases if n.isidentifier()), key=len, reverse=True))
    if not names:
        return False
    bare, binding = _patterns(names)
    seen = set()
    for m in bare.finditer(source):
        start = source.rfind("\n", 0, m.start()) + 1
        if start in seen:
            continue
        seen.add(start)
        end = source.find("\n", m.start())
        line = source[start:end if end >= 0 else len(source)]
        head = line.lstrip()
        if head.startswith(("import ", "from ")) and any(r in head for r in TORCH_ROOTS):
            continue  # the torch import itself
        if binding.search(line):
            return True
    return False


@lru_cache(maxsize=256)
def _patterns(names: tuple) -> tuple[re.Pattern, re.Pattern]:
    alt = "|".join(map(re.escape, names))
    word = rf"(?<![\w.])(?:{alt})\b"
    bare = re.compile(rf"{word}(?!\.)")
    binding = re.compile(
        rf"{word}[ \t]*(?::=|[-+*/%&|^@]?=(?!=)|\*\*=|//=|>>=|<<=)"  # assigned (or a keyword argument)
        rf"|^[ \t]*{word}[ \t]*:"  # annotated
        rf"|\bfor[ \t]+(?:[\w \t,*()\[\]]*?[ \t,(*\[])??{word}[\w \t,*()\[\]]*?[ \t)\]]in\b"  # loop targets
        rf"|\bas[ \t]+\(?{word}(?=[ \t]*(?:[:,)]|$))"  # with, except, import targets
        rf"|\blambda[ \t]+(?:[\w \t,*=]*?[ \t,*])??{word}[ \t]*[:,=]"
        rf"|\b(?:global|nonlocal|del|import)[ \t]+(?:[\w \t,]*?[ \t,])??{word}|\b(?:def|class)[ \t]+{word}"
        rf"|^[ \t]*[\w \t,()\[\]*]*?{word}[ \t]*[,)\]][\w \t,()\[\]*]*=(?!=)"  # a, data = ...
        rf"|\bdef\b.*[(,][ \t]*\**{word}[ \t]*[:=,)]|^[ \t]*\**{word}[ \t]*(?:[:=,]|\)[ \t]*(?:->|:))",  # a parameter
        re.M)
    return bare, binding


class _Scope:
    __slots__ = ("kind", "parent", "bound", "globals", "nonlocals", "torch_bound")

    def __init__(self, kind: str, parent):
        self.kind, self.parent = kind, parent
        self.bound: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.torch_bound: set[str] = set()  # bound by a torch import here: torch's, whatever else binds it


class _Collector(cst.CSTVisitor):
    """The names each scope binds."""

    def __init__(self, table):
        super().__init__()
        self.table = table
        self.module = _Scope("module", None)
        self.stack = [self.module]
        self.scopes: dict[cst.CSTNode, _Scope] = {}

    def _push(self, node, kind) -> None:
        s = _Scope(kind, self.stack[-1])
        self.scopes[node] = s
        self.stack.append(s)

    def _pop(self, node) -> None:
        self.stack.pop()

    def _bind(self, target, scope: _Scope | None = None) -> None:
        scope = scope or self.stack[-1]
        if isinstance(target, cst.Name):
            scope.bound.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self._bind(e.value, scope)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value, scope)

    def _params(self, params: cst.Parameters) -> None:
        for p in (*params.posonly_params, *params.params, *params.kwonly_params):
            self._bind(p.name)
        for p in (params.star_arg, params.star_kwarg):
            if isinstance(p, cst.Param):
                self._bind(p.name)

    # scopes
    def visit_FunctionDef(self, node) -> None:
        self._bind(node.name)
        self._push(node, "function")
        self._params(node.params)

    def visit_Lambda(self, node) -> None:
        self._push(node, "function")
        self._params(node.params)

    def visit_ClassDef(self, node) -> None:
        self._bind(node.name)
        self._push(node, "class")

    def visit_ListComp(self, node) -> None:
        self._push(node, "comprehension")

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp
    leave_FunctionDef = leave_Lambda = leave_ClassDef = _pop
    leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _pop

    # bindings
    def visit_CompFor(self, node) -> None:
        self._bind(node.target)

    def visit_Assign(self, node) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) \
                and self.table.resolve(node.value) is not None:
            return  # `nn = torch.nn` inside a function: still torch
        for t in node.targets:
            self._bind(t.target)

    def visit_AnnAssign(self, node) -> None:
        self._bind(node.target)

    def visit_AugAssign(self, node) -> None:
        self._bind(node.target)

    def visit_For(self, node) -> None:
        self._bind(node.target)

    def visit_WithItem(self, node) -> None:
        if node.asname is not None:
            self._bind(node.asname.name)

    def visit_ExceptHandler(self, node) -> None:
        if node.name is not None:
            self._bind(node.name.name)

    def visit_Del(self, node) -> None:
        self._bind(node.target)

    def visit_Import(self, node) -> None:
        for a in node.names:
            full = module_name(a.name)
            if full.split(".", 1)[0] in TORCH_ROOTS:  # a torch import binds a torch alias (names.py reads it)
                self.stack[-1].torch_bound.add(a.asname.name.value if a.asname is not None else full.split(".", 1)[0])
                continue
            if a.asname is not None:
                self._bind(a.asname.name)
            else:
                self.stack[-1].bound.add(full.split(".", 1)[0])

    def visit_ImportFrom(self, node) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        if not node.relative and module_name(node.module).split(".", 1)[0] in TORCH_ROOTS:
            # `try: from torch import vmap / except ImportError: from functorch import vmap`: torch's
            self.stack[-1].torch_bound.update(a.asname.name.value if a.asname is not None else dotted_name(a.name)
                                              for a in node.names)
            return
        for a in node.names:
            if a.asname is not None:
                self._bind(a.asname.name)
            else:
                self.stack[-1].bound.add(dotted_name(a.name) or "")

    def visit_NamedExpr(self, node) -> None:
        scope = self.stack[-1]
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent  # a walrus in a comprehension binds in the enclosing function
        self._bind(node.target, scope)

    def visit_Global(self, node) -> None:
        self.stack[-1].globals.update(n.name.value for n in node.names)

    def visit_Nonlocal(self, node) -> None:
        self.stack[-1].nonlocals.update(n.name.value for n in node.names)

    def visit_MatchAs(self, node) -> None:
        if node.name is not None:
            self._bind(node.name)

    def visit_MatchStar(self, node) -> None:
        if node.name is not None:
            self._bind(node.name)

    def visit_MatchMapping(self, node) -> None:
        if node.rest is not None:
            self._bind(node.rest)


def shadow_map(module: cst.Module, source: str, ctx) -> dict | None:
    """scope node -> the torch aliases shadowed inside it (frozenset); None when no alias can be
    shadowed anywhere (nothing to do: the common case)."""
    table = ctx.table
    if not might_shadow(source, table):
        return None
    collector = _Collector(table)
    module.visit(collector)
    aliases = set(table.aliases)
    stars = table.star_modules

    def relevant(names: set[str]) -> set[str]:
        out = names & aliases
        if stars:
            out |= {n for n in names - out if any(ctx.rules.get(f"{m}.{n}") is not None for m in stars)}
        return out

    effective: dict[_Scope, frozenset] = {collector.module: frozenset()}

    def eff(s: _Scope) -> frozenset:
        got = effective.get(s)
        if got is not None:
            return got
        outer = s.parent
        while outer.kind == "class":  # class bodies are not seen by what is nested in them
            outer = outer.parent
        inherited = eff(outer)
        local = relevant(s.bound - s.globals - s.nonlocals - s.torch_bound)
        got = effective[s] = frozenset((inherited - s.globals) | local)
        return got

    out = {node: eff(s) for node, s in collector.scopes.items()}
    if not any(out.values()):
        return None
    return out
