"""The training step.

torch records a graph while the forward runs and ``loss.backward()`` fills ``.grad``;
MindSpore differentiates a function. So the statements that compute the loss become a forward
function, differentiated with ``mindspore.value_and_grad`` with respect to the optimizer's
parameters, and ``optimizer.step()`` applies the gradients::

    optimizer.zero_grad()                      def forward_fn():
    output = model(data)                           output = model(data)
    loss = F.nll_loss(output, target)   ->         loss = ops.nll_loss(output, target)
    loss.backward()                                return loss, output
    optimizer.step()                           (loss, output), grads = mindspore.value_and_grad(
                                                   forward_fn, None, optimizer.parameters, has_aux=True)()
                                               optimizer(grads)

The forward function is the backward slice of the loss within the block (everything from the
first statement the loss depends on); every name it assigns is returned and re-bound, and names
it reads before assigning become its parameters, so the code after it sees what it saw before.

That direct form is used when one ``backward`` is followed by its optimizer's ``step`` in the
same block. Anything else (several ``backward`` calls per step, a ``step`` under an ``if`` for
gradient accumulation, ``zero_grad`` elsewhere) keeps torch's accumulate-until-``zero_grad``
semantics through a small runtime helper (``migrator/runtime/grad_buffer.py``) copied into the
output. What cannot be restructured safely is left in place with a marker saying why.
"""
from __future__ import annotations

import re

import libcst as cst

from ..context import FileContext
from ..names import TORCH_ROOTS, dotted_name
from . import runtime
from .methods import _MODULE_NAME

BUFFER = "ms_grad_buffer"


# ---- recognising statements -------------------------------------------------------------------
def _call_of(stmt) -> cst.Call | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
            and isinstance(stmt.body[0].value, cst.Call):
        return stmt.body[0].value
    return None


def _method_stmt(stmt, name: str) -> cst.BaseExpression | None:
    """The receiver of a statement `<receiver>.<name>(...)`, else None."""
    call = _call_of(stmt)
    if call is not None and isinstance(call.func, cst.Attribute) and call.func.attr.value == name:
        return call.func.value
    return None


def backward_receiver(stmt):
    return _method_stmt(stmt, "backward")


def step_receiver(stmt):
    call = _call_of(stmt)
    if call is not None and not call.args:
        return _method_stmt(stmt, "step")
    return None


def zero_grad_receiver(stmt):
    return _method_stmt(stmt, "zero_grad")


_READS_GRAD = re.compile(r"\.grad\b")


def closure_step(call) -> bool:
    """`opt.step(closure)` / `opt.step(closure=closure)` (L-BFGS style: the optimizer calls the
    closure, which recomputes the loss and its gradients)."""
    return isinstance(call.func, cst.Attribute) and call.func.attr.value == "step" and len(call.args) == 1 \
        and call.args[0].star == "" and (call.args[0].keyword is None or call.args[0].keyword.value == "closure")


def scaler_step_optimizer(stmt, kinds=None):
    """`opt` for a `scaler.step(opt)` statement (torch.amp.GradScaler; see runtime/amp.py)."""
    call = _call_of(stmt)
    if call is None or not isinstance(call.func, cst.Attribute) or call.func.attr.value != "step" \
            or len(call.args) != 1 or call.args[0].keyword is not None:
        return None
    name = dotted_name(call.func.value)
    if name is None or not (name.lower().endswith("scaler") or (kinds is not None and kinds.of.get(name) == "scaler")):
        return None
    return call.args[0].value


CLIP_NORM = "torch.nn.utils.clip_grad_norm_"
CLIP_VALUE = "torch.nn.utils.clip_grad_value_"


def clip_call(stmt, ctx: FileContext, originals: dict) -> tuple[str, cst.Call, cst.BaseExpression | None] | None:
    """(kind, original call, assigned target) for `clip_grad_norm_(...)` statements."""
    orig = originals.get(stmt)
    if orig is None or not isinstance(orig, cst.SimpleStatementLine) or len(orig.body) != 1:
        return None
    small = orig.body[0]
    target = None
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target, value = small.targets[0].target, small.value
    elif isinstance(small, cst.Expr):
        value = small.value
    else:
        return None
    if not isinstance(value, cst.Call):
        return None
    q = ctx.table.resolve(value.func)
    if q in (CLIP_NORM, "torch.nn.utils.clip_grad.clip_grad_norm_"):
        return "norm", value, target
    if q in (CLIP_VALUE, "torch.nn.utils.clip_grad.clip_grad_value_"):
        return "value", value, target
    return None


