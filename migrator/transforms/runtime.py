"""Runtime helpers in converted files: the import of the names a file uses from the generated
helper module (see migrator/helper_module.py for the module and its layout).

A rule asks for a helper with ``runtime = "<name>"`` (or a transform calls ``require``). The
converted tree is printed with one placeholder line where the import goes (after the file's
import block); ``splice_helpers`` then replaces it with ``from ms_helpers import A, B``, naming
the helper names the printed file actually uses (a use the conversion dropped needs no import)."""
from __future__ import annotations

import re
from functools import lru_cache

import libcst as cst

from .. import helper_module
from ..context import FileContext

RUNTIME_DIR = helper_module.RUNTIME_DIR
# files converted by ms-migrate before the helper module existed carry copies under this banner
BANNER_PREFIX = "# ---- ms-migrate runtime helper: "
PLACEHOLDER = "__ms_migrate_helper_import__"
_WORD = re.compile(r"(?<![\w.])[A-Za-z_]\w*")  # a name not after a dot (`x.MsDataLoader` is not the helper)


@lru_cache(maxsize=None)
def helper_names() -> frozenset:
    """The names runtime helpers define at their top level."""
    return frozenset(helper_module.export_owner())


def helper_statements(ctx: FileContext) -> list[cst.BaseStatement]:
    """The placeholder line of the helper import (none when the file needs no helper)."""
    if not ctx.helpers_needed:
        return []
    ctx.helpers_inserted.append(PLACEHOLDER)
    return [cst.SimpleStatementLine(body=[cst.Expr(cst.Name(PLACEHOLDER))])]


def is_placeholder(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, cst.Name) and stmt.body[0].value.value == PLACEHOLDER


def used_helpers(output: str, needed, aliases: dict | None = None) -> tuple[list[str], list[str]]:
    """(import items for the helper names the printed file uses: `Name`, or `Name as Name_` where
    the file spells it so; the helpers defining them or acting on import)."""
    names, helpers = [], []
    aliases = aliases or {}
    words = set(_WORD.findall(output))  # one pass over the text, not one search per helper name
    for helper in helper_module.closure(needed):
        used = []
        for n in helper_module.exports(helper):
            spelled = aliases.get(n, n)
            if spelled in words:
                used.append(n if spelled == n else f"{n} as {spelled}")
        if used or (helper in needed and helper_module.acts_on_import(helper)):
            helpers.append(helper)
        names += [n for n in used if n not in names]
    return names, helpers


def splice_helpers(output: str, ctx: FileContext, indent: str = "    ") -> str:
    """The printed file with the placeholder replaced by the import of the helper names it uses
    (nothing, when an earlier conversion's import already names them all)."""
    if not ctx.helpers_inserted:
        return output
    found = re.search(r"\r\n?|\n", ctx.source)
    newline = found.group() if found else "\n"
    line = PLACEHOLDER + newline
    if output.count(line) != 1:
        raise ValueError("runtime helpers: the place of their import in the output was not found once")
    rest = output.replace(line, "")
    names, helpers = used_helpers(rest, ctx.helpers_needed, ctx.helper_aliases)
    ctx.helpers_used = helpers
    spelling = ctx.helper_module
    module = spelling.lstrip(".")
    package = spelling[:len(spelling) - len(module)]  # the leading dots of a relative spelling
    have = _imported_names(ctx.source, spelling)
    missing = [n for n in names if n not in have]
    if missing:
        text = f"from {spelling} import {', '.join(missing)}"
        if len(text) > 100:
            text = f"from {spelling} import (\n" + "".join(f"{indent}{n},\n" for n in missing) + ")"
        text = text.replace("\n", newline) + newline
    elif not names and helpers and not have and not re.search(rf"(?m)^(from \.* ?import {module}|import {module})\b", ctx.source):
        # only helpers that act when imported (a format spec or numpy index on MindSpore tensors)
        text = (f"from {package} import {module}" if package else f"import {module}") \
            + "  # noqa: F401 (torch's behaviours on MindSpore tensors, set up when imported)" + newline
    else:
        text = ""
    return output.replace(line, text)


def _imported_names(source: str, spelling: str) -> set[str]:
    """Names an existing `from <spelling> import ...` in the source brings (a second conversion)."""
    out: set[str] = set()
    for m in re.finditer(rf"(?m)^from {re.escape(spelling)} import (\([^)]*\)|[^\n]*)", source):
        out.update(n.strip() for n in m.group(1).strip("()").replace("\n", ",").split(",") if n.strip())
    return out


def require(ctx: FileContext, name: str) -> None:
    """Note that the file needs helper `name` (and the helpers it uses)."""
    for helper in helper_module.helper_parts(name)[3]:
        require(ctx, helper)
    ctx.helpers_needed[name] = None
