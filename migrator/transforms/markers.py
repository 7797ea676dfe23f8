"""Marker comments: each untranslated API gets ``# ms-migrate: untranslated <api>: <reason>``
on its own line above the statement that uses it, so the output still parses and runs as far as
it can, and ``ms-migrate check`` (or grep) finds every place left to port by hand."""
from __future__ import annotations

import libcst as cst

from ..context import MARKER_PREFIX, Finding


def _key(text: str) -> str:
    """Markers are one per API and statement: a second run may word the reason differently
    (it sees converted code), and must not add a second marker for the same API."""
    if text.startswith(MARKER_PREFIX):
        return MARKER_PREFIX + text[len(MARKER_PREFIX):].split(": ", 1)[0]
    return text


def _existing(lines) -> set[str]:
    return {_key(l.comment.value) for l in lines if l.comment is not None}


def attach(stmt: cst.CSTNode, findings: list[Finding]):
    """Add one marker line per distinct finding; markers already there (a second run) are kept once."""
    if not findings or not hasattr(stmt, "leading_lines"):
        return stmt
    lines = list(stmt.leading_lines)
    have = _existing(lines)
    for f in findings:
        text = f.marker()
        if _key(text) not in have:
            have.add(_key(text))
            lines.append(cst.EmptyLine(indent=True, whitespace=cst.SimpleWhitespace(""), comment=cst.Comment(text)))
    return stmt.with_changes(leading_lines=lines)