# ---- names read and assigned --------------------------------------------------------------------
class _Names(cst.CSTVisitor):
    """Names a statement reads and binds, in order (bindings after reads within a statement)."""

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.binds: list[str] = []
        self.free: list[str] = []  # reads before the statement itself binds the name (`with`, `if` bodies)

    def visit_Name(self, node: cst.Name) -> None:
        self.reads.append(node.value)
        if node.value not in self.binds:
            self.free.append(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_FunctionDef(self, node) -> bool:
        self.binds.append(node.name.value)
        return False

    def visit_ClassDef(self, node) -> bool:
        self.binds.append(node.name.value)
        return False

    def visit_Lambda(self, node) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> bool:
        node.value.visit(self)
        for t in node.targets:
            self._target(t.target)
        return False

    def visit_AugAssign(self, node: cst.AugAssign) -> bool:
        node.value.visit(self)
        if isinstance(node.target, cst.Name):
            node.target.visit(self)  # `x += 1` reads x
        self._target(node.target)
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        if node.value is not None:
            node.value.visit(self)
        self._target(node.target)
        return False

    def visit_For(self, node: cst.For) -> bool:
        node.iter.visit(self)
        self._target(node.target)
        node.body.visit(self)
        if node.orelse:
            node.orelse.visit(self)
        return False

    def visit_WithItem(self, node: cst.WithItem) -> bool:
        node.item.visit(self)
        if node.asname is not None:
            self._target(node.asname.name)
        return False

    def _target(self, t) -> None:
        if isinstance(t, cst.Name):
            self.binds.append(t.value)
        elif isinstance(t, (cst.Tuple, cst.List)):
            for e in t.elements:
                self._target(e.value)
        elif isinstance(t, cst.StarredElement):
            self._target(t.value)
        else:  # attribute / subscript targets read their base
            t.visit(self)


_NAMES_CACHE: dict = {}


def names_of(node) -> _Names:
    """Names read and bound by a statement; remembered per node for the current block."""
    v = _NAMES_CACHE.get(node)
    if v is None:
        v = _Names()
        node.visit(v)
        _NAMES_CACHE[node] = v
    return v


# ---- the rewrite --------------------------------------------------------------------------------
def rewrite_block(ctx: FileContext, conv, body: list, module: bool = False) -> list:
    """Restructure every `loss.backward()` that is a direct statement of this block (and, first,
    every `torch.autograd.grad(...)` call: transforms/autograd_grad.py)."""
    if conv.convert_methods:
        from . import autograd_grad
        try:
            body = autograd_grad.rewrite(ctx, conv, body, module)
        finally:
            _NAMES_CACHE.clear()
    if not conv.convert_methods or not any(backward_receiver(s) is not None or _guarded_backward(s) for s in body):
        return body  # (already converted code: what is left there was left on purpose)
    try:
        return _BlockRewrite(ctx, conv, body).run()
    finally:
        _NAMES_CACHE.clear()


class _BlockRewrite:
    def __init__(self, ctx: FileContext, conv, body: list):
        self.ctx, self.conv, self.body = ctx, conv, body
        self.out = list(body)
        self.replace: dict[int, list] = {}  # index -> statements replacing it
        self.moved: set[int] = set()  # indices moved into a forward function
        self.region_binds: set[str] = set()
        self.buffered: set[str] = set()  # optimizers an earlier backward of this block buffered for
        self.deferred: dict[int, list[int]] = {}  # backward index -> statements of its loss set aside

    def run(self) -> list:
        # `torch.autograd.backward(...)`, `dist_autograd.backward(...)`: a module's function, not
        # `loss.backward()` (its receiver would become the "loss")
        backward_idx = [i for i, s in enumerate(self.body) if backward_receiver(s) is not None
                        and not _is_torch_module(self.ctx, backward_receiver(s))]
        steps = {i: self._step_of(s) for i, s in enumerate(self.body) if self._is_step(s)}
        zero_grads = [i for i, s in enumerate(self.body) if zero_grad_receiver(s) is not None]
        for i, s in enumerate(self.body):
            if _guarded_backward(s):
                self._guarded(i, backward_idx, steps)
        for b in backward_idx:
            self._one(b, backward_idx, steps, zero_grads)
        result = []
        for i, stmt in enumerate(self.body):
            if i in self.moved:
                continue
            result += self.replace.get(i, [stmt])
        return result

    def _one(self, b: int, backward_idx: list[int], steps: dict[int, str | None], zero_grads: list[int]) -> None:
        stmt = self.body[b]
        loss = self._loss_of(stmt)
        optimizer, step_at, direct = self._optimizer_for(b, backward_idx, steps)
        optimizer, step_at, direct = self._optimizer_of_models(b, loss, steps, optimizer, step_at, direct)
        if optimizer is None:
            if not self._to_grad_attributes(b, loss, backward_idx, steps) \
                    and not self._to_leaf_grads(b, loss, backward_idx, steps):
                self._untranslated(b, "loss.backward() without an optimizer.step() in the same block: "
                                      "compute gradients with mindspore.value_and_grad by hand")
            return
        if not direct and step_at is None and self._reads_grad_after(b) \
                and self._to_grad_attributes(b, loss, backward_idx, steps):
            # the step is one branch and a hand-written update reading p.grad another (word_language_model's
            # `if args.use_optimizer: optimizer.step() else: p.data.add_(p.grad, alpha=-lr)`): the
            # gradients go to .grad, as in torch, and the step reads them there
            self.conv.grad_optimizers.add(optimizer)
            return
        lower = max([i for i in backward_idx if i < b] + [i for i in steps if i < b] + [-1]) + 1
        lower = max([lower] + [i + 1 for i in range(lower, b) if _cell_boundary(self.body[i])])  # notebooks
        lower = self._after_optimizer_made(lower, b, optimizer, zero_grads, loss)
        if b in self.deferred:  # computed before an earlier backward() of this block (see _defer_later)
            region = _Region(self.deferred[b], loss)
        else:
            region = self._slice(loss, lower, b, exclude=self._defer_later(b, lower, loss, backward_idx))
        if isinstance(region, str):
            self._untranslated(b, region)
            return
        # an earlier backward() of this block whose gradients went to the buffer for the same
        # optimizer: this one adds to them and the step applies the sum (DCGAN's D step:
        # errD_real.backward(); errD_fake.backward(); optimizerD.step())
        canonical = direct and any(lower <= z or z > b for z in zero_grads) and \
            all(not (b < i < step_at) for i in backward_idx) and optimizer not in self.buffered
        if _runs_no_model([self.body[i] for i in region.indices] + region.recompute, loss, self.ctx) \
                and not self._reads_leaves(region, loss):
            self.ctx.warn("torch.Tensor.backward", "this step's forward function calls no model: if the loss is "
                          "made of outputs computed before the step (log-probabilities or values saved in a list "
                          "during an episode), MindSpore's gradients are zero, as it differentiates a function; "
                          "compute those outputs inside the step", self.conv.original_node(stmt))
        fn_name = self._fresh("forward_fn")
        grads = self._fresh("grads")
        stmts, binding = self._forward_function(fn_name, loss, region, b)
        call = (f"mindspore.value_and_grad({fn_name}, None, {optimizer}.parameters"
                f"{', has_aux=True' if binding.has_aux else ''})({self._call_args(binding, region)})")
        lead = stmt.leading_lines
        new = stmts + [self._stmt(f"{binding.target}, {grads} = {call}")]
        if canonical:
            self.replace[step_at] = [self._stmt(f"{optimizer}({grads})", self.body[step_at])]
            self.conv.pending_training.discard(self.body[step_at])
            for z in zero_grads:
                if self.buffered:
                    break  # another optimizer of this block buffers: the zero_grad()s reset that buffer
                if self.body[z] in self.conv.pending_training:
                    self.conv.pending_training.discard(self.body[z])
                    self.conv._remove.add(self.body[z])  # removed; its comments move to the next line
                    self.ctx.translated()
            self._clips(b, step_at, grads, optimizer, canonical=True, scaler=self._scaler_of(stmt))
            if _READS_GRAD.search(self.ctx.source):  # `p.grad` read (before the step): torch shows the gradients
                runtime.require(self.ctx, "param_grads")
                new.append(self._stmt(f"ms_set_grads({optimizer}.parameters, {grads})"))
        else:
            runtime.require(self.ctx, "grad_buffer")
            new.append(self._stmt(f"{BUFFER}.add({optimizer}, {grads})"))
            if _READS_GRAD.search(self.ctx.source):  # `p.grad` read: the gradients added up so far, as torch's
                new.append(self._stmt(f"{BUFFER}.attach({optimizer})"))
            self.conv.accumulating.add(optimizer)
            self.buffered.add(optimizer)
            if self._scaler_of(stmt):
                self.conv.scaled[optimizer] = self._scaler_of(stmt)
            self._clips(b, step_at if step_at is not None else len(self.body), grads, optimizer, canonical=False,
                        scaler=self._scaler_of(stmt))
        new[0] = new[0].with_changes(leading_lines=[*_strip_markers(lead), *new[0].leading_lines])
        for i in region.indices:
            self.moved.add(i)
        self.replace[b] = new
        self.ctx.translated()  # the backward call
        self.ctx.imports_needed["import mindspore"] = None

    def _reads_leaves(self, region, loss) -> bool:
        """Does the forward read a tensor the file makes with requires_grad=True (`w = torch.zeros(2,
        requires_grad=True)`, trained by `SGD([w, b])`)? Then it differentiates that leaf directly."""
        leaves = _leaf_names(self.ctx)
        reads = set(names_of(loss).reads)
        for i in region.indices:
            reads |= set(names_of(self.body[i]).reads)
        return bool(leaves & reads)

    def _after_optimizer_made(self, lower: int, b: int, optimizer: str, zero_grads: list[int], loss) -> int:
        """The forward starts after the optimizer is built and after its zero_grad(): the model
        the optimizer holds was made before it (`model = build(); opt = SGD(model.parameters())`
        in the same block must not move into the forward function). Not when the loss itself is
        computed before them (`loss = ...; optimizer.zero_grad(); loss.backward()`)."""
        head = optimizer.split(".")[0]
        loss_name = dotted_name(loss)
        for i in range(b - 1, lower - 1, -1):
            if i in zero_grads or head in names_of(self.body[i]).binds:
                if loss_name and any(loss_name in names_of(self.body[j]).binds for j in range(lower, i + 1)):
                    return lower
                return i + 1
        return lower

    def _call_args(self, binding, region) -> str:
        """The forward function's arguments at its call. A name the function only may have bound
        by then (word_language_model: `if args.model != 'Transformer': hidden = ...`, read by the
        forward only on that path) is passed as `locals().get('hidden')`: torch never reads it on
        the other path, where passing it plainly would raise UnboundLocalError."""
        start = min(region.indices) if region.indices else len(self.body)
        bound_here = {x for st in self.body[:start] if not _is_compound(st) for x in names_of(st).binds}
        definite = self.conv.definitely_bound()
        return ", ".join(p if definite is None or p in definite or p in bound_here else f"locals().get({p!r})"
                         for p in binding.params)

    def _reads_grad_after(self, b: int) -> bool:
        from .calls import code
        return any(_READS_GRAD.search(code(stmt)) for stmt in self.body[b + 1:])

    # -- `loss.backward()` and no optimizer: the gradients go to the parameters' .grad
    def _to_grad_attributes(self, b: int, loss, backward_idx: list[int], steps: dict) -> bool:
        """The forward is differentiated with respect to the trainable parameters of the models
        it calls (`fc(x)`, `self.net(x)`); the gradients are added to each parameter's .grad
        (runtime/param_grads.py), as torch does, for code that reads them (a hand-written update).
        A zero_grad() of those models sets them to None again."""
        lower = max([i for i in backward_idx if i < b] + [i for i in steps if i < b] + [-1]) + 1
        lower = max([lower] + [i + 1 for i in range(lower, b) if _cell_boundary(self.body[i])])  # notebooks
        region = self._slice(loss, lower, b)
        if isinstance(region, str) or not region.indices:
            return False
        models = []
        for i in region.indices:
            for name in _called_models(self.body[i], self.conv):
                if name not in models:
                    models.append(name)
        if not models:
            return False
        fn_name, grads, params = self._fresh("forward_fn"), self._fresh("grads"), self._fresh("params")
        stmts, binding = self._forward_function(fn_name, loss, region, b)
        if _has_leaves(self.ctx):  # tensors with requires_grad=True get their gradients too
            new = stmts + [
                self._stmt(f"{params} = " + " + ".join(f"{m}.trainable_params()" for m in models)),
                self._backward_call(binding, region, b, params)]
        else:
            runtime.require(self.ctx, "param_grads")
            new = stmts + [
                self._stmt(f"{params} = " + " + ".join(f"{m}.trainable_params()" for m in models)),
                self._stmt(f"{binding.target}, {grads} = mindspore.value_and_grad({fn_name}, None, {params}"
                           f"{', has_aux=True' if binding.has_aux else ''})({self._call_args(binding, region)})"),
                self._stmt(f"ms_attach_grads({params}, {grads})")]
        new[0] = new[0].with_changes(leading_lines=[*_strip_markers(self.body[b].leading_lines), *new[0].leading_lines])
        self.moved |= set(region.indices)
        self.replace[b] = new
        self.conv.grad_attributes.update(models)
        self.ctx.translated()
        self.ctx.imports_needed["import mindspore"] = None
        return True

    # -- `loss.backward()` on tensors made with requires_grad=True (autograd leaves): their .grad
    def _to_leaf_grads(self, b: int, loss, backward_idx: list[int], steps: dict) -> bool:
        """No optimizer and no model: the loss comes from leaves (`w = torch.randn(.., requires_grad=True)`,
        runtime/tensor_autograd.py). The statements computing it become a function that
        ms_backward differentiates with respect to the live leaves, adding to their .grad::

            def forward_fn():                      y_pred = x.mm(w1).clamp(min=0).mm(w2)
                y_pred = x.mm(w1)...         <-    loss = (y_pred - y).pow(2).sum()
                loss = ...                         loss.backward()
                return loss, [y_pred]
            loss, [y_pred] = ms_backward(forward_fn, has_aux=True)
        """
        if not _has_leaves(self.ctx):
            return False
        lower = max([i for i in backward_idx if i < b] + [i for i in steps if i < b] + [-1]) + 1
        lower = max([lower] + [i + 1 for i in range(lower, b) if _cell_boundary(self.body[i])])  # notebooks
        region = self._slice(loss, lower, b)
        if isinstance(region, str) or (not region.indices and isinstance(loss, cst.Name)):
            return False
        fn_name = self._fresh("forward_fn")
        stmts, binding = self._forward_function(fn_name, loss, region, b)
        new = stmts + [self._backward_call(binding, region, b, None)]
        new[0] = new[0].with_changes(leading_lines=[*_strip_markers(self.body[b].leading_lines), *new[0].leading_lines])
        self.moved |= set(region.indices)
        self.replace[b] = new
        self.ctx.translated()
        return True

    def _backward_call(self, binding, region, b: int, params: str | None):
        """`<targets> = ms_backward(forward_fn, <args>, has_aux=.., params=.., gradient=..)`."""
        from .calls import code
        runtime.require(self.ctx, "tensor_autograd")
        call = _call_of(self.body[b])
        extra = []
        if binding.has_aux:
            extra.append("has_aux=True")
        if params:
            extra.append(f"params={params}")
        for i, a in enumerate(call.args):  # backward(gradient=None, retain_graph=None, create_graph=False, inputs=None)
            if (a.keyword is None and i == 0) or (a.keyword is not None and a.keyword.value == "gradient"):
                extra.append(f"gradient={code(a.value)}")
        args = ", ".join(x for x in [self._call_args(binding, region), *extra] if x)
        return self._stmt(f"{binding.target} = ms_backward({binding.fn_name}, {args})" if args
                          else f"{binding.target} = ms_backward({binding.fn_name})")

    # -- `if phase == 'train': loss.backward(); optimizer.step()` after the loss is computed here
    def _guarded(self, i: int, backward_idx: list[int], steps: dict[int, str | None]) -> None:
        """The forward statements before the `if` become the forward function; under the condition
        it is differentiated (and the steps apply the gradients), otherwise just called::

            def forward_fn():
                outputs = model(inputs)
                loss = criterion(outputs, labels)
                return loss, outputs
            if phase == 'train':
                (loss, outputs), grads = mindspore.value_and_grad(forward_fn, ...)()
                optimizer(grads)
            else:
                loss, outputs = forward_fn()

        The backward may sit deeper, in `if`/`else` branches inside the guarded block (`if use_amp:
        scaler.scale(loss).backward() ... else: loss.backward() ...`): the gradients are taken once,
        where the guard holds, and each branch's step applies them. Only when every backward there
        is of this one loss, nothing there re-assigns the loss, one optimizer is stepped, and the
        condition reads nothing the forward assigns; the inner blocks' markers for the backward
        calls are withdrawn."""
        stmt = self.body[i]
        backwards = list(_guarded_statements(stmt.body.body, backward_receiver))
        losses = {dotted_name(self._loss_of(s)) for s in backwards}
        if len(losses) != 1 or None in losses or "." in next(iter(losses)) \
                or any(_call_of(s).args for s in backwards):
            return
        loss = cst.Name(losses.pop())
        optimizers = {self._step_of(s) for s in _guarded_statements(stmt.body.body, self._is_step_or_none)}
        if len(optimizers) != 1 or None in optimizers:
            return
        optimizer = optimizers.pop()
        if self.conv.kinds.of.get(optimizer) == "scheduler" or loss.value in names_of(stmt.body).binds:
            return
        lower = max([j for j in backward_idx if j < i] + [j for j in steps if j < i] + [-1]) + 1
        lower = max([lower] + [j + 1 for j in range(lower, i) if _cell_boundary(self.body[j])])  # notebooks
        region = self._slice(loss, lower, i)
        if isinstance(region, str) or not region.indices:
            return
        assigned = {x for j in region.indices for x in names_of(self.body[j]).binds}
        if assigned & set(names_of(stmt.test).reads):
            return  # the condition needs what the forward computes
        fn_name, grads = self._fresh("forward_fn"), self._fresh("grads")
        fn, binding = self._forward_function(fn_name, loss, region, i)
        args = self._call_args(binding, region)
        take = self._stmt(f"{binding.target}, {grads} = mindspore.value_and_grad({fn_name}, None, "
                          f"{optimizer}.parameters{', has_aux=True' if binding.has_aux else ''})({args})")
        body = [take, *self._apply_grads(list(stmt.body.body), optimizer, grads)]
        plain = self._stmt(f"{binding.target} = {fn_name}({args})")
        orelse = cst.Else(body=cst.IndentedBlock(body=[plain]))
        if stmt.orelse is not None:
            orelse = stmt.orelse.with_changes(body=stmt.orelse.body.with_changes(body=[plain, *stmt.orelse.body.body]))
        new_if = stmt.with_changes(body=stmt.body.with_changes(body=body), orelse=orelse)
        blank = [l for l in self.body[region.indices[0]].leading_lines if l.comment is None]  # comments moved in
        fn[0] = fn[0].with_changes(leading_lines=[*blank, *fn[0].leading_lines])
        self.replace[i] = [*fn, new_if]
        self.moved |= set(region.indices)
        self.ctx.translated(len(backwards))  # the backward calls
        self.ctx.imports_needed["import mindspore"] = None

    def _is_step_or_none(self, stmt):
        return True if self._is_step(stmt) else None

    def _apply_grads(self, body: list, optimizer: str, grads: str) -> list:
        """A guarded block once the gradients are taken: backward calls go (their comments stay),
        steps become `optimizer(grads)`, clipping between them clips `grads`; nested `if`s alike."""
        sub = _BlockRewrite(self.ctx, self.conv, body)
        step_idx = [j for j, s in enumerate(body) if self._is_step(s)]
        for j in step_idx:
            sub.replace[j] = [self._stmt(f"{optimizer}({grads})", body[j])]
            self.conv.pending_training.discard(body[j])
        for k, s in enumerate(body):
            if backward_receiver(s) is not None:
                sub._clips(k, next((j for j in step_idx if j > k), len(body)), grads, optimizer, canonical=True,
                           scaler=self._scaler_of(s))
                self._withdraw_backward_marker(s)
                sub.replace[k] = []
            elif isinstance(s, cst.If):
                sub.replace[k] = [self._apply_grads_if(s, optimizer, grads)]
        out, carry = [], []
        for j, s in enumerate(body):
            for x in sub.replace.get(j, [s]):
                if carry:
                    x = x.with_changes(leading_lines=[*carry, *x.leading_lines])
                    carry = []
                out.append(x)
            if j in sub.replace and not sub.replace[j]:
                carry += _strip_markers(s.leading_lines)
        if carry or not out:
            out.append(cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=carry))
        return out

    def _apply_grads_if(self, node: cst.If, optimizer: str, grads: str) -> cst.If:
        body = node.body.with_changes(body=self._apply_grads(list(node.body.body), optimizer, grads))
        orelse = node.orelse
        if isinstance(orelse, cst.If):
            orelse = self._apply_grads_if(orelse, optimizer, grads)
        elif isinstance(orelse, cst.Else):
            orelse = orelse.with_changes(body=orelse.body.with_changes(
                body=self._apply_grads(list(orelse.body.body), optimizer, grads)))
        return node.with_changes(body=body, orelse=orelse)

    def _withdraw_backward_marker(self, stmt) -> None:
        """The inner block marked this backward untranslated (its loss came from here): no longer."""
        for f in list(self.conv.stmt_findings.get(stmt, [])):
            if f.api == "torch.Tensor.backward" and f in self.ctx.findings:
                self.ctx.findings.remove(f)
                self.ctx.apis_found -= 1

    # -- torch.amp.GradScaler: `scaler.scale(loss).backward()`, `scaler.step(optimizer)`. The
    # converted step computes float32 gradients, where loss scaling is the identity
    # (migrator/runtime/amp.py), so these are the loss's backward and the optimizer's step.
    def _is_scaler(self, node) -> bool:
        name = dotted_name(node)
        return name is not None and (self.conv.kinds.of.get(name) == "scaler" or name.lower().endswith("scaler"))

    def _loss_of(self, stmt):
        loss = backward_receiver(stmt)
        if isinstance(loss, cst.Call) and isinstance(loss.func, cst.Attribute) and loss.func.attr.value == "scale" \
                and len(loss.args) == 1 and loss.args[0].keyword is None and self._is_scaler(loss.func.value):
            return loss.args[0].value
        return loss

    def _scaler_of(self, stmt) -> str | None:
        """`scaler` for a `scaler.scale(loss).backward()` statement."""
        loss = backward_receiver(stmt)
        return dotted_name(loss.func.value) if self._loss_of(stmt) is not loss else None

    def _scaler_step(self, stmt):
        return scaler_step_optimizer(stmt, self.conv.kinds)

    def _is_step(self, stmt) -> bool:
        return step_receiver(stmt) is not None or self._scaler_step(stmt) is not None

    def _step_of(self, stmt) -> str | None:
        """The optimizer an `optimizer.step()` / `scaler.step(optimizer)` statement steps."""
        r = step_receiver(stmt)
        return dotted_name(r if r is not None else self._scaler_step(stmt))

    # -- which optimizer applies these gradients
    def _optimizer_for(self, b, backward_idx, steps):
        later = sorted(i for i in steps if i > b)
        if later:
            s = later[0]
            name = steps[s]
            if name is not None and self.conv.kinds.of.get(name) not in ("scheduler",):
                return name, s, True
        # a step nested in a later compound statement (gradient accumulation)
        for i in range(b + 1, len(self.body)):
            found = _nested_step(self.body[i])
            if found:
                return found, None, False
        known = sorted({n for n, k in self.conv.kinds.of.items() if k == "optimizer"})
        if len(known) == 1:
            return known[0], None, False
        return None, None, False

    def _optimizer_of_models(self, b, loss, steps, optimizer, step_at, direct):
        """Several optimizers stepped after several backward() calls (two models trained side by
        side: `l1.backward(); l2.backward(); opt1.step(); opt2.step()`): each loss goes with the
        optimizer built over the parameters of the model its statements read, when exactly one
        optimizer stepped later in the block is and the first one stepped is not (every optimizer
        stepped later being built over one model's parameters)."""
        later = [(i, name) for i, name in sorted(steps.items()) if i > b and name]
        if len({name for _, name in later}) < 2:
            return optimizer, step_at, direct
        needed = set(names_of(loss).reads)  # every name the loss's statements read
        for i in range(b - 1, -1, -1):
            n = names_of(self.body[i])
            if needed & set(n.binds):
                needed |= set(n.reads)
        models = {name: self._model_of_optimizer(name) for _, name in later}
        if None in models.values() or optimizer not in models or models[optimizer] in needed:
            return optimizer, step_at, direct  # the first optimizer stepped may be this loss's: as before
        matches = [(i, name) for i, name in later if models[name] in needed]
        if len({name for _, name in matches}) != 1:
            return optimizer, step_at, direct
        i, name = matches[0]
        return name, i, True

    def _model_of_optimizer(self, name: str) -> str | None:
        """`model` for an optimizer built as `name = <Optimizer>(model.parameters(), ...)` in the file."""
        m = re.search(rf"(?m)^\s*{re.escape(name)}\s*=\s*[\w.]+\(\s*(?:params\s*=\s*)?([\w.]+)\.parameters\(\)",
                      self.ctx.source)
        return m.group(1).split(".")[0] if m else None

    def _defer_later(self, b: int, lower: int, loss, backward_idx: list[int]) -> set[int]:
        """Statements of [lower, b) that only a later backward()'s loss needs (`loss_a = ...; loss_b
        = ...; loss_a.backward(); loss_b.backward()`): they go into that backward's forward function,
        not this one's, so each function computes its own loss."""
        mine = set(self._pure_slice(loss, lower, b))
        out: set[int] = set()
        for b2 in backward_idx:
            if b2 <= b or b2 in self.deferred:
                continue
            name = dotted_name(self._loss_of(self.body[b2]))
            if not name or "." in name or any(name in names_of(self.body[i]).binds for i in range(b, b2)):
                continue
            extra = [i for i in self._pure_slice(cst.Name(name), lower, b) if i not in mine and i not in out]
            if not extra or self._scaler_of(self.body[b2]):
                continue
            bound = {x for i in extra for x in names_of(self.body[i]).binds}
            rest = [i for i in range(min(extra), b) if i not in extra and i not in out]
            if any(bound & set(names_of(self.body[i]).reads) for i in rest):
                continue  # something this step computes reads them: leave the block as it is
            self.deferred[b2] = sorted(extra)
            out |= set(extra)
        return out

    def _pure_slice(self, loss, lower: int, b: int) -> list[int]:
        needed = set(names_of(loss).reads)
        indices = []
        for i in range(b - 1, lower - 1, -1):
            stmt = self.body[i]
            if _makes_leaf(stmt):
                needed -= set(names_of(stmt).binds)
                continue
            if zero_grad_receiver(stmt) is not None or clip_call(stmt, self.ctx, self.conv.originals) \
                    or self._constructs(stmt) or _is_compound(stmt):
                continue
            n = names_of(stmt)
            if needed & set(n.binds):
                indices.append(i)
                needed |= set(n.reads)
        return sorted(indices)

    # -- the statements the loss depends on
    def _slice(self, loss: cst.BaseExpression, lower: int, b: int, exclude: set[int] = frozenset()):
        needed = set(names_of(loss).reads)
        indices = []
        for i in range(b - 1, lower - 1, -1):
            if i in exclude:
                continue
            stmt = self.body[i]
            if _makes_leaf(stmt):  # `x = ms_leaf(x)`: the leaf is what is differentiated, not what made it
                needed -= set(names_of(stmt).binds)
                continue
            if zero_grad_receiver(stmt) is not None or clip_call(stmt, self.ctx, self.conv.originals) \
                    or self._constructs(stmt):
                continue
            n = names_of(stmt)
            if needed & set(n.binds):
                indices.append(i)
                needed |= set(n.reads)
        if not indices:
            binders = [i for i in range(b) if isinstance(loss, cst.Name) and loss.value in names_of(self.body[i]).binds]
            if binders and any(_cell_boundary(self.body[j]) for j in range(binders[-1] + 1, b)):
                return "the loss is computed in an earlier notebook cell: MindSpore differentiates a function, so " \
                       "compute the loss in the cell that calls backward(), or restructure by hand"
            if isinstance(loss, cst.Name) and any(loss.value in names_of(self.body[i]).binds for i in range(b)):
                return "the loss is computed before an earlier backward()/step() in this block: MindSpore " \
                       "differentiates a function, so restructure the two steps by hand"
            if not isinstance(loss, cst.Name):
                return _Region([], loss)
            return "the loss is computed outside this block: move its computation next to backward()"
        start = min(indices)
        region_idx = [i for i in range(start, b)
                      if zero_grad_receiver(self.body[i]) is None and not clip_call(self.body[i], self.ctx, self.conv.originals)
                      and not self._constructs(self.body[i]) and i not in exclude]
        lost = self._outside_forward_passes(region_idx, start)
        recompute = self._recomputable(lost, start, b) if lost else []
        if lost and recompute is None:
            return (f"the loss depends on {', '.join(lost)}, computed by a model before this step's forward "
                    "(for an earlier backward()); MindSpore differentiates a function, so gradients through it "
                    "would be lost: compute it inside this step or restructure by hand")
        region = _Region(region_idx, loss)
        region.recompute = recompute
        return region

    def _recomputable(self, lost: list[str], start: int, b: int) -> list | None:
        """GAN steps: the generator's loss goes through `fake = netG(noise)`, computed before the
        discriminator's step. MindSpore differentiates a function, so the generator's forward
        function computes `fake` again from the same inputs (the same values; a note says that
        BatchNorm statistics in netG are updated once more, and dropout would draw again). Only
        for `name = <call>` statements whose inputs nothing re-binds before the backward; else None."""
        out = []
        for name in lost:
            j = next((j for j in range(start - 1, -1, -1) if name in names_of(self.body[j]).binds), None)
            stmt = self.body[j] if j is not None else None
            if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                    and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1
                    and isinstance(stmt.body[0].targets[0].target, cst.Name)):
                return None
            reads = set(names_of(stmt.body[0].value).reads)
            if any(reads & set(names_of(self.body[k]).binds) for k in range(j + 1, b)) or reads & set(lost):
                return None
            out.append((j, stmt))
        for _, stmt in sorted(out, key=lambda p: p[0]):
            self.ctx.warn("torch.Tensor.backward", f"{_code_of(stmt.body[0].targets[0].target)} is computed again inside "
                          "this step's forward function (MindSpore differentiates a function): the same values; "
                          "BatchNorm running statistics of the model that computes it are updated once more, "
                          "and dropout in it would draw again", self.conv.original_node(stmt))
        return [copy for _, copy in sorted(out, key=lambda p: p[0])]

    def _constructs(self, stmt) -> bool:
        """Does the statement build a model, optimizer, scheduler or loader? Such statements stay
        where they are (before the forward function, which uses the objects they make): moved
        into it, they would build a new model every step, and the optimizer would not exist yet
        when value_and_grad asks for its parameters."""
        kinds = self.conv.kinds.of
        binds = names_of(stmt).binds
        return bool(binds) and (any(kinds.get(b) in ("module", "optimizer", "scheduler", "loader") for b in binds)
                                or _makes_leaf(stmt))

    def _outside_forward_passes(self, region_idx: list[int], start: int) -> list[str]:
        """Free names of the forward function whose value came from a model call earlier in the
        block: torch's graph would reach through them, a MindSpore function cannot."""
        stmts = [self.body[i] for i in region_idx]
        bound, free = set(), []
        for st in stmts:
            n = names_of(st)
            free += [r for r in n.reads if r not in bound and r not in free]
            bound |= set(n.binds)
        lost = []
        for name in free:
            for j in range(start - 1, -1, -1):
                if name in names_of(self.body[j]).binds:
                    if not self._constructs(self.body[j]) and _calls_a_model(self.body[j], self.conv):
                        lost.append(name)
                    break
        return lost

    def _forward_function(self, fn_name: str, loss, region: "_Region", b: int):
        stmts = [*(_without_comments(st) for st in region.recompute), *(self.body[i] for i in region.indices)]
        binds: list[str] = []
        params: list[str] = []
        for s in stmts:
            n = names_of(s)
            for r in n.free:
                if r not in binds and r not in params and _assigned_in(r, stmts):
                    params.append(r)
            for x in n.binds:
                if x not in binds:
                    binds.append(x)
        self.region_binds |= set(binds)
        loss_name = loss.value if isinstance(loss, cst.Name) and loss.value in binds else None
        # functions defined in it (ms_autograd_grad's, transforms/autograd_grad.py) are not values to return
        local_defs = {s.name.value for s in stmts if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
        aux = [x for x in binds if x != loss_name and x != fn_name and x not in local_defs]
        from .calls import code
        loss_code = loss_name or code(loss)
        # one value besides the loss goes in a list: MindSpore's has_aux refuses a (loss, x) pair
        # whose x is not a tensor (a torch.distributions object, an int), and takes (loss, [x])
        aux_code = [f"[{aux[0]}]"] if len(aux) == 1 else aux
        ret = ", ".join([loss_code, *aux_code])
        ret_stmt = self._stmt(f"return {ret}")
        if loss_name is None:  # `expr.backward()`: the markers of what expr uses move with it
            ret_stmt = ret_stmt.with_changes(leading_lines=_markers_but_backward(self.body[b].leading_lines))
        body = stmts + [ret_stmt]
        first = body[0]
        body[0] = first.with_changes(leading_lines=[l for l in first.leading_lines if l.comment is not None])
        fn = cst.FunctionDef(name=cst.Name(fn_name), params=cst.Parameters(params=[cst.Param(cst.Name(p)) for p in params]),
                             body=cst.IndentedBlock(body=body))
        target_loss = loss_name or "_"
        binding = _Binding(params=params, has_aux=bool(aux),
                           target=f"({', '.join([target_loss, *aux_code])})" if aux else target_loss)
        binding.fn_name = fn_name
        return [fn], binding

    def _clips(self, b: int, end: int, grads: str, optimizer: str, canonical: bool, scaler: str | None = None) -> None:
        """Clipping between the backward and the step clips the gradients. After
        `scaler.scale(loss).backward()` and before `scaler.unscale_(optimizer)`, torch clips the
        scaled gradients: the same as clipping the real ones at the limit divided by the scale."""
        for i in range(b + 1, end):
            if scaler is not None and _method_stmt(self.body[i], "unscale_") is not None \
                    and dotted_name(_method_stmt(self.body[i], "unscale_")) == scaler:
                scaler = None
            found = clip_call(self.body[i], self.ctx, self.conv.originals)
            if not found:
                continue
            new = clip_statements(self.ctx, found, grads, optimizer, canonical, scaler)
            if new is None:
                continue
            new[0] = new[0].with_changes(leading_lines=_strip_markers(self.body[i].leading_lines))
            self.replace[i] = new
            self.conv.retract(self.body[i])
            self.ctx.translated()

    # -- helpers
    def _fresh(self, base: str) -> str:
        name, n = base, 0
        while re.search(rf"\b{name}\b", self.ctx.source) or name in self.conv.fresh_names:
            n += 1
            name = f"{base}_{n}"
        self.conv.fresh_names.add(name)
        return name

    def _stmt(self, text: str, like=None) -> cst.SimpleStatementLine:
        from .calls import render_code
        stmt = cst.parse_statement(_render_all(self.ctx, text) + "\n")
        if like is not None:
            stmt = stmt.with_changes(leading_lines=_strip_markers(like.leading_lines),
                                     trailing_whitespace=like.trailing_whitespace)
        return stmt

    def _untranslated(self, b: int, reason: str) -> None:
        from .markers import attach
        from ..context import Finding
        original = self.conv.original_node(self.body[b])
        call = _call_of(original) or original
        f = Finding("untranslated", "torch.Tensor.backward", reason, call)
        self.ctx.apis_found += 1
        self.ctx.findings.append(f)
        marked = attach(self.body[b], [f])
        self.conv.stmt_findings[marked] = [*self.conv.stmt_findings.get(self.body[b], []), f]
        self.replace[b] = [marked]


def clip_statements(ctx: FileContext, found, grads: str | None, optimizer: str, canonical: bool,
                    scaler: str | None) -> list | None:
    """What `clip_grad_norm_(params, limit)` / `clip_grad_value_` becomes once the gradients are
    values: clipping `grads` (canonical step) or the optimizer's accumulated gradients. After a
    scaled backward and before unscale_, torch clips scaled gradients: the limit is divided by
    the scale. None when the call cannot be read (a norm other than 2, unknown keywords)."""
    from .calls import code
    kind, call, target = found
    args = list(call.args)
    limit = None
    for j, a in enumerate(args):
        if (a.keyword is None and j == 1) or (a.keyword is not None and a.keyword.value in ("max_norm", "clip_value")):
            limit = code(a.value)
    extra = [a for a in args if a.keyword is not None and a.keyword.value not in ("max_norm", "clip_value", "parameters")]
    if limit is None or any(a.keyword.value not in ("norm_type", "error_if_nonfinite", "foreach") for a in extra):
        return None
    if any(a.keyword.value == "norm_type" and code(a.value).strip() not in ("2", "2.0") for a in extra):
        return None
    if scaler is not None:
        limit = f"({limit}) / {scaler}.get_scale()"
    source = grads if canonical else f"{BUFFER}.grads({optimizer})"
    new = []
    if target is not None:
        new.append(f"{code(target)} = mindspore.ops.norm(mindspore.ops.stack([mindspore.ops.norm(g) for g in {source}]))")
    if kind == "norm":
        new.append(f"{grads} = mindspore.ops.clip_by_global_norm({grads}, {limit})" if canonical
                   else f"{BUFFER}.clip_norm({optimizer}, {limit})")
    else:
        new.append(f"{grads} = tuple(mindspore.ops.clamp(g, -{limit}, {limit}) for g in {grads})" if canonical
                   else f"{BUFFER}.clip_value({optimizer}, {limit})")
    return [cst.parse_statement(_render_all(ctx, t) + "\n") for t in new]


class _Region:
    def __init__(self, indices: list[int], loss):
        self.indices, self.loss = indices, loss
        self.recompute: list = []  # statements computed again at the start of the forward function


def _cell_boundary(stmt) -> bool:
    """A notebook's cell separator (migrator/notebook.py): a forward function never takes
    statements from an earlier cell, so every cell keeps its own code."""
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, cst.Call) and isinstance(stmt.body[0].value.func, cst.Name)
            and stmt.body[0].value.func.value == "__ms_migrate_cell__")


