"""Decorators whose rule says `decorator = "drop"` (`@torch.jit.ignore`, `@torch.compile(...)`):
removed from the function or class, their comments kept."""
from __future__ import annotations

import libcst as cst

from ..context import FileContext
from ..names import dotted_name


def without_decorators(node, dropped: set):
    """``node`` (a FunctionDef or ClassDef) without the decorators in ``dropped``; the comments
    above and on a dropped decorator move to what follows it."""
    if not any(d in dropped for d in node.decorators):
        return node
    kept, comments = [], []
    for d in node.decorators:
        if d in dropped:
            comments.extend(d.leading_lines)
            if d.trailing_whitespace.comment is not None:
                comments.append(cst.EmptyLine(comment=d.trailing_whitespace.comment))
            continue
        kept.append(d.with_changes(leading_lines=[*comments, *d.leading_lines]) if comments else d)
        comments = []
    if not kept:
        return node.with_changes(decorators=[], leading_lines=[*node.leading_lines, *comments])
    return node.with_changes(decorators=kept, lines_after_decorators=[*comments, *node.lines_after_decorators])


class ReferenceCounter(cst.CSTVisitor):
    """Counts the torch references of a subtree the converter skips (as Converter.visit_Attribute
    and visit_Name do), so that the ordinals locating later findings stay right."""

    def __init__(self, ctx: FileContext):
        super().__init__()
        self.ctx = ctx

    def visit_Attribute(self, node) -> bool:
        if self.ctx.table.resolve(node) is not None:
            self.ctx.count_reference(node, dotted_name(node))
        else:
            node.value.visit(self)  # not `attr`: a field name is not a reference
        return False

    def visit_Name(self, node) -> None:
        if node.value in self.ctx.table.aliases:
            self.ctx.count_reference(node, node.value)
