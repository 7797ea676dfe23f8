"""The project-level view: which names each module of a converted folder receives from the others.

A file converted alone only knows its own imports. In a real project, `unet_model.py` gets
`torch` and `nn` through `from .unet_parts import *`, `models/yolo.py` gets `Conv` (an
`nn.Module` subclass) through `from models.common import Conv`, and a package re-exports its
modules' names in `__init__.py`. Before converting a folder, this pre-pass reads the top level of
its Python modules with Python's own parser (cheap, no libcst) and works out, for each file, the
names it binds from other modules of the folder that are torch references (`nn` -> `torch.nn`)
or torch module classes of the user's (`DoubleConv`); the conversion of that file then treats
them as if the file had imported them itself (convert_source's ``external``/``external_cells``).

Only what a module binds at its top level counts (also inside top-level `if`/`try`/`with`
blocks; the last binding of a name wins); `*` exports `__all__` when a module defines it as a
literal list or tuple, else every public name. Files are parsed only when they import from the
folder (they may receive something) or are imported by such a file.
"""
from __future__ import annotations

import ast
import os
import re
import warnings
from dataclasses import dataclass, field

from .names import TORCH_ROOTS
from .transforms.classes import NOT_MODULE_BASES, builds_cell

_MODULE_CLASSES = ("torch.nn.Module", "torch.nn.modules.module.Module")


@dataclass
class Received:
    """What one file gets from the other modules of its folder (inputs to convert_source)."""

    external: dict[str, str] = field(default_factory=dict)  # local (or `m.nn`) -> torch qualified name
    external_cells: set[str] = field(default_factory=set)  # local names (or `m.Conv`) of user torch module classes
    external_stars: list[str] = field(default_factory=list)  # torch modules star-imported through a neighbour
    providers: set[str] = field(default_factory=set)  # files those names come from
    notes: list[tuple[int, int, str, str]] = field(default_factory=list)  # (line, col, api, reason)

    def __bool__(self) -> bool:
        return bool(self.external or self.external_cells or self.external_stars or self.notes)


@dataclass
class _Facts:
    bindings: dict = field(default_factory=dict)  # name -> (pos, kind, payload); the last binding wins
    stars: list = field(default_factory=list)  # (pos, project module, line, col)
    torch_stars: list = field(default_factory=list)
    all: list | None = None
    classes: dict = field(default_factory=dict)  # name -> (bases as dotted names, has forward)
    project_imports: list = field(default_factory=list)  # (line, col, project module or None, star, text)


_IMPORT_LINE = re.compile(rb"^[ \t]*(?:from[ \t]+([.\w]+)[ \t]+import\b|import[ \t]+([\w.]+))", re.M)


