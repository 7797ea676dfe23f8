"""Import statements: torch imports go, the MindSpore imports the converted code uses come in
where the first torch import stood (its comments kept); imports of torch modules that untranslated
code still needs stay, spelled from the package root."""
from __future__ import annotations

import libcst as cst

from ..context import FileContext
from ..names import TORCH_ROOTS, module_name


def is_torch_alias(alias: cst.ImportAlias) -> bool:
    return module_name(alias.name).split(".", 1)[0] in TORCH_ROOTS


def strip_torch(node: cst.Import | cst.ImportFrom) -> "cst.Import | cst.ImportFrom | cst.RemovalSentinel":
    """The statement without its torch parts (RemoveFromParent when nothing is left)."""
    if isinstance(node, cst.ImportFrom):
        if node.relative or module_name(node.module).split(".", 1)[0] not in TORCH_ROOTS:
            return node
        return cst.RemoveFromParent()
    keep = [a for a in node.names if not is_torch_alias(a)]
    if len(keep) == len(node.names):
        return node
    if not keep:
        return cst.RemoveFromParent()
    keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return node.with_changes(names=keep)


def import_lines(ctx: FileContext) -> list[str]:
    """Import statements for the output, in a stable order, merged per module."""
    lines: list[str] = []
    for mod in ctx.torch_imports_kept():
        stmt = f"import {mod}"
        if stmt not in lines:
            lines.append(stmt)
    plain: list[str] = []
    froms: dict[str, list[str]] = {}
    for stmt in ctx.imports_needed:
        if stmt.startswith("from "):
            mod, _, names = stmt[5:].partition(" import ")
            froms.setdefault(mod, [])
            for n in names.split(","):
                n = n.strip()
                if n not in froms[mod]:
                    froms[mod].append(n)
        elif stmt not in plain:
            plain.append(stmt)
    # the standard library, then numpy, then mindspore (as isort would group them)
    def group(line: str) -> tuple:
        mod = line.split()[1]
        return (2 if mod.startswith("mindspore") else 1 if mod.startswith("numpy") else 0,
                mod != "mindspore", line)
    out = sorted(plain, key=group)
    out += [f"from {mod} import {', '.join(names)}" for mod, names in froms.items()]
    # torch imports are always removed and re-added, so only MindSpore lines are checked
    return lines + [l for l in out if not _already_imported(ctx.source, l)]


def _already_imported(source: str, line: str) -> bool:
    # A second run over converted code must not add the same import again.
    # at module level only: `import numpy as np` inside a function binds nothing at the top
    return any(l.rstrip() == line for l in source.splitlines())


def make_lines(lines: list[str], first: cst.SimpleStatementLine | None) -> list[cst.SimpleStatementLine]:
    out = [cst.parse_statement(l + "\n") for l in lines]
    if out and first is not None:
        out[0] = out[0].with_changes(leading_lines=first.leading_lines)
    return out  # type: ignore[return-value]


def insertion_index(body) -> int:
    """After the module docstring and ``from __future__`` imports."""
    i = 0
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        i = 1
    while i < len(body) and isinstance(body[i], cst.SimpleStatementLine) and any(
            isinstance(s, cst.ImportFrom) and module_name(s.module) == "__future__" for s in body[i].body):
        i += 1
    return i


_IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError", "Exception")


def _bound_name(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return module_name(alias.name).split(".", 1)[0]


def _defined_names(body) -> set[str]:
    """Names a block binds at its own level: def, class, assignment targets, imports."""
    names: set[str] = set()
    for st in body:
        if isinstance(st, (cst.FunctionDef, cst.ClassDef)):
            names.add(st.name.value)
        elif isinstance(st, cst.SimpleStatementLine):
            for small in st.body:
                targets = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    targets = [small.target]
                elif isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                    names.update(_bound_name(a) for a in small.names)
                for t in targets:
                    elts = [e.value for e in t.elements] if isinstance(t, (cst.Tuple, cst.List)) else [t]
                    names.update(e.value for e in elts if isinstance(e, cst.Name))
    return names


def _imports_torch(body) -> bool:
    for st in body:
        for small in (st.body if isinstance(st, cst.SimpleStatementLine) else ()):
            if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None \
                    and module_name(small.module).split(".", 1)[0] in TORCH_ROOTS:
                return True
            if isinstance(small, cst.Import) and any(is_torch_alias(a) for a in small.names):
                return True
    return False


def import_fallback(original: cst.Try, updated: cst.Try):
    """``try: from torch import _assert / except ImportError: def _assert(...)``: the torch import
    goes, so the name would be bound nowhere (and a module importing it from here fails). When
    nothing but torch imports was in the ``try`` and a handler catches ImportError, its fallback
    is what the converted program runs: the statement becomes the handler's body. Kept as is
    when the handler raises (a version check) or the ``try`` has ``else``/``finally``."""
    if not isinstance(original.body, cst.IndentedBlock) or updated.orelse is not None or updated.finalbody is not None:
        return updated
    had_torch = False
    imported: set[str] = set()  # the names the try binds
    for stmt in original.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return updated
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None \
                    and module_name(small.module).split(".", 1)[0] in TORCH_ROOTS:
                had_torch = True
                if isinstance(small.names, cst.ImportStar):
                    return updated
                imported.update(_bound_name(a) for a in small.names)
            elif isinstance(small, cst.Import) and all(is_torch_alias(a) for a in small.names):
                had_torch = True
                imported.update(_bound_name(a) for a in small.names)
            else:
                return updated
    if not had_torch or not isinstance(updated.body, cst.IndentedBlock):
        return updated
    if any(not (isinstance(st, cst.SimpleStatementLine) and all(isinstance(x, cst.Pass) for x in st.body))
           for st in updated.body.body):
        return updated  # something (a MindSpore import) is left in the try
    for h in updated.handlers:
        names = []
        if h.type is None:
            names = ["ImportError"]
        elif isinstance(h.type, cst.Tuple):
            names = [module_name(e.value) if isinstance(e.value, (cst.Name, cst.Attribute)) else "" for e in h.type.elements]
        elif isinstance(h.type, (cst.Name, cst.Attribute)):
            names = [module_name(h.type)]
        if not any(n in _IMPORT_ERRORS for n in names) or h.name is not None:
            continue
        body = list(h.body.body) if isinstance(h.body, cst.IndentedBlock) else [cst.SimpleStatementLine(body=h.body.body)]
        if any(isinstance(st, cst.SimpleStatementLine) and any(isinstance(x, cst.Raise) for x in st.body) for st in body):
            return updated
        # the handler is a fallback only when it defines what the try imported, without torch (a
        # handler that installs a package and imports from torch again is a retry: the translated try
        # is what runs, and the statement stays as it is)
        if not imported <= _defined_names(body) or _imports_torch(body):
            return updated
        if body:
            body[0] = body[0].with_changes(leading_lines=[*updated.leading_lines, *body[0].leading_lines])
        return cst.FlattenSentinel(body)
    return updated
