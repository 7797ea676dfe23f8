"""`torch.autograd.grad(outputs, inputs, grad_outputs, create_graph=...)`.

torch differentiates the graph recorded from `inputs` to `outputs`; MindSpore differentiates a
function. So the statements of the block that compute `outputs` from `inputs` (after the inputs
are bound) become a function of the inputs, and the call becomes `ms_autograd_grad(fn, inputs,
grad_outputs, create_graph=...)` (runtime/tensor_autograd.py)::

    interpolates = (...).requires_grad_(True)      interpolates = ms_leaf(...)
    d_interpolates = D(interpolates)          ->   def grad_fn(interpolates):
    gradients = autograd.grad(                         d_interpolates = D(interpolates)
        outputs=d_interpolates,                        return d_interpolates
        inputs=interpolates,                       gradients = ms_autograd_grad(
        grad_outputs=fake, create_graph=True)[0]       grad_fn, interpolates, fake, create_graph=True)[0]

A statement the function computes is kept where it was only when something after the call
reads what it assigns (then it runs twice, and a note says so). Inside a function MindSpore
differentiates (a training step's forward), the result is differentiated again: a gradient
penalty's second-order gradients, as with create_graph=True in torch.
"""
from __future__ import annotations

import libcst as cst

from ..context import MARKER_PREFIX, FileContext
from ..signature import BindError, bind, parse_signature
from . import runtime

API = "torch.autograd.grad"
_SIG = parse_signature("outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True, "
                       "allow_unused=None, is_grads_batched=False, materialize_grads=False")


def rewrite(ctx: FileContext, conv, body: list, module: bool = False) -> list:
    """Every `torch.autograd.grad(...)` call in a direct statement of this block (module: the
    module's top level, where every name may be read later)."""
    if not _may_call(ctx):
        return body
    out = list(body)
    i = 0
    while i < len(out):
        call = _grad_call(ctx, out[i])
        if call is not None:
            new = _rewrite_one(ctx, conv, out, i, call, module)
            if new is not None:
                out, i = new
                continue
        i += 1
    return out


def _may_call(ctx: FileContext) -> bool:
    """Whether the file can reach torch.autograd.grad at all: it spells `autograd`, or a name it
    imports (also through another module of the project) is bound to torch.autograd. Decided once
    per file: most files never call it, and looking into every statement of every block is costly."""
    if ctx.may_call_autograd_grad is None:
        ctx.may_call_autograd_grad = "autograd" in ctx.source \
            or any(v.startswith("torch.autograd") for v in ctx.table.aliases.values())
    return ctx.may_call_autograd_grad


def _grad_call(ctx: FileContext, stmt) -> cst.Call | None:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return None
    found = []

    class V(cst.CSTVisitor):
        def visit_Call(self, node) -> None:
            if ctx.table.resolve(node.func) == API:
                found.append(node)

    stmt.visit(V())
    return found[0] if len(found) == 1 else None


def _names(node) -> list[str] | None:
    """`x` or `[a, b]` / `(a, b)`: the names; None for any other expression."""
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.List, cst.Tuple)) and node.elements \
            and all(isinstance(e.value, cst.Name) and not isinstance(e, cst.StarredElement) for e in node.elements):
        return [e.value.value for e in node.elements]
    return None


