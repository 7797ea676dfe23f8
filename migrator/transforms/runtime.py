"""Small helpers emitted into converted files, for what cannot be renamed statically (a
``DataLoader(ds, **kwargs)`` built at run time, say). Each lives in ``migrator/runtime/<name>.py``
as ordinary, tested Python; a rule asks for one with ``runtime = "<name>"``. The output never
imports ms-migrate: the helper's source is copied in, after the imports, once per file."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import libcst as cst

from ..context import FileContext

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
BANNER = "# ---- ms-migrate runtime helper: {name} (generated; see the ms-migrate README) ----"
BANNER_PREFIX = "# ---- ms-migrate runtime helper: "


@lru_cache(maxsize=None)
def helper_names() -> frozenset:
    """The functions and classes runtime helpers define at their top level."""
    import ast

    names = set()
    for path in RUNTIME_DIR.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
    return frozenset(names)


@lru_cache(maxsize=None)
def _snippet(name: str) -> tuple[list[str], str, list[str]]:
    """(import lines, body, helpers it uses) of a runtime helper: its leading imports go to the
    file's imports; a relative import (`from .torch_files import read_torch_file`) names another
    helper, copied in before it."""
    import ast

    text = (RUNTIME_DIR / f"{name}.py").read_text(encoding="utf-8")
    nodes = ast.parse(text).body
    if nodes and isinstance(nodes[0], ast.Expr) and isinstance(getattr(nodes[0], "value", None), ast.Constant):
        nodes = nodes[1:]  # the docstring
    lines = text.splitlines()
    imports, uses = [], []
    while nodes and isinstance(nodes[0], (ast.Import, ast.ImportFrom)):
        if isinstance(nodes[0], ast.ImportFrom) and nodes[0].level:
            uses.append(nodes[0].module)
        else:
            imports.append(ast.get_source_segment(text, nodes[0]))
        nodes = nodes[1:]
    body = "\n".join(lines[nodes[0].lineno - 1:]) if nodes else ""
    return imports, body.strip() + "\n", uses


PLACEHOLDER = "__ms_migrate_runtime_helper_{name}__"


@lru_cache(maxsize=None)
def helper_text(name: str, newline: str = "\n", indent: str = "    ") -> str:
    """A helper's code as it goes into a file, in the file's line endings and indentation."""
    _, body, _ = _snippet(name)
    if indent != "    ":  # the helpers are written with four spaces per level
        body = re.sub(r"(?m)^((?:    )+)(?=\S)", lambda m: indent * (len(m.group(1)) // 4), body)
    return body.replace("\n", newline)


def helper_statements(ctx: FileContext) -> list[cst.BaseStatement]:
    """One placeholder line per helper, its banner above it. The converted tree is printed with
    the placeholders, which splice_helpers() then replaces by the helpers' code: printing hundreds
    of unchanged helper lines through libcst for every file cost more than converting the file."""
    out: list[cst.BaseStatement] = []
    for name in ctx.helpers_needed:
        banner = BANNER.format(name=name)
        if banner in ctx.source:
            continue  # already there (a second run)
        if not _snippet(name)[1].strip():
            continue
        out.append(cst.SimpleStatementLine(
            body=[cst.Expr(cst.Name(PLACEHOLDER.format(name=name)))],
            leading_lines=[cst.EmptyLine(), cst.EmptyLine(comment=cst.Comment(banner))]))
        ctx.helpers_inserted.append(name)
    return out


def is_placeholder(stmt, name: str) -> bool:
    """Whether a statement is the placeholder line of helper `name`."""
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, cst.Name) and stmt.body[0].value.value == PLACEHOLDER.format(name=name)


def splice_helpers(output: str, ctx: FileContext, indent: str = "    ") -> str:
    """The printed file with each helper's placeholder line replaced by the helper's code."""
    if not ctx.helpers_inserted:
        return output
    # in the file's own line endings: a backslash continuation keeps its newline verbatim
    found = re.search(r"\r\n?|\n", ctx.source)
    newline = found.group() if found else "\n"
    for name in ctx.helpers_inserted:
        line = PLACEHOLDER.format(name=name) + newline
        if output.count(line) != 1:
            raise ValueError(f"runtime helper {name}: its place in the output was not found once")
        output = output.replace(line, helper_text(name, newline, indent))
    return output


def space_after(body: list, index: int) -> None:
    """Two blank lines between an inserted helper and the user's next statement."""
    if index < len(body):
        stmt = body[index]
        blank = sum(1 for l in stmt.leading_lines[:2] if l.comment is None)
        if blank < 2:
            body[index] = stmt.with_changes(leading_lines=[cst.EmptyLine()] * (2 - blank) + list(stmt.leading_lines))


def require(ctx: FileContext, name: str) -> None:
    """Note that the file needs helper `name`, and the imports the helper uses."""
    imports, _, uses = _snippet(name)
    for helper in uses:
        require(ctx, helper)
    for line in imports:
        ctx.imports_needed[line] = None
    ctx.helpers_needed[name] = None
