"""Marker comments: each untranslated API gets ``# ms-migrate: untranslated <api>: <reason>``
on its own line above the statement that uses it, so the output still parses and runs as far as
it can, and ``ms-migrate check`` (or grep) finds every place left to port by hand."""
from __future__ import annotations

import libcst as cst

from ..context import Finding


def _existing(lines) -> set[str]:
    return {l.comment.value for l in lines if l.comment is not None}


def attach(stmt: cst.CSTNode, findings: list[Finding]):
    """Add one marker line per distinct finding; markers already there (a second run) are kept once."""
    if not findings or not hasattr(stmt, "leading_lines"):
        return stmt
    lines = list(stmt.leading_lines)
    have = _existing(lines)
    for f in findings:
        text = f.marker()
        if text not in have:
            have.add(text)
            lines.append(cst.EmptyLine(indent=True, whitespace=cst.SimpleWhitespace(""), comment=cst.Comment(text)))
    return stmt.with_changes(leading_lines=lines)