class Project:
    """The Python files of one input folder, by module name."""

    def __init__(self, root: str, paths: list[str], rules=None):
        self.root = root
        self.rules = rules
        self.modules: dict[str, str] = {}  # dotted module name -> path
        self.packages: set[str] = set()  # module names that are packages (folders)
        self.data: dict[str, bytes] = {}
        prefix = ""
        if os.path.isfile(os.path.join(root, "__init__.py")):
            prefix = os.path.basename(os.path.normpath(os.path.abspath(root)))
        self.prefix = prefix
        self.module_of: dict[str, str] = {}
        for p in paths:
            rel = os.path.relpath(p, root)
            if not rel.endswith(".py") or rel.startswith(".."):
                continue
            parts = rel[:-3].split(os.sep)
            if not all(x.isidentifier() for x in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
                name = ".".join(([prefix] if prefix else []) + parts)
                self.packages.add(name)
            else:
                name = ".".join(([prefix] if prefix else []) + parts)
            for i in range(1, len(parts)):  # folders, with or without __init__.py (namespace packages)
                self.packages.add(".".join(([prefix] if prefix else []) + parts[:i]))
            self.modules[name] = p
            self.module_of[p] = name
        self.tops = {m.split(".", 1)[0] for m in self.modules} | {p.split(".", 1)[0] for p in self.packages if p}
        self._facts: dict[str, _Facts | str] = {}
        self._lookups: dict[tuple[str, str], tuple | None] = {}
        self._cells: dict[tuple[str, str], bool] = {}
        self._names: dict[str, set[str]] = {}

    # ---- reading modules ------------------------------------------------------------------
    def _read(self, mod: str) -> bytes | None:
        if mod not in self.data:
            try:
                with open(self.modules[mod], "rb") as fh:
                    self.data[mod] = fh.read()
            except OSError:
                self.data[mod] = None
        return self.data[mod]

    def imports_from_project(self, mod: str) -> bool:
        """Does this file (probably) import from the folder? A text scan, before any parsing."""
        data = self._read(mod)
        if not data:
            return False
        for m in _IMPORT_LINE.finditer(data):
            name = (m.group(1) or m.group(2)).decode("ascii", "replace")
            if name.startswith(".") or name.split(".", 1)[0] in self.tops:
                return True
        return False

    def facts(self, mod: str) -> _Facts | str:
        """The module's top-level facts, or why it could not be read."""
        f = self._facts.get(mod)
        if f is None:
            f = self._facts[mod] = self._parse(mod)
        return f

    def _parse(self, mod: str) -> _Facts | str:
        data = self._read(mod)
        if data is None:
            return "it could not be read"
        lines = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = None
            try:
                text, lines = skeleton(data)
                tree = ast.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeDecodeError):
                lines = None
            if tree is None:
                try:
                    tree = ast.parse(data)
                except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
                    return f"it does not parse ({getattr(exc, 'msg', exc)})"
        facts = _Facts()
        self._collect(tree.body, mod, facts, [0])
        if lines is not None:  # line numbers of the skeleton -> of the file
            facts.project_imports = [(lines[ln - 1] if 0 < ln <= len(lines) else ln, *rest)
                                     for ln, *rest in facts.project_imports]
        return facts

    def _resolve_from(self, mod: str, level: int, name: str | None) -> str | None:
        """The project module a `from <level dots><name> import` statement in ``mod`` names."""
        if level:
            package = mod if self._is_init(mod) else mod.rpartition(".")[0]
            parts = package.split(".") if package else []
            if level - 1 > len(parts):
                return None
            base = parts[:len(parts) - (level - 1)]
            full = ".".join(base + ([name] if name else []))
            return full if (full in self.modules or full in self.packages) else None
        if not name:
            return None
        for cand in self._absolute_candidates(mod, name):
            if cand in self.modules or cand in self.packages:
                return cand
        return None

    def _absolute_candidates(self, mod: str, name: str):
        yield name
        if self.prefix and not name.startswith(self.prefix + "."):
            yield f"{self.prefix}.{name}"
        here = mod if self._is_init(mod) else mod.rpartition(".")[0]
        if here:  # a script beside the module it imports (its folder is on sys.path)
            yield f"{here}.{name}"

    def _is_init(self, mod: str) -> bool:
        p = self.modules.get(mod)
        return p is not None and os.path.basename(p) == "__init__.py"

    def _collect(self, body, mod: str, facts: _Facts, pos: list) -> None:
        for stmt in body:
            pos[0] += 1
            p = pos[0]
            b = facts.bindings
            if isinstance(stmt, ast.Import):
                for a in stmt.names:
                    root = a.name.split(".", 1)[0]
                    if root in TORCH_ROOTS:
                        if a.asname:
                            b[a.asname] = (p, "torch", a.name)
                        else:
                            b[root] = (p, "torch", root)
                        continue
                    target = self._resolve_from(mod, 0, a.name)
                    if a.asname:
                        b[a.asname] = (p, "module", target) if target in self.modules else (p, "other", None)
                    else:
                        b[root] = (p, "other", None)
            elif isinstance(stmt, ast.ImportFrom):
                name = stmt.module or ""
                if not stmt.level and name.split(".", 1)[0] in TORCH_ROOTS:
                    for a in stmt.names:
                        if a.name == "*":
                            facts.torch_stars.append(name)
                        else:
                            b[a.asname or a.name] = (p, "torch", f"{name}.{a.name}")
                    continue
                src = self._resolve_from(mod, stmt.level, stmt.module)
                star = any(a.name == "*" for a in stmt.names)
                if stmt.level or src is not None:
                    text = "." * stmt.level + name
                    facts.project_imports.append((stmt.lineno, stmt.col_offset + 1, src, star, text))
                for a in stmt.names:
                    if a.name == "*":
                        if src is not None:
                            facts.stars.append((p, src))
                        continue
                    local = a.asname or a.name
                    if src is None:
                        b[local] = (p, "other", None)
                    elif f"{src}.{a.name}" in self.modules and (src in self.packages):
                        b[local] = (p, "module", f"{src}.{a.name}")
                    else:
                        b[local] = (p, "from", (src, a.name))
            elif isinstance(stmt, ast.ClassDef):
                bases = [d for d in map(_dotted, stmt.bases) if d is not None]
                forward = any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "forward"
                              for s in stmt.body)
                facts.classes[stmt.name] = (bases, forward, len([x for x in stmt.bases]) > len(bases))
                b[stmt.name] = (p, "class", stmt.name)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                b[stmt.name] = (p, "other", None)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = stmt.value
                if len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == "__all__":
                    names = _literal_names(value)
                    if isinstance(stmt, ast.AugAssign):
                        facts.all = (facts.all or []) + (names or [])
                    else:
                        facts.all = names
                    continue
                q = self._torch_value(value, facts) if isinstance(stmt, ast.Assign) else None
                for t in targets:
                    for n in _bound_names(t):
                        b[n] = (p, "torch", q) if q is not None and len(targets) == 1 and isinstance(t, ast.Name) \
                            else (p, "other", None)
            elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)) or \
                    type(stmt).__name__ == "TryStar":
                for block in ("body", "orelse", "finalbody"):
                    self._collect(getattr(stmt, block, []) or [], mod, facts, pos)
                for h in getattr(stmt, "handlers", []) or []:
                    self._collect(h.body, mod, facts, pos)
                if isinstance(stmt, ast.For):
                    for n in _bound_names(stmt.target):
                        b[n] = (p, "other", None)
                if isinstance(stmt, ast.With):
                    for item in stmt.items:
                        if item.optional_vars is not None:
                            for n in _bound_names(item.optional_vars):
                                b[n] = (p, "other", None)

    def _torch_value(self, value, facts: _Facts) -> str | None:
        """`F = torch.nn.functional`: a torch module under another name (an alias like an import)."""
        d = _dotted(value)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        binding = facts.bindings.get(head)
        if binding is None or binding[1] != "torch" or binding[2] is None:
            return None
        q = f"{binding[2]}.{rest}" if rest else binding[2]
        if self.rules is not None and not self.rules.is_namespace(q):
            return None
        return q

    # ---- resolving names across modules ----------------------------------------------------
    def lookup(self, mod: str, name: str, _stack=None) -> tuple | None:
        """What ``name`` is at the top level of ``mod``: ("torch", qualified), ("class", module,
        name), ("module", module) or None (not known to be any of these)."""
        key = (mod, name)
        if key in self._lookups:
            return self._lookups[key]
        stack = _stack if _stack is not None else set()
        if key in stack:
            return None
        stack.add(key)
        try:
            result = self._lookup(mod, name, stack)
        finally:
            stack.discard(key)
        if _stack is None or not stack:
            self._lookups[key] = result
        return result

    def _lookup(self, mod: str, name: str, stack) -> tuple | None:
        facts = self.facts(mod) if mod in self.modules else None
        if not isinstance(facts, _Facts):
            if mod in self.packages and f"{mod}.{name}" in self.modules:
                return ("module", f"{mod}.{name}")
            return None
        own = facts.bindings.get(name)
        for p, src in reversed(facts.stars):
            if own is not None and own[0] > p:
                break
            if self.exports(src, name):
                r = self.lookup(src, name, stack)
                if r is not None:
                    return r
        if own is None:
            if mod in self.packages and f"{mod}.{name}" in self.modules:
                return ("module", f"{mod}.{name}")
            return None
        _, kind, payload = own
        if kind == "torch":
            return ("torch", payload) if payload else None
        if kind == "class":
            return ("class", mod, payload)
        if kind == "module":
            return ("module", payload) if payload else None
        if kind == "from":
            src, orig = payload
            r = self.lookup(src, orig, stack)
            if r is None and f"{src}.{orig}" in self.modules:
                return ("module", f"{src}.{orig}")
            return r
        return None

    def exports(self, mod: str, name: str) -> bool:
        facts = self.facts(mod) if mod in self.modules else None
        if isinstance(facts, _Facts) and facts.all is not None:
            return name in facts.all
        return not name.startswith("_")

    def names(self, mod: str, _stack=None) -> set[str]:
        """The names `from mod import *` binds (those it can know)."""
        if mod in self._names:
            return self._names[mod]
        stack = _stack if _stack is not None else set()
        if mod in stack:
            return set()
        stack.add(mod)
        facts = self.facts(mod) if mod in self.modules else None
        out: set[str] = set()
        if isinstance(facts, _Facts):
            if facts.all is not None:
                out = set(facts.all)
            else:
                out = {n for n in facts.bindings if not n.startswith("_")}
                for _, src in facts.stars:
                    out |= self.names(src, stack)
        stack.discard(mod)
        if _stack is None or not stack:
            self._names[mod] = out
        return out

    def torch_stars(self, mod: str, _stack=None) -> list[str]:
        """Torch modules whose names `from mod import *` brings (`from torch.nn import *` in mod)."""
        stack = _stack if _stack is not None else set()
        facts = self.facts(mod) if mod in self.modules else None
        if not isinstance(facts, _Facts) or mod in stack or facts.all is not None:
            return []
        stack.add(mod)
        out = list(facts.torch_stars)
        for _, src in facts.stars:
            out += [s for s in self.torch_stars(src, stack) if s not in out]
        return out

    def is_cell(self, mod: str, cls: str, _stack=None) -> bool:
        """Is the class ``cls`` of ``mod`` a torch module (nn.Module or a layer, transitively)?"""
        key = (mod, cls)
        if key in self._cells:
            return self._cells[key]
        stack = _stack if _stack is not None else set()
        if key in stack:
            return False
        stack.add(key)
        facts = self.facts(mod)
        result = False
        if isinstance(facts, _Facts) and cls in facts.classes:
            bases, forward, odd = facts.classes[cls]
            unknown = odd
            for base in bases:
                verdict = self._base_is_cell(mod, base, stack)
                if verdict is True:
                    result = True
                    break
                if verdict is None and base not in NOT_MODULE_BASES:
                    unknown = True
            else:
                # as the converter decides (transforms/classes.py), in a module that uses torch: a
                # class of a torch-free module with a `forward` (fractions.Fraction has one, nested)
                # and a base it cannot resolve is not a model
                result = unknown and forward and (b"torch" in (self._read(mod) or b"") or bool(self.torch_stars(mod)))
        stack.discard(key)
        if _stack is None or not stack:
            self._cells[key] = result
        return result

    def _base_is_cell(self, mod: str, base: str, stack) -> bool | None:
        """True / False / None (cannot tell)."""
        head, _, rest = base.partition(".")
        r = self.lookup(mod, head)
        while r is not None and r[0] == "module" and rest:
            attr, _, rest = rest.partition(".")
            r = self.lookup(r[1], attr)
        if r is None:
            return None
        if r[0] == "torch":
            q = f"{r[1]}.{rest}" if rest else r[1]
            return self._torch_layer(q)
        if r[0] == "class" and not rest:
            return self.is_cell(r[1], r[2], stack)
        return None

    def _torch_layer(self, q: str) -> bool:
        if q in _MODULE_CLASSES:
            return True
        if self.rules is None:
            return q.startswith("torch.nn.") and q.rsplit(".", 1)[-1][:1].isupper()
        return builds_cell(self.rules.get(q))

    # ---- what each file receives --------------------------------------------------------------
    def received(self, mod: str) -> Received:
        out = Received()
        facts = self.facts(mod)
        if not isinstance(facts, _Facts):
            return out
        local_names: dict[str, set] = {}
        for name, (p, kind, payload) in facts.bindings.items():
            if kind in ("from", "module"):
                local_names.setdefault(name, set()).add(payload[0] if kind == "from" else payload)
        for p, src in facts.stars:
            for name in self.names(src):
                local_names.setdefault(name, set()).add(src)
            for s in self.torch_stars(src):
                if s not in out.external_stars:
                    out.external_stars.append(s)
                    out.providers.add(self.modules.get(src, src))
        for name, srcs in local_names.items():
            r = self.lookup(mod, name)
            if r is None:
                continue
            own = facts.bindings.get(name)
            if r[0] == "torch" and not (own is not None and own[1] == "torch"):
                out.external[name] = r[1]
                out.providers |= {self.modules[s] for s in srcs if s in self.modules}
            elif r[0] == "class" and self.is_cell(r[1], r[2]):
                out.external_cells.add(name)
            elif r[0] == "module" and r[1] in self.modules and r[1] != mod:
                for attr in self.names(r[1]) | set(self._own_names(r[1])):
                    rr = self.lookup(r[1], attr)
                    if rr is None:
                        continue
                    if rr[0] == "torch":
                        out.external[f"{name}.{attr}"] = rr[1]
                        out.providers.add(self.modules[r[1]])
                    elif rr[0] == "class" and self.is_cell(rr[1], rr[2]):
                        out.external_cells.add(f"{name}.{attr}")
        for line, col, src, star, text in facts.project_imports:
            what = f"from {text} import {'*' if star else '...'}"
            if src is None and star:
                out.notes.append((line, col, what, f"{text} is not in the converted folder: the names it gives "
                                                   "are not known, uses of torch through them are not converted "
                                                   "(convert the whole package)"))
            elif src is not None and src in self.modules and not isinstance(self.facts(src), _Facts):
                out.notes.append((line, col, what, f"{os.path.relpath(self.modules[src], self.root)}: "
                                                   f"{self.facts(src)}; the names it gives are not known, uses of "
                                                   "torch through them are not converted"))
        return out

    def _own_names(self, mod: str) -> list[str]:
        facts = self.facts(mod)
        return list(facts.bindings) if isinstance(facts, _Facts) else []


