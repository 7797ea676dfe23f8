"""Small helpers emitted into converted files, for what cannot be renamed statically (a
``DataLoader(ds, **kwargs)`` built at run time, say). Each lives in ``migrator/runtime/<name>.py``
as ordinary, tested Python; a rule asks for one with ``runtime = "<name>"``. The output never
imports ms-migrate: the helper's source is copied in, after the imports, once per file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import libcst as cst

from ..context import FileContext

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
BANNER = "# ---- ms-migrate runtime helper: {name} (generated; see the ms-migrate README) ----"


@lru_cache(maxsize=None)
def _snippet(name: str) -> tuple[list[str], str]:
    """(import lines, body) of a runtime helper."""
    text = (RUNTIME_DIR / f"{name}.py").read_text(encoding="utf-8")
    imports, body = [], []
    for line in text.splitlines():
        if not body and (line.startswith(("import ", "from ")) and "__future__" not in line):
            imports.append(line)
        elif body or (line.strip() and not line.startswith(("#", '"""')) and not line.startswith("from __future__")):
            body.append(line)
    return imports, "\n".join(body).strip() + "\n"


def helper_statements(ctx: FileContext) -> list[cst.BaseStatement]:
    out: list[cst.BaseStatement] = []
    for name in ctx.helpers_needed:
        banner = BANNER.format(name=name)
        if banner in ctx.source:
            continue  # already there (a second run)
        _, body = _snippet(name)
        module = cst.parse_module(body)
        stmts = list(module.body)
        if stmts:
            first = stmts[0]
            stmts[0] = first.with_changes(leading_lines=[
                cst.EmptyLine(), cst.EmptyLine(comment=cst.Comment(banner)), *first.leading_lines])
        out += stmts
    return out


def require(ctx: FileContext, name: str) -> None:
    """Note that the file needs helper `name`, and the imports the helper uses."""
    imports, _ = _snippet(name)
    for line in imports:
        ctx.imports_needed[line] = None
    ctx.helpers_needed[name] = None