def _without_comments(stmt):
    return stmt.with_changes(leading_lines=[], trailing_whitespace=cst.TrailingWhitespace())


def _code_of(node) -> str:
    from .calls import code
    return code(node)


def _is_compound(stmt) -> bool:
    return isinstance(stmt, cst.BaseCompoundStatement) and not isinstance(stmt, cst.With)


class _Binding:
    def __init__(self, params, has_aux, target):
        self.params, self.has_aux, self.target = params, has_aux, target
        self.fn_name = None


_LEAF_SOURCE = re.compile(r"requires_grad|autograd")


def _makes_leaf(stmt) -> bool:
    """Does the (converted) statement make an autograd leaf (`w = ms_leaf(...)`)? The leaf is what
    gradients are taken with respect to, so it is made before the forward function, not in it."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Assign):
        return False
    value = stmt.body[0].value
    return isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "ms_leaf"


_LEAF_ASSIGN = re.compile(r"(?m)^[ \t]*([A-Za-z_]\w*)[ \t]*=[^=\n].*(?:requires_grad[ \t]*=[ \t]*True|requires_grad_\()")
_LEAF_FLAG = re.compile(r"(?m)^[ \t]*([A-Za-z_]\w*)\.requires_grad[ \t]*=[ \t]*True")


def _leaf_names(ctx: FileContext) -> set[str]:
    """Names the file assigns tensors made with requires_grad=True to (by its source lines)."""
    return set(_LEAF_ASSIGN.findall(ctx.source)) | set(_LEAF_FLAG.findall(ctx.source))


def _has_leaves(ctx: FileContext) -> bool:
    """May the file make autograd leaves (tensors with requires_grad, autograd Functions)?"""
    return bool(_LEAF_SOURCE.search(ctx.source))


_MODELISH = re.compile(r"(model|net|encoder|decoder|generator|discriminator|backbone|classifier|layer|block|head)",
                       re.IGNORECASE)


_NOT_A_MODEL_PREFIXES = ("ops.", "mindspore.", "mint.", "np.", "numpy.", "math.", "random.", "nn.functional.")
_BUILTINS = frozenset(dir(__import__("builtins"))) | {"deque", "OrderedDict", "defaultdict", "Counter", "count"}


def _runs_no_model(stmts: list, loss, ctx: FileContext) -> bool:
    """Do the forward function's statements and loss call nothing but MindSpore/numpy functions,
    builtins, and tensor or list methods? Then nothing in it can reach a model's parameters
    (unless the loss reads a parameter directly, which this cannot tell)."""
    from .methods import CONTAINER_METHODS

    helpers = runtime.helper_names()
    calls = []

    class V(cst.CSTVisitor):
        def visit_Call(self, node) -> None:
            calls.append(node)

    for st in stmts:
        st.visit(V())
    loss.visit(V())
    for call in calls:
        name = dotted_name(call.func)
        if name is None:
            if isinstance(call.func, cst.Attribute):  # (a * b).sum(), f(x).mean()
                method = call.func.attr.value
                if method in CONTAINER_METHODS or ctx.rules.method_rules(method):
                    continue
            return False
        if name in _BUILTINS or name in helpers or name.startswith(_NOT_A_MODEL_PREFIXES):
            continue
        if "." in name and not name.startswith("self."):
            method = name.rsplit(".", 1)[1]
            base = name.rsplit(".", 1)[0]
            if (method in CONTAINER_METHODS or any(r.receiver == "tensor" for r in ctx.rules.method_rules(method))
                    or method in _MS_TENSOR_METHODS) and not _MODELISH.search(base.rsplit(".", 1)[-1]):
                continue  # log_prob.sum(), losses.append(...)
        return False
    return True


_MS_TENSOR_METHODS = frozenset({"appendleft", "popleft", "extendleft", "rotate", "sum", "mean", "squeeze", "unsqueeze", "reshape", "view", "swapaxes", "astype",
                                "broadcast_to", "tile", "gather", "asnumpy", "item", "abs", "pow", "log", "exp"})


def _calls_a_model(stmt, conv) -> bool:
    """Does the statement run a model forward (a call of something known or named as a model)?"""
    found = []

    class V(cst.CSTVisitor):
        def visit_Call(self, node) -> None:
            name = dotted_name(node.func)
            if name is None:
                return
            if conv.kinds.of.get(name) == "module" or name.split(".")[0] in conv.known_cells \
                    or name.startswith("self.") or _MODELISH.search(name.rsplit(".", 1)[-1]) \
                    or name in ("G", "D", "netG", "netD"):
                found.append(name)

    stmt.visit(V())
    return bool(found)


def _called_models(stmt, conv) -> list[str]:
    """Names of the models a statement calls (`fc(x)`, `self.encoder(x)`): a name known to hold a
    module or a class of the file's Cells, or self.<attr> inside a Cell."""
    found: list[str] = []

    class V(cst.CSTVisitor):
        def visit_Call(self, node) -> None:
            name = dotted_name(node.func)
            if name is None or name in found:
                return
            kind = conv.kinds.of.get(name)
            if kind == "module" or (name.startswith("self.") and name.count(".") == 1 and conv._in_cell()) \
                    or (kind is None and _MODULE_NAME.search(name.rsplit(".", 1)[-1])):
                found.append(name)  # the last: `model = model.RNNModel(...)` from the user's own package

    stmt.visit(V())
    return found


