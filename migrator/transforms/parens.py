"""Parentheses a translation needs: a call replaced by an operation (`F.normalize(q)` ->
`q / ops.clamp(...)`) inside a larger expression (`F.normalize(q) @ k`, `F.normalize(k).swapaxes(...)`)
keeps the call's grouping. A parsed tree never holds an operand of lower precedence without
parentheses, so any such operand was produced by a translation and gets them."""
from __future__ import annotations

import libcst as cst

_ATOM = 16
_BINARY = {cst.BitOr: 6, cst.BitXor: 7, cst.BitAnd: 8, cst.LeftShift: 9, cst.RightShift: 9, cst.Add: 10,
           cst.Subtract: 10, cst.Multiply: 11, cst.Divide: 11, cst.FloorDivide: 11, cst.Modulo: 11,
           cst.MatrixMultiply: 11, cst.Power: 13}


def _precedence(node) -> int:
    if node.lpar if hasattr(node, "lpar") else False:
        return _ATOM
    t = type(node)
    if t is cst.BinaryOperation:
        return _BINARY.get(type(node.operator), _ATOM)
    if t is cst.UnaryOperation:
        return 4 if isinstance(node.operator, cst.Not) else 12
    if t is cst.Comparison:
        return 5
    if t is cst.BooleanOperation:
        return 2 if isinstance(node.operator, cst.Or) else 3
    if t is cst.IfExp:
        return 1
    if t in (cst.Lambda, cst.NamedExpr):
        return 0
    if t is cst.Await:
        return 14
    return _ATOM


def _wrap(node, need: int):
    if _precedence(node) >= need:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def fix_operands(node):
    """`node` with each operand that binds less tightly than its place needs parenthesised."""
    t = type(node)
    if t is cst.BinaryOperation:
        p = _BINARY.get(type(node.operator), _ATOM)
        if p == 13:  # ** binds right to left; its right side may be a unary operation
            left, right = _wrap(node.left, 14), _wrap(node.right, 12)
        else:
            left, right = _wrap(node.left, p), _wrap(node.right, p + 1)
        if left is not node.left or right is not node.right:
            return node.with_changes(left=left, right=right)
    elif t is cst.UnaryOperation:
        e = _wrap(node.expression, 4 if isinstance(node.operator, cst.Not) else 12)
        if e is not node.expression:
            return node.with_changes(expression=e)
    elif t in (cst.Attribute, cst.Subscript):
        v = _wrap(node.value, _ATOM)
        if v is not node.value:
            return node.with_changes(value=v)
    elif t is cst.Call:
        f = _wrap(node.func, _ATOM)
        if f is not node.func:
            return node.with_changes(func=f)
    elif t is cst.Comparison:
        left = _wrap(node.left, 6)
        comps = [c.with_changes(comparator=_wrap(c.comparator, 6)) for c in node.comparisons]
        if left is not node.left or any(a.comparator is not b.comparator for a, b in zip(comps, node.comparisons)):
            return node.with_changes(left=left, comparisons=comps)
    elif t is cst.BooleanOperation:
        p = 2 if isinstance(node.operator, cst.Or) else 3
        left, right = _wrap(node.left, p), _wrap(node.right, p + 1)
        if left is not node.left or right is not node.right:
            return node.with_changes(left=left, right=right)
    return node


OPERAND_HOLDERS = frozenset({cst.BinaryOperation, cst.UnaryOperation, cst.Attribute, cst.Subscript, cst.Call,
                             cst.Comparison, cst.BooleanOperation})