_HEAD = re.compile(r"(from|import|class|try|if|elif|else|except|finally|with|__all__)\b")
_SIMPLE_ASSIGN = re.compile(r"[A-Za-z_]\w*\s*(=\s*[A-Za-z_][\w.]*|\+=\s*[\[(].*)\s*(#.*)?$")
_INNER_IMPORT = re.compile(r"[ \t]+(from|import)\b")
_INNER_BINDING = re.compile(r"[ \t]+(?:(?:async[ \t]+)?(def|class)[ \t]+(\w+)|([A-Za-z_]\w*)[ \t]*(?::[^=]*)?=(?!=))")
_DEF = re.compile(r"[ \t]+(async[ \t]+)?def[ \t]+forward\b")


def skeleton(data: bytes) -> tuple[str, list[int]]:
    """The part of a module the pre-pass needs, as Python text: its top-level imports (also those
    in top-level compound statements), class headers (with a `forward` stub if the class has
    one), `__all__` and `name = a.b.c` re-bindings; and, for each of its lines, the line of the
    file it comes from. Parsing it costs a fraction of parsing the file; text that is not what it
    seems (a docstring line starting with `class`) makes it fail to parse, and the caller then
    parses the whole file."""
    text = data.decode("utf-8")
    src = text.splitlines()
    out: list[str] = []
    where: list[int] = []
    n = len(src)
    inside = _in_strings(src)
    i = 0

    def statement(i: int) -> int:
        """The index after the logical line starting at i (brackets and backslashes followed)."""
        depth = 0
        while i < n:
            line = src[i].split("#", 1)[0] if "#" in src[i] else src[i]
            depth += line.count("(") + line.count("[") + line.count("{") \
                - line.count(")") - line.count("]") - line.count("}")
            i += 1
            if depth <= 0 and not line.rstrip().endswith("\\"):
                return i
        return i

    def add(lines_from: int, lines_to: int, indent: str | None = None) -> None:
        for k in range(lines_from, lines_to):
            line = src[k]
            if indent is not None and k == lines_from:
                line = indent + line.lstrip()
            out.append(line)
            where.append(k + 1)

    while i < n:
        line = src[i]
        if not line or line[0] in " \t#\f" or inside[i]:
            i += 1
            continue
        m = _HEAD.match(line)
        if m is None:
            j = statement(i)
            if _SIMPLE_ASSIGN.match(line) and j == i + 1 or line.startswith("__all__"):
                add(i, j)
            i = j
            continue
        word = m.group(1)
        j = statement(i)
        if word in ("from", "import", "__all__"):
            add(i, j)
            i = j
            continue
        add(i, j)  # a header: class ...: / try: / if ...:
        if not out[-1].rstrip().endswith(":"):
            raise SyntaxError("not a block header")
        out.append("    pass")
        where.append(j)
        # the block: indented lines up to the next line of code at column 0
        k = j
        forward = False
        while k < n and (not src[k] or src[k][0] in " \t#\f"):
            if word == "class":
                if not forward and _DEF.match(src[k]):
                    forward = True
                k += 1
            elif inside[k]:
                k += 1
            elif _INNER_IMPORT.match(src[k]):
                e = statement(k)
                add(k, e, "    ")
                k = e
            else:
                b = _INNER_BINDING.match(src[k])
                if b is not None:  # `def _assert(...)` in the fallback of `try: from torch import _assert`
                    out.append(f"    {b.group(2) or b.group(3)} = None")
                    where.append(k + 1)
                k += 1
        if forward:
            out.append("    def forward(self): pass")
            where.append(j)
        i = k
    return "\n".join(out) + "\n", where