def _assigned_in(name: str, stmts) -> bool:
    return any(name in names_of(s).binds for s in stmts)


def _guarded_statements(body, match):
    """Statements of a block, and of the `if`/`elif`/`else` branches nested in it, for which
    match(stmt) is not None."""
    for s in body:
        if isinstance(s, cst.If):
            node = s
            while node is not None:
                if isinstance(node.body, cst.IndentedBlock):
                    yield from _guarded_statements(node.body.body, match)
                orelse = node.orelse
                if isinstance(orelse, cst.Else) and isinstance(orelse.body, cst.IndentedBlock):
                    yield from _guarded_statements(orelse.body.body, match)
                node = orelse if isinstance(orelse, cst.If) else None
        elif match(s) is not None:
            yield s


def _guarded_backward(stmt) -> bool:
    """`if <cond>: ... loss.backward() ... step()`, the backward directly in the `if` or in `if`/`else`
    branches inside it (the `if` itself may have an `else:`, not an `elif`)."""
    return isinstance(stmt, cst.If) and isinstance(stmt.body, cst.IndentedBlock) \
        and (stmt.orelse is None or isinstance(stmt.orelse, cst.Else)) \
        and next(_guarded_statements(stmt.body.body, backward_receiver), None) is not None \
        and (stmt.orelse is None or next(_guarded_statements(stmt.orelse.body.body, backward_receiver), None) is None)


