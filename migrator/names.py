"""Which local names refer to torch, and how MindSpore targets are spelled in the output.

Resolution is deliberately cheap (no libcst metadata): one walk over the statements collects
the imports of torch, torchvision and torchaudio (at any depth: inside ``try``, functions...)
and module-level re-bindings such as ``F = torch.nn.functional``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

TORCH_ROOTS = ("torch", "torchvision", "torchaudio")


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a pure Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def module_name(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    return dotted_name(node) or ""


def is_torch_module(qualified: str) -> bool:
    return qualified.split(".", 1)[0] in TORCH_ROOTS


@dataclass
class ImportTable:
    """Local name -> qualified torch name, plus what the import statements bound."""

    aliases: dict[str, str] = field(default_factory=dict)
    star_modules: list[str] = field(default_factory=list)
    # qualified module each alias needs imported to stay usable if a reference is left untranslated
    import_of: dict[str, str] = field(default_factory=dict)
    mentions_mindspore: bool = False
    plain_modules: set[str] = field(default_factory=set)  # `import torch.nn` (no alias)
    rebindings: set = field(default_factory=set)  # `F = torch.nn.functional` statements (like imports)
    is_namespace: object = None  # see build_import_table
    # from other modules of the converted folder (project.py): names bound there to torch
    # (`nn` through `from .parts import *`), `m.nn` through `import pkg.mod as m`, user model classes
    external: set = field(default_factory=set)
    dotted: dict[str, str] = field(default_factory=dict)
    external_cells: set = field(default_factory=set)
    # import aliases that a local binding shadows in the scope being converted (scopes.py)
    shadowed: frozenset = frozenset()

    def resolve(self, node: cst.BaseExpression) -> str | None:
        name = dotted_name(node)
        if name is None:
            return None
        return self.resolve_dotted(name)

    def module_to_keep(self, qualified: str, local: str) -> str:
        """The import an untranslated reference needs once it is spelled from the root."""
        head = local.split(".", 1)[0]
        if head in self.import_of:
            return self.import_of[head]
        best = qualified.split(".", 1)[0]
        for mod in self.plain_modules:
            if (qualified == mod or qualified.startswith(mod + ".")) and len(mod) > len(best):
                best = mod
        return best

    def resolve_dotted(self, name: str) -> str | None:
        head, _, rest = name.partition(".")
        if head in self.shadowed:
            return None
        q = self.aliases.get(head)
        if q is None:
            if self.dotted and rest:
                for k, v in self.dotted.items():
                    if name.startswith(k) and (len(name) == len(k) or name[len(k)] == "."):
                        return v + name[len(k):]
            return None
        return f"{q}.{rest}" if rest else q

    def is_alias(self, name: str) -> bool:
        """Is this bare name a torch alias where it is being converted?"""
        return name in self.aliases and name not in self.shadowed


def _import_aliases(stmt: cst.Import | cst.ImportFrom, table: ImportTable) -> None:
    if isinstance(stmt, cst.Import):
        for a in stmt.names:
            full = module_name(a.name)
            root = full.split(".", 1)[0]
            if root == "mindspore":
                table.mentions_mindspore = True
            if root not in TORCH_ROOTS:
                continue
            if a.asname is not None:
                local = a.asname.name.value  # type: ignore[union-attr]
                table.aliases[local] = full
                table.import_of[local] = full
            else:
                table.aliases[root] = root
                table.plain_modules.add(full)
        return
    if stmt.relative:
        return
    mod = module_name(stmt.module)
    root = mod.split(".", 1)[0]
    if root == "mindspore":
        table.mentions_mindspore = True
    if root not in TORCH_ROOTS:
        return
    if isinstance(stmt.names, cst.ImportStar):
        table.star_modules.append(mod)
        return
    for a in stmt.names:
        name = module_name(a.name)
        local = a.asname.name.value if a.asname is not None else name  # type: ignore[union-attr]
        table.aliases[local] = f"{mod}.{name}"
        table.import_of[local] = mod


def _walk_statements(body, table: ImportTable, top: bool) -> None:
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    _import_aliases(small, table)
                elif top and isinstance(small, cst.Assign) and len(small.targets) == 1:
                    # module-level re-binding: F = torch.nn.functional
                    target = small.targets[0].target
                    q = table.resolve(small.value)
                    if isinstance(target, cst.Name) and q is not None \
                            and (table.is_namespace is None or table.is_namespace(q)):
                        table.aliases[target.value] = q
                        table.import_of[target.value] = q.split(".", 1)[0]
                        table.rebindings.add(stmt)
        elif isinstance(stmt, cst.BaseCompoundStatement):
            for block in _blocks_of(stmt):
                _walk_statements(block, table, top and not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)))


def _blocks_of(stmt: cst.BaseCompoundStatement):
    body = getattr(stmt, "body", None)  # a `match` has only cases
    if isinstance(body, cst.IndentedBlock):
        yield body.body
    elif isinstance(body, cst.SimpleStatementSuite):
        yield [cst.SimpleStatementLine(body=body.body)]
    for attr in ("orelse", "finalbody"):
        sub = getattr(stmt, attr, None)
        if sub is not None:
            if isinstance(sub, cst.If):
                yield [sub]
            else:
                yield from _blocks_of(sub)
    for h in getattr(stmt, "handlers", ()):
        yield from _blocks_of(h)
    for c in getattr(stmt, "cases", ()):
        yield from _blocks_of(c)


def build_import_table(module: cst.Module, is_namespace=None, external: dict[str, str] | None = None,
                       external_cells=None, external_stars=()) -> ImportTable:
    """is_namespace(qualified): is a torch name a module (`torch.nn.functional`)? A module-level
    `F = torch.nn.functional` is then an alias like an import; `DTYPE = torch.float32` is an
    ordinary variable, translated where it is assigned. Without it, every re-binding is an alias.

    external: names the file gets from other modules of the converted folder (project.py), local
    name (or `m.nn`) -> torch qualified name, as if the file had imported them itself (its own
    imports come after and win); external_cells: user model classes it gets that way;
    external_stars: torch modules whose names a neighbour's `*` brings (`from torch.nn import *`)."""
    table = ImportTable()
    table.is_namespace = is_namespace
    for local, q in (external or {}).items():
        if "." in local:
            table.dotted[local] = q
            continue
        table.aliases[local] = q
        table.external.add(local)
        spaced = is_namespace(q) if is_namespace is not None else "." not in q
        table.import_of[local] = q if spaced or "." not in q else q.rpartition(".")[0]
    table.star_modules.extend(external_stars)
    table.external_cells = set(external_cells or ())
    _walk_statements(module.body, table, True)
    return table


def name_is_free(source: str, name: str, table: ImportTable) -> bool:
    """May the output use ``name`` for a MindSpore module? Conservative: any non-attribute
    occurrence of the word that is not a torch alias makes it taken."""
    if name in table.aliases:
        return True
    return re.search(rf"(?<![.\w]){re.escape(name)}\b", source) is None