def _rewrite_one(ctx: FileContext, conv, body: list, k: int, call: cst.Call, module: bool):
    from .calls import code
    from .training import names_of

    try:
        bound = bind(_SIG, call.args)
    except BindError:
        return None
    v = bound.values
    if "outputs" not in v or "inputs" not in v:
        return None
    inputs = _names(v["inputs"])
    if inputs is None or len(set(inputs)) != len(inputs):
        return None
    outputs = v["outputs"]
    # the statements computing the outputs from the inputs, after the inputs are bound
    needed = set(names_of(outputs).reads) - set(inputs)
    picked = []
    for i in range(k - 1, -1, -1):
        stmt = body[i]
        n = names_of(stmt)
        if set(n.binds) & set(inputs):
            break
        if needed & set(n.binds):
            if not isinstance(stmt, cst.SimpleStatementLine):
                return None  # a loop or branch computes the outputs: left to the marker
            picked.append(i)
            needed |= set(n.reads) - set(inputs)
    picked.reverse()
    if not picked and not (set(names_of(outputs).reads) & set(inputs)):
        return None  # the outputs are not computed here from the inputs
    stmts = [body[i] for i in picked]
    assigned = {x for s in stmts for x in names_of(s).binds}
    later = {r for s in body[k + 1:] for r in names_of(s).reads} | set(names_of(body[k]).reads) - _call_reads(call)
    keep = bool(assigned & later) or module
    fn_name = _fresh(ctx, conv, "grad_fn")
    if keep:
        fn_body = [s.with_changes(leading_lines=[]) for s in stmts]
    else:  # moved: their comments move with them
        fn_body = [s.with_changes(leading_lines=[l for l in s.leading_lines if l.comment is not None]) for s in stmts]
    fn_body.append(cst.parse_statement(f"return {code(outputs)}\n"))
    fn = cst.FunctionDef(name=cst.Name(fn_name),
                         params=cst.Parameters(params=[cst.Param(cst.Name(p)) for p in inputs]),
                         body=cst.IndentedBlock(body=fn_body))
    args = [fn_name, code(v["inputs"])]
    if "grad_outputs" in v and code(v["grad_outputs"]).strip() != "None":
        args.append(code(v["grad_outputs"]))
    if "create_graph" in v:  # (retain_graph keeps torch's graph for another backward: nothing to keep here)
        args.append(f"create_graph={code(v['create_graph'])}")
    new_call = cst.parse_expression(f"ms_autograd_grad({', '.join(args)})")
    stmt = body[k]
    replaced = stmt.deep_replace(call, new_call)
    replaced = replaced.with_changes(leading_lines=_without_marker(replaced.leading_lines))
    _withdraw(ctx, conv, stmt)
    runtime.require(ctx, "tensor_autograd")
    fn = fn.with_changes(leading_lines=_without_marker(stmt.leading_lines))  # the call's comments stay above it
    if keep and stmts:  # a note above the function
        from .markers import attach
        from ..context import Finding
        note = Finding("warning", API, "the statements computing the outputs run again in the function "
                       "ms_autograd_grad differentiates (the same values; BatchNorm statistics are updated once "
                       "more, dropout draws again)", conv.original_node(stmts[0]))
        ctx.findings.append(note)
        fn = attach(fn, [note])
    replaced = replaced.with_changes(leading_lines=[])
    new_body = [s for j, s in enumerate(body[:k]) if keep or j not in picked] + [fn, replaced] + body[k + 1:]
    ctx.translated()
    return new_body, len([j for j in range(k) if keep or j not in picked]) + 2


def _call_reads(call) -> set[str]:
    from .training import names_of
    return set(names_of(call).reads)


def _fresh(ctx: FileContext, conv, base: str) -> str:
    import re
    name, n = base, 0
    while re.search(rf"\b{name}\b", ctx.source) or name in conv.fresh_names:
        n += 1
        name = f"{base}_{n}"
    conv.fresh_names.add(name)
    return name


def _without_marker(lines):
    prefix = f"{MARKER_PREFIX} {API}:"
    return [l for l in lines if l.comment is None or not l.comment.value.startswith(prefix)]


def _withdraw(ctx: FileContext, conv, stmt) -> None:
    """The marker's finding for torch.autograd.grad on this statement: translated after all."""
    for f in list(conv.stmt_findings.get(stmt, [])):
        if f.api != API:
            continue
        conv.stmt_findings[stmt].remove(f)
        if f in ctx.findings:
            ctx.findings.remove(f)
            if f.kind == "untranslated":
                ctx.apis_found -= 1
                refs = ctx.torch_refs_left
                for i, (q, _) in enumerate(refs):
                    if q == API:
                        del refs[i]
                        break