def _nested_step(stmt) -> str | None:
    """`opt` for an `opt.step()` statement somewhere inside a compound statement."""
    if not isinstance(stmt, cst.BaseCompoundStatement):
        return None
    found: list[str] = []

    class V(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node) -> bool:
            r = step_receiver(node)
            if r is not None and dotted_name(r):
                found.append(dotted_name(r))
            return False

    stmt.visit(V())
    return found[0] if found else None


def _strip_markers(lines):
    from ..context import MARKER_PREFIX
    return [l for l in lines if l.comment is None or not l.comment.value.startswith(MARKER_PREFIX)]


def _is_torch_module(ctx: FileContext, node) -> bool:
    name = dotted_name(node)
    return name is not None and (ctx.table.resolve(node) is not None or name.split(".")[0] in TORCH_ROOTS)


def _markers_but_backward(lines):
    from ..context import MARKER_PREFIX
    return [l for l in lines if l.comment is not None and l.comment.value.startswith(MARKER_PREFIX)
            and not l.comment.value.startswith(f"{MARKER_PREFIX} torch.Tensor.backward:")]


def _render_all(ctx: FileContext, text: str) -> str:
    from .calls import _MS_CHAIN
    return _MS_CHAIN.sub(lambda m: ctx.render_text(m.group(0)), text)