def _in_strings(src: list[str]) -> list[bool]:
    """For each line, does it start inside a triple-quoted string? (Approximate: a wrong answer
    makes the skeleton fail to parse, and the file is then parsed whole.)"""
    out = [False] * len(src)
    q = None
    for i, line in enumerate(src):
        out[i] = q is not None
        if '"""' not in line and "'''" not in line:
            continue
        pos = 0
        while True:
            if q is None:
                hits = [k for k in (line.find('"""', pos), line.find("'''", pos)) if k >= 0]
                if not hits:
                    break
                k = min(hits)
                q, pos = line[k:k + 3], k + 3
            else:
                k = line.find(q, pos)
                if k < 0:
                    break
                q, pos = None, k + 3
    return out


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _bound_names(target) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for e in target.elts for n in _bound_names(e)]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return []


def _literal_names(value) -> list[str] | None:
    if isinstance(value, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                                        for e in value.elts):
        return [e.value for e in value.elts]
    return None


def analyse(root: str, paths: list[str], rules=None) -> dict[str, Received]:
    """path -> what that file receives from the other modules of the folder ``root`` (only files
    that receive something)."""
    project = Project(root, paths, rules)
    out: dict[str, Received] = {}
    for mod, path in project.modules.items():
        if not project.imports_from_project(mod):
            continue
        got = project.received(mod)
        if got:
            out[path] = got
    return out
