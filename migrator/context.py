"""Per-file state shared by the transformers: resolved imports, rules, findings, imports to add."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import libcst as cst

from .names import ImportTable, name_is_free
from .rules import Rule, RuleSet

MARKER_PREFIX = "# ms-migrate: untranslated"


@dataclass
class Finding:
    """Something the conversion could not do (``untranslated``) or did with a caveat (``warning``)."""

    kind: str  # "untranslated" | "warning" | "error"
    api: str
    reason: str
    node: cst.CSTNode | None = None
    line: int = 0
    col: int = 0

    def marker(self) -> str:
        if self.kind == "untranslated":
            return f"{MARKER_PREFIX} {self.api}: {self.reason}"
        return f"# ms-migrate: note {self.api}: {self.reason}"


@lru_cache(maxsize=8192)
def parse_expr(text: str) -> cst.BaseExpression:
    """cst.parse_expression, remembered: converted files emit the same few expressions again and
    again, and libcst nodes are immutable, so one parse can serve every place."""
    return cst.parse_expression(text)


def dotted_expr(text: str) -> cst.BaseExpression:
    """`a.b.c` as a node, built directly (parsing it costs a parser run)."""
    parts = text.split(".")
    node: cst.BaseExpression = cst.Name(parts[0])
    for p in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(p))
    return node


class Untranslated(Exception):
    """Raised by value transforms and handlers that cannot translate a call."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class FileContext:
    rules: RuleSet
    table: ImportTable
    source: str
    findings: list[Finding] = field(default_factory=list)
    # import statement text -> (alias or None); insertion order is output order
    imports_needed: dict[str, None] = field(default_factory=dict)
    # untranslated torch references: (qualified name, module its import came from)
    torch_refs_left: list[tuple[str, str]] = field(default_factory=list)
    apis_found: int = 0
    apis_translated: int = 0
    helpers_needed: dict[str, None] = field(default_factory=dict)
    helpers_inserted: list[str] = field(default_factory=list)  # placeholders in the tree (runtime.splice_helpers)
    helpers_used: list[str] = field(default_factory=list)  # the helpers the printed file imports
    helper_module: str = "ms_helpers"  # how this file spells the generated helper module's import
    helper_aliases: dict[str, str] = field(default_factory=dict)  # helper name -> its spelling here
    name_calls: list | None = None  # the input's calls of a plain name (`Block(...)`), collected by the conversion walk
    # marker frames: one list of findings per statement being visited
    frames: list[list[Finding]] = field(default_factory=list)
    # original torch-reference node -> (spelling, n-th occurrence of that spelling in source
    # order): enough to find its line and column later without libcst position metadata
    ordinals: dict = field(default_factory=dict)
    _spelling_counts: dict = field(default_factory=dict)
    current_call: cst.CSTNode | None = None  # the original call a rule is being applied to
    may_call_autograd_grad: bool | None = None  # decided once per file (transforms/autograd_grad.py)
    _alias_ok: dict[str, bool] = field(default_factory=dict)

    # ---- bookkeeping -------------------------------------------------------------------
    def count_reference(self, node: cst.CSTNode, spelling: str) -> None:
        n = self._spelling_counts.get(spelling, 0)
        self._spelling_counts[spelling] = n + 1
        self.ordinals[node] = (spelling, n)

    def translated(self, n: int = 1) -> None:
        self.apis_found += n
        self.apis_translated += n

    def untranslated(self, api: str, reason: str, node: cst.CSTNode | None) -> None:
        self.apis_found += 1
        self.record(Finding("untranslated", api, reason, node))

    def warn(self, api: str, reason: str, node: cst.CSTNode | None) -> None:
        # placed at the call being translated: value nodes are rebuilt and have no position
        self.record(Finding("warning", api, reason, self.current_call or node))

    def record(self, finding: Finding) -> None:
        self.findings.append(finding)
        if self.frames:
            self.frames[-1].append(finding)

    # ---- spelling MindSpore names in the output ---------------------------------------
    def render(self, qualified: str) -> cst.BaseExpression:
        """A MindSpore qualified name as an expression, registering the import it needs."""
        return dotted_expr(self.render_text(qualified))

    def render_text(self, qualified: str) -> str:
        if "." not in qualified:
            return self.helper_spelling(qualified)  # a runtime helper (MsDataLoader), imported from the helper module
        prefix = qualified
        while prefix and prefix not in self.rules.render:
            prefix = prefix.rpartition(".")[0]
        if not prefix:
            root = qualified.split(".", 1)[0]
            self.imports_needed[f"import {root}"] = None
            return qualified
        spec = self.rules.render[prefix]
        alias = spec.get("alias")
        rest = qualified[len(prefix):]
        if alias and self._alias_free(alias, spec["import"]):
            self.imports_needed[spec["import"]] = None
            return alias + rest
        self.imports_needed[f"import {prefix}"] = None
        return qualified

    def helper_spelling(self, name: str) -> str:
        """A runtime helper's name as the file spells it: the name, or `Name_` where the user's
        code already uses the name (theirs is never shadowed by the import)."""
        alias = self.helper_aliases.get(name)
        if alias is None:
            alias = name
            from .transforms.runtime import helper_names
            if name in helper_names():
                while not name_is_free(self.source, alias, self.table) and not self._helper_imported(name, alias):
                    alias += "_"
            self.helper_aliases[name] = alias
        return alias

    def _helper_imported(self, name: str, alias: str) -> bool:
        """`from <helper module> import name [as alias]` is already in the file (a second run)."""
        item = name if alias == name else f"{name} as {alias}"
        return re.search(rf"(?m)^from {re.escape(self.helper_module)} import .*\b{re.escape(item)}\b", self.source) is not None

    def _alias_free(self, alias: str, import_line: str) -> bool:
        ok = self._alias_ok.get(alias)
        if ok is None:
            ok = import_line in self.source or name_is_free(self.source, alias, self.table)
            self._alias_ok[alias] = ok
        return ok

    def torch_reference(self, qualified: str, local: str) -> cst.BaseExpression | None:
        """Keep a torch reference usable when it is left untranslated.

        The user's alias (``nn``, ``F``...) may now name a MindSpore module, so a reference
        that does not start at the package root is spelled out in full (``torch.nn.X``) and
        the module it lives in stays imported. Returns the replacement, or None to keep it."""
        self.torch_refs_left.append((qualified, self.table.module_to_keep(qualified, local)))
        if local != qualified:
            return dotted_expr(qualified)
        return None

    def torch_imports_kept(self) -> list[str]:
        """Modules to keep importing for the untranslated references, spelled from the root.

        Each reference keeps the longest imported module that contains it; choosing among the
        kept set again gives the same set, so a second run reproduces these imports exactly."""
        first = {mod for _, mod in self.torch_refs_left}
        kept = set()
        for qualified, _ in self.torch_refs_left:
            best = max((m for m in first if qualified == m or qualified.startswith(m + ".")), key=len,
                       default=qualified.split(".", 1)[0])
            kept.add(best)
        return sorted(kept)

    def rule(self, qualified: str) -> Rule | None:
        r = self.rules.get(qualified)
        if r is None and "." not in qualified:
            for mod in self.table.star_modules:
                r = self.rules.get(f"{mod}.{qualified}")
                if r is not None:
                    break
        return r