# ---- statements outside restructured blocks: zero_grad / step under accumulation ---------------
def _in_place_of(original_node, text: str):
    """A statement replacing `original_node`, keeping its comments above and after it."""
    return cst.parse_statement(text).with_changes(leading_lines=original_node.leading_lines,
                                                  trailing_whitespace=original_node.trailing_whitespace)


class LeftoverRewriter(cst.CSTTransformer):
    """Second pass, run only when a file has `zero_grad()`/`step()` statements that no direct
    training step consumed: under accumulation they drive the gradient buffer; otherwise a
    `zero_grad()` has nothing to reset in MindSpore and goes."""

    def __init__(self, ctx: FileContext, conv, pending: set):
        self.ctx, self.conv, self.pending = ctx, conv, pending
        self.unscaled: set[str] = set()  # scalers whose unscale_() ran (since their last update())

    def visit_SimpleStatementLine(self, node) -> None:
        for method, add in (("unscale_", True), ("update", False)):
            r = _method_stmt(node, method)
            if r is not None and dotted_name(r) in self.conv.scaled.values():
                (self.unscaled.add if add else self.unscaled.discard)(dotted_name(r))

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if original_node not in self.pending:
            return updated_node
        found = clip_call(original_node, self.ctx, self.conv.originals)
        if found and self.conv.grad_attributes and not self.conv.accumulating:
            # clipping the gradients backward() put on the parameters' .grad (runtime/param_grads.py)
            small = updated_node.body[0]
            helper = "ms_clip_grad_norm_" if found[0] == "norm" else "ms_clip_grad_value_"
            runtime.require(self.ctx, "param_grads")
            self.conv.retract(original_node)
            self.ctx.translated()
            return updated_node.with_changes(body=[small.with_changes(value=small.value.with_changes(
                func=cst.Name(helper)))], leading_lines=_strip_markers(updated_node.leading_lines))
        if found:  # clipping the accumulated gradients of the one optimizer accumulating
            if len(self.conv.accumulating) != 1:
                return updated_node
            optimizer = next(iter(self.conv.accumulating))
            scaler = self.conv.scaled.get(optimizer)
            new = clip_statements(self.ctx, found, None, optimizer, False,
                                  None if scaler in self.unscaled else scaler)
            if new is None:
                return updated_node
            self.conv.retract(original_node)
            self.ctx.translated()
            new[0] = new[0].with_changes(leading_lines=_strip_markers(original_node.leading_lines))
            return cst.FlattenSentinel(new)
        scaled_step = scaler_step_optimizer(original_node, self.conv.kinds)
        if scaled_step is not None and dotted_name(scaled_step) in self.conv.accumulating:
            self.ctx.translated()
            return _in_place_of(original_node, f"{BUFFER}.step({dotted_name(scaled_step)})\n")
        z = zero_grad_receiver(original_node)
        s = step_receiver(original_node)
        from .calls import code
        if z is not None and dotted_name(z) in self.conv.grad_attributes:
            self.ctx.translated()  # the model's parameters' .grad (see _to_grad_attributes)
            runtime.require(self.ctx, "param_grads")
            return _in_place_of(original_node, f"ms_zero_grads({dotted_name(z)}.trainable_params())\n")
        if z is not None and dotted_name(z) in self.conv.grad_optimizers:
            self.ctx.translated()
            return _in_place_of(original_node, f"ms_zero_grads({dotted_name(z)}.parameters)\n")
        if s is not None and dotted_name(s) in self.conv.grad_optimizers:
            self.ctx.translated()
            return _in_place_of(original_node, f"ms_step_from_grads({dotted_name(s)})\n")
        if z is not None:
            name = dotted_name(z)
            self.ctx.translated()
            if not self.conv.accumulating:  # removed, its comments kept (leave_IndentedBlock)
                line = updated_node.with_changes(body=[cst.Pass()])
                self.conv._remove.add(line)
                return line
            arg = name if name in self.conv.accumulating else ""
            return _in_place_of(original_node, f"{BUFFER}.zero({arg})\n")
        if s is not None and dotted_name(s) in self.conv.accumulating:
            self.ctx.translated()
            return _in_place_of(original_node, f"{BUFFER}.step({code(s)})\n")
        return updated_node

    def leave_Call(self, original_node, updated_node):
        if closure_step(updated_node) and dotted_name(updated_node.func.value) in self.conv.accumulating:
            # the closure fills the buffer; the buffer's step calls it (again and again, for L-BFGS)
            from .calls import code
            return cst.parse_expression(f"{BUFFER}.step({code(updated_node.func.value)}, "
                                        f"{code(updated_node.args[0].value)})")
        return updated_node

    def leave_IndentedBlock(self, original_node, updated_node):
        body = self.conv._drop_removed(list(updated_node.body), updated_node)
        if not body:
            return updated_node.with_changes(body=[cst.SimpleStatementLine(body=[cst.Pass()])])
        return updated_node.with_changes(body=body)

    def leave_Module(self, original_node, updated_node):
        return updated_node.with_changes(body=self.conv._drop_removed(list(updated_node.body), updated_node))
