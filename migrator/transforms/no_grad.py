"""`with torch.no_grad():` where nothing is differentiated needs nothing in MindSpore.

MindSpore records gradients only inside mindspore.grad / value_and_grad, so outside a
differentiated function a no-grad block is just its statements: the `with` goes and its block
stays (dedented, comments kept), and a `@torch.no_grad()` decorator goes. Kept, as the helper
`ms_no_grad`, where gradients may be being computed: in the methods of a model class (its
`construct` runs under value_and_grad) and in the forward function of a training step; also
where the block reads or sets the grad switch itself (`is_grad_enabled()` in it).

Runs after the training-step rewrite, on the converted module, so it sees the forward functions
that rewrite made."""
from __future__ import annotations

import libcst as cst

from ..names import dotted_name

HELPER = "ms_no_grad"
_SWITCH = ("ms_enable_grad", "ms_set_grad_enabled", "ms_is_grad_enabled")
FORWARD_PREFIX = "forward_fn"  # training.py names the forward functions it makes so (forward_fn_2...)


def _is_no_grad(expr) -> bool:
    if isinstance(expr, cst.Call):
        return dotted_name(expr.func) == HELPER and not expr.args
    return dotted_name(expr) == HELPER


class DropNoGrad(cst.CSTTransformer):
    def __init__(self, cells: set[str]):
        super().__init__()
        self.cells = cells
        self.kept = 0  # depth of scopes where gradients may be being computed
        self._stack: list[bool] = []

    def on_visit(self, node) -> bool:
        if isinstance(node, (cst.BaseExpression, cst.BaseSmallStatement)):
            return False  # a `with` and a decorator are read from their statement (speed: no expression walk)
        return super().on_visit(node)

    def _enter(self, keep: bool) -> None:
        self._stack.append(keep)
        self.kept += keep

    def _leave(self) -> None:
        self.kept -= self._stack.pop()

    def visit_ClassDef(self, node) -> None:
        self._enter(node.name.value in self.cells)

    def leave_ClassDef(self, original_node, updated_node):
        self._leave()
        return updated_node

    def visit_FunctionDef(self, node) -> None:
        self._enter(node.name.value.startswith(FORWARD_PREFIX))

    def leave_FunctionDef(self, original_node, updated_node):
        self._leave()
        if self.kept:
            return updated_node
        decorators = [d for d in updated_node.decorators if not _is_no_grad(d.decorator)]
        if len(decorators) == len(updated_node.decorators) or _reads_switch(updated_node):
            return updated_node
        if not decorators:  # comments above the decorator, or between it and the def, stay
            lead = [*updated_node.leading_lines, *updated_node.decorators[0].leading_lines,
                    *updated_node.lines_after_decorators]
            return updated_node.with_changes(decorators=decorators, leading_lines=lead, lines_after_decorators=())
        return updated_node.with_changes(decorators=decorators)

    def leave_With(self, original_node, updated_node):
        if self.kept or len(updated_node.items) != 1 or updated_node.items[0].asname is not None \
                or not _is_no_grad(updated_node.items[0].item) or updated_node.asynchronous is not None \
                or not isinstance(updated_node.body, cst.IndentedBlock) or _reads_switch(updated_node):
            return updated_node
        body = list(updated_node.body.body)
        if not body or updated_node.body.footer:  # (comments ending the block would have no place)
            return updated_node
        lead = list(updated_node.leading_lines)
        comment = updated_node.body.header.comment
        if comment is not None:  # `with torch.no_grad():  # why` keeps its comment, above the block
            lead.append(cst.EmptyLine(comment=comment))
        body[0] = body[0].with_changes(leading_lines=lead + list(body[0].leading_lines))
        return cst.FlattenSentinel(body)


def _reads_switch(node) -> bool:
    found = []

    class V(cst.CSTVisitor):
        def visit_Name(self, n) -> None:
            if n.value in _SWITCH:
                found.append(n)

    node.visit(V())
    return bool(found)


def drop_no_grad(module: cst.Module, cells: set[str]) -> cst.Module:
    return module.visit(DropNoGrad(cells))
