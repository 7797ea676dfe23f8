"""The one tree pass: a libcst transformer that dispatches each node to the concern that owns it.

References and calls (``transforms.calls``), method calls (``transforms.methods``), model
classes (``transforms.classes``), the training step (``transforms.training``), imports
(``transforms.imports``) and markers (``transforms.markers``) live in their own modules; this
class only walks the tree once and keeps the little state the walk needs.
"""
from __future__ import annotations

import re

import libcst as cst

from .context import FileContext, Untranslated
from .names import TORCH_ROOTS, dotted_name
from .param_map import built_members, naming_fix_signal
from .transforms import calls, classes, imports, markers, methods, no_grad, parens, runtime, training
from .transforms.decorators import ReferenceCounter, without_decorators
from .transforms.narrowing import local_layers, class_name_literal_fix, class_name_source, narrowing_of



class _Scope:
    __slots__ = ("kind", "is_cell", "name", "init_of", "naming_fix", "helper", "node", "definite", "built", "mode_calls")

    def __init__(self, kind: str, name: str, is_cell: bool = False, helper: bool = False):
        self.kind, self.name, self.is_cell = kind, name, is_cell
        self.helper = helper  # a runtime helper's definition (in a file converted a second time)
        self.init_of: str | None = None  # a Cell's __init__: its first parameter (`self`)
        self.naming_fix = False  # that __init__ needs param_map.NAMING_FIX (see naming_fix_signal)
        self.built: set[str] = set()  # in that __init__: members assigned the result of a call so far
        self.node = None  # a function's FunctionDef
        self.definite: set[str] | None = None  # names it surely binds before any statement runs (lazy)
        self.mode_calls = 0  # in a Cell's __init__: the walk's count of mode-setting calls when it began


class Converter(cst.CSTTransformer):
    def __init__(self, ctx: FileContext, convert_methods: bool = True):
        super().__init__()
        self.ctx = ctx
        ctx.name_calls = []
        self.convert_methods = convert_methods
        self._hooks: dict[tuple, object] = {}  # see _hook
        self._dropped_decorators: set[cst.Decorator] = set()
        self._type_check_args: set[cst.Arg] = set()  # class arguments of isinstance/issubclass calls
        self._type_checks = 0  # inside one of them, or a comparison
        self._narrowing_blocks: dict[cst.IndentedBlock, dict] = {}  # see visit_If
        self._narrowed: list[dict] = []  # the narrowings of the blocks being visited
        self.kinds = methods.Kinds()
        self.known_cells: set[str] = set(ctx.table.external_cells)  # model classes (also from other modules)
        self.scopes: list[_Scope] = []
        # Node sets hold the nodes themselves (libcst nodes hash by identity), which keeps
        # them alive: a set of id()s could match a new node that reuses a freed address.
        self._call_funcs: set[cst.CSTNode] = set()
        self._call_marks: list[tuple[int, int]] = []  # (findings, torch refs) when each open call began
        self._torch_chains: set[cst.CSTNode] = set()
        self._not_a_reference = 0  # inside Attribute.attr, Arg.keyword
        self._binding_names: set[cst.CSTNode] = set()  # Name targets of assignments
        self._depth = 0  # indented blocks entered
        self._dropped: set[cst.CSTNode] = set()  # expressions whose statement is to be removed
        self._remove: set[cst.CSTNode] = set()  # statement lines to remove
        self._import_lines: list[cst.SimpleStatementLine] = []  # top-level torch import lines, in order
        self._drop_statement = False  # the current statement only configures torch (template "")
        self._in_simple_statement = False
        self._assign_targets: list = []  # targets of the assignment being visited (never rewritten to values)
        self._class_names: dict[str, str] = {}  # classname -> m, for `classname = m.__class__.__name__`
        self._literal_fixes: dict[cst.CSTNode, str] = {}  # 'Linear' in a class-name test -> 'Dense'
        self._guarded_torch_imports = False  # the file already has the guarded torch imports
        self._einops_layers: dict[str, str] = {}  # local name of einops.layers.torch.Rearrange -> helper Cell
        self._setter_targets: dict[cst.CSTNode, object] = {}  # `torch.x.flag = v` targets -> rule (setter)
        # for the training step (transforms/training.py)
        self.originals: dict[cst.CSTNode, cst.CSTNode] = {}  # output statement line -> input line
        self._graph_refs: dict = {}  # `x.grad_fn` reported untranslated -> (finding, its spelling)
        self.stmt_findings: dict[cst.CSTNode, list] = {}  # output statement line -> its findings
        self.pending_training: set[cst.CSTNode] = set()  # zero_grad()/step() lines not yet consumed
        self.accumulating: set[str] = set()  # optimizers whose gradients go through the runtime buffer
        self.closure_steps: set[str] = set()  # receivers of `x.step(closure)` calls (L-BFGS style)
        self._mode_calls = 0  # calls of .train()/.eval()/.set_train() seen so far (see _in_training_mode)
        self.grad_attributes: set[str] = set()  # models whose gradients go to their parameters' .grad
        self.grad_optimizers: set[str] = set()  # optimizers stepping with those .grad (runtime/param_grads.py)
        self.scaled: dict[str, str] = {}  # accumulating optimizer -> the GradScaler its backward went through
        self.fresh_names: set[str] = set()
        self._param_renames: list[dict] = []  # per class: member -> {torch param: MindSpore param}
        self._call_renames: list[dict] = []  # per class: member -> {forward keyword: construct keyword}
        self._shadows: dict | None = None  # scope node -> torch aliases shadowed there (see visit_Module)
        self._mixins: set[str] = set()  # plain classes with a forward that model classes derive from
        self._shadow_stack: list[frozenset] = []
        self._outer_fors: set = set()

    # ---- dispatch: libcst looks up visit_<Type> by formatting a name and getattr for every node
    # and every field of it; one dict lookup per (type, field) is the same thing, cheaper ---------
    def on_visit(self, node) -> bool:
        fn = _hook(self, "visit_", type(node))
        return fn is None or fn(self, node) is not False

    def on_leave(self, original_node, updated_node):
        fn = _hook(self, "leave_", type(original_node))
        result = updated_node if fn is None else fn(self, original_node, updated_node)
        if type(result) in parens.OPERAND_HOLDERS:  # a translated operand keeps its grouping
            result = parens.fix_operands(result)
        return result

    def on_visit_attribute(self, node, attribute) -> None:
        if attribute in _HOOKED_FIELDS:  # most fields (whitespace, parentheses...) have no hook
            fn = _hook(self, "visit_", type(node), attribute)
            if fn is not None:
                fn(self, node)

    def on_leave_attribute(self, original_node, attribute) -> None:
        if attribute in _HOOKED_FIELDS:
            fn = _hook(self, "leave_", type(original_node), attribute)
            if fn is not None:
                fn(self, original_node)

    # ---- statement frames (markers attach to the statement that holds the finding) -----
    def _push(self) -> None:
        self.ctx.frames.append([])

    def _pop_attach(self, node):
        return markers.attach(node, self.ctx.frames.pop())

    def _is_module_alias(self, node) -> bool:
        """`F = torch.nn.functional` at module level: an alias like an import (uses through it are
        converted) and the line goes. The import table decides (names.build_import_table with the
        rules' is_namespace): `DTYPE = torch.float32` is not one and stays, translated."""
        return node in self.ctx.table.rebindings

    def visit_SimpleStatementLine(self, node) -> bool:
        if self._is_module_alias(node):
            return False  # `F = torch.nn.functional`: an alias like an import; uses through it are converted
        self._push()
        self._drop_statement = False
        self._in_simple_statement = True
        return True

    def leave_SimpleStatementLine(self, original_node, updated_node):
        self._in_simple_statement = False
        if self._is_module_alias(original_node):
            return self._removed_line(updated_node)
        if self._drop_statement:
            self._drop_statement = False
            self.ctx.frames.pop()
            return self._removed_line(updated_node)
        is_torch_import = any(isinstance(s, (cst.Import, cst.ImportFrom)) and imports.strip_torch(s) is not s
                              for s in original_node.body)
        findings = self.ctx.frames[-1]
        node = self._pop_attach(updated_node)
        self.originals[node] = original_node
        if findings:
            self.stmt_findings[node] = findings
        if training.zero_grad_receiver(node) is not None or training.step_receiver(node) is not None \
                or training.scaler_step_optimizer(node, self.kinds) is not None \
                or training.clip_call(node, self.ctx, self.originals):
            self.pending_training.add(node)
        # `x = x.to(device)` became `x = x`: gone (a self-assignment the user wrote stays)
        moot = [s for s in node.body if _is_self_assignment(s) and not any(s.deep_equals(o) for o in original_node.body)]
        if moot:
            node = node.with_changes(body=[s for s in node.body if all(s is not m for m in moot)])
            self.originals[node] = original_node
        if not node.body:
            if is_torch_import and self._depth == 0:
                # keep the line's place (and comments) for the MindSpore imports
                placeholder = node.with_changes(body=[cst.Pass()])
                self._import_lines.append(placeholder)
                return placeholder
            return self._removed_line(node)
        return node

    def retract(self, stmt) -> None:
        """Findings of a statement the training rewrite translated after all."""
        for f in self.stmt_findings.pop(stmt, []):
            if f in self.ctx.findings:
                self.ctx.findings.remove(f)
                if f.kind == "untranslated":
                    self.ctx.apis_found -= 1
                    refs = self.ctx.torch_refs_left
                    for i, (q, _) in enumerate(refs):
                        if q == f.api:
                            del refs[i]
                            break

    def original_node(self, stmt):
        return self.originals.get(stmt, stmt)

    def _removed_line(self, node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        line = node.with_changes(body=[cst.Pass()])
        self._remove.add(line)
        return line

    # ---- blocks -------------------------------------------------------------------------
    def visit_IndentedBlock(self, node) -> None:
        self._depth += 1
        if node in self._narrowing_blocks:
            self._narrowed.append(self._narrowing_blocks[node])

    def leave_IndentedBlock(self, original_node, updated_node):
        self._depth -= 1
        if original_node in self._narrowing_blocks:
            self._narrowed.pop()
        body = training.rewrite_block(self.ctx, self, list(updated_node.body))
        body = self._drop_removed(body, updated_node)
        if not body:
            body = [cst.SimpleStatementLine(body=[cst.Pass()])]
        return updated_node.with_changes(body=body)

    def _drop_removed(self, body, owner):
        """Remove marked statements; their comments move to the next statement."""
        out, carry = [], []
        for stmt in body:
            if stmt in self._remove:
                carry += list(stmt.leading_lines)
                trailing = stmt.trailing_whitespace.comment
                if trailing is not None:
                    carry.append(cst.EmptyLine(indent=True, comment=trailing))
                continue
            if carry:
                stmt = stmt.with_changes(leading_lines=[*carry, *stmt.leading_lines])
                carry = []
            out.append(stmt)
        if carry and out:
            out.append(cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=carry))
        return out

    # ---- the torch imports kept for untranslated uses, guarded (see _guarded_imports); a second
    # run leaves the guard as it is
    def visit_Try(self, node) -> bool:
        comment = node.body.header.comment if isinstance(node.body, cst.IndentedBlock) else None
        if comment is not None and comment.value.startswith(GUARD_COMMENT):
            self._guarded_torch_imports = True
            return False
        return True

    def leave_Try(self, original_node, updated_node):
        return imports.import_fallback(original_node, updated_node)

    def leave_SimpleString(self, original_node, updated_node):
        new = self._literal_fixes.get(original_node)
        return updated_node if new is None else updated_node.with_changes(value=new)

    # ---- x[range(n), y]: torch indexes with a range, MindSpore wants a list (numpy takes both)
    def leave_Index(self, original_node, updated_node):
        value = updated_node.value
        if not _constant_index(value) and not self._in_helper():
            self._computed_index = True  # maybe a numpy value (see runtime/numpy_index.py)
        if self.convert_methods and isinstance(value, cst.Call) and isinstance(value.func, cst.Name) \
                and value.func.value == "range":
            return updated_node.with_changes(value=cst.Call(func=cst.Name("list"), args=[cst.Arg(value)]))
        return updated_node

    def _converted_before(self) -> bool:
        """Whether the file holds runtime helpers of an earlier conversion (searched for once)."""
        if not hasattr(self, "_has_helpers"):
            self._has_helpers = runtime.BANNER_PREFIX in self.ctx.source
        return self._has_helpers

    def _in_helper(self) -> bool:
        """Inside a runtime helper copied in by a first run: its code is not the user's."""
        return bool(self.scopes) and self.scopes[-1].helper

    def leave_Slice(self, original_node, updated_node):
        if any(b is not None and not _constant_index(b) for b in (updated_node.lower, updated_node.upper, updated_node.step)) \
                and not self._in_helper():
            self._computed_index = True
        return updated_node

    # ---- f"{loss:.4f}": torch formats a 0-dim tensor as its number, MindSpore refuses the spec;
    # a file that formats values with a spec gets the helper that gives MindSpore torch's behaviour
    def visit_FormattedStringExpression(self, node) -> None:
        if node.format_spec and self.convert_methods:
            self._formats_values = True

    def _format_call(self, node) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "format" \
                and (not isinstance(func.value, cst.SimpleString) or _FORMAT_SPEC.search(func.value.value)):
            self._formats_values = True  # a literal with a spec, or a format string built at run time
        elif isinstance(func, cst.Name) and func.value == "format" and len(node.args) == 2:
            self._formats_values = True  # format(value, spec)

    def leave_Module(self, original_node, updated_node):
        if getattr(self, "_formats_values", False) and self.ctx.apis_found:
            runtime.require(self.ctx, "tensor_format")
        # numpy values as tensor indexes (x[np.int64(3)], x[idx_array]): torch takes them, MindSpore
        # refuses them; a file that imports numpy and indexes with computed values gets the shim
        # (decided on the user's file: in a file converted before, numpy may be a helper's import)
        if getattr(self, "_computed_index", False) and self.ctx.apis_found and not self._converted_before() \
                and _IMPORTS_NUMPY.search(self.ctx.source):
            runtime.require(self.ctx, "numpy_index")
        body = training.rewrite_block(self.ctx, self, list(updated_node.body), module=True)
        lines = imports.import_lines(self.ctx)
        kept = [l for l in lines if l.startswith("import ") and l.split()[1].split(".")[0] in TORCH_ROOTS]
        lines = [l for l in lines if l not in kept]
        if kept and not self._guarded_torch_imports:
            runtime.require(self.ctx, "missing_module")
        helpers = runtime.helper_statements(self.ctx)
        if kept and not self._guarded_torch_imports:
            helpers = helpers + [_guarded_imports(kept)]
        placeholders = set(self._import_lines)
        first = next((s for s in body if s in placeholders), None)
        if first is None:
            i = imports.insertion_index(body)
            body = body[:i] + imports.make_lines(lines, None) + helpers + body[i:]
        new_body = []
        for stmt in body:
            if stmt in placeholders:
                if stmt is first and lines:
                    new_body += imports.make_lines(lines, stmt) + helpers
                elif stmt is first:
                    new_body += [stmt] + helpers  # nothing to import: the line goes, its comments stay
                    self._remove.add(stmt)
                else:
                    self._remove.add(stmt)
                    new_body.append(stmt)
                continue
            new_body.append(stmt)
        new_body = self._drop_removed(new_body, updated_node)
        if helpers:
            # after the rest of the import block, so helpers run with the user's `import numpy as np`
            # (which the converter then does not repeat) already done
            # (found by the last one: a removed import's comments may have moved onto the first)
            end = after = _index_of(new_body, helpers[-1]) + 1
            start = end - len(helpers)
            while after < len(new_body) and _is_import_line(new_body[after]):
                after += 1
            if after > end:
                new_body[start:after] = new_body[end:after] + new_body[start:end]
            end = _index_of(new_body, helpers[-1]) + 1
            before = new_body[end] if end < len(new_body) else None
            if len(helpers) > 1 or not runtime.is_placeholder(helpers[-1]):
                _space_after(new_body, end)  # after the guarded torch imports
            if before in self.pending_training:  # the statement after the helpers is a new node now
                self.pending_training.discard(before)
                self.pending_training.add(new_body[end])
        module = updated_node.with_changes(body=new_body)
        pending = {s for s in self.pending_training if training.zero_grad_receiver(s) is not None
                   or dotted_name(training.step_receiver(s)) in self.accumulating
                   or dotted_name(training.scaler_step_optimizer(s, self.kinds)) in self.accumulating
                   or dotted_name(training.step_receiver(s)) in self.grad_optimizers
                   or ((self.accumulating or self.grad_attributes) and training.clip_call(s, self.ctx, self.originals))}
        if pending or (self.closure_steps & self.accumulating):
            # a second, rare pass: zero_grad()/step()/step(closure) left outside a direct training step
            module = module.visit(training.LeftoverRewriter(self.ctx, self, pending))
            if kept and not self._guarded_torch_imports:
                module = self._refresh_guard(module, kept)
        if "grad_mode" in self.ctx.helpers_needed:  # no-grad blocks where nothing is differentiated go
            module = no_grad.drop_no_grad(module, self.known_cells)
        return module

    def _refresh_guard(self, module, kept: list[str]):
        """The second pass translated uses (a clip outside the step) the guarded torch imports were
        kept for: the guard keeps only what is still needed, or goes."""
        still = [l for l in imports.import_lines(self.ctx) if l in kept]
        if still == kept:
            return module
        body = list(module.body)
        for i, stmt in enumerate(body):
            if isinstance(stmt, cst.Try) and isinstance(stmt.body, cst.IndentedBlock) \
                    and stmt.body.header.comment is not None and stmt.body.header.comment.value.startswith(GUARD_COMMENT):
                if still:
                    body[i] = _guarded_imports(still).with_changes(leading_lines=stmt.leading_lines)
                else:
                    del body[i]  # (the helper only the guard used is then not imported)
                break
        return module.with_changes(body=body)

    # ---- imports ------------------------------------------------------------------------
    def visit_Import(self, node) -> bool:
        return False

    def visit_ImportFrom(self, node) -> bool:
        return False

    def leave_Import(self, original_node, updated_node):
        if self.convert_methods and any(_einops_module(dotted_name(a.name)) for a in original_node.names):
            runtime.require(self.ctx, "einops_backend")
        return imports.strip_torch(updated_node)

    def leave_ImportFrom(self, original_node, updated_node):
        module = dotted_name(original_node.module) if original_node.module is not None else None
        if self.convert_methods and not original_node.relative and _einops_module(module):
            # einops runs on MindSpore tensors through a backend the helper registers; its torch
            # layers become the helper's Cells (uses renamed in leave_Name)
            runtime.require(self.ctx, "einops_backend")
            if module == "einops.layers.torch" and not isinstance(original_node.names, cst.ImportStar):
                kept = []
                for alias in updated_node.names:
                    name = dotted_name(alias.name)
                    local = alias.asname.name.value if alias.asname is not None else name
                    if name in EINOPS_LAYERS:
                        self._einops_layers[local] = EINOPS_LAYERS[name]
                        self.ctx.translated()
                    else:
                        self.ctx.untranslated(f"einops.layers.torch.{name}", "no MindSpore layer for it in ms-migrate "
                                                                           "(Rearrange and Reduce are translated)", original_node)
                        kept.append(alias.with_changes(comma=cst.MaybeSentinel.DEFAULT))
                if not kept:
                    return cst.RemoveFromParent()
                return updated_node.with_changes(names=kept)
        if self.ctx.table.external and not isinstance(updated_node.names, cst.ImportStar) and self._depth == 0:
            return self._without_torch_names(updated_node)
        return imports.strip_torch(updated_node)

    def _without_torch_names(self, node):
        """`from .parts import nn, DoubleConv`: `nn` is torch.nn there, and the converted module no
        longer binds it (its torch imports went); uses here are converted like those of a torch
        import, so the name goes from the import (project.py)."""
        keep = [a for a in node.names
                if (a.asname.name.value if a.asname is not None else dotted_name(a.name)) not in self.ctx.table.external]
        if len(keep) == len(node.names):
            return imports.strip_torch(node)
        self.ctx.translated()
        if not keep:
            return cst.RemoveFromParent()
        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return node.with_changes(names=keep)

    # ---- scopes: a local binding shadows a torch alias inside its scope (scopes.py) -----------
    def visit_Module(self, node) -> None:
        from .scopes import shadow_map

        self._shadows = shadow_map(node, self.ctx.source, self.ctx)
        self._shadow_stack: list[frozenset] = []
        self._outer_fors: set = set()
        self._mixins = classes.forward_mixins(node, self.ctx.table, self.ctx.rules, self.known_cells)

    def _enter_scope(self, node) -> None:
        if self._shadows is not None:
            self._shadow_stack.append(self.ctx.table.shadowed)
            self.ctx.table.shadowed = self._shadows.get(node, self.ctx.table.shadowed)

    def _leave_scope(self, node) -> None:
        if self._shadows is not None:
            self.ctx.table.shadowed = self._shadow_stack.pop()

    # a function's decorators, defaults and annotations are evaluated outside it: its body is its scope
    visit_FunctionDef_body = visit_ClassDef_body = visit_Lambda_body = _enter_scope
    leave_FunctionDef_body = leave_ClassDef_body = leave_Lambda_body = _leave_scope

    def visit_ListComp(self, node) -> None:
        if self._shadows is not None:
            self._enter_scope(node)
            self._outer_fors.add(node.for_in)

    def leave_ListComp(self, original_node, updated_node):
        self._leave_scope(original_node)
        return updated_node

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp
    leave_SetComp = leave_DictComp = leave_GeneratorExp = leave_ListComp

    # the first iterable of a comprehension is evaluated outside it
    def visit_CompFor_iter(self, node) -> None:
        if self._shadows is not None and node in self._outer_fors:
            self._shadow_stack.append(self.ctx.table.shadowed)
            self.ctx.table.shadowed = self._shadow_stack[-2]

    def leave_CompFor_iter(self, node) -> None:
        if self._shadows is not None and node in self._outer_fors:
            self.ctx.table.shadowed = self._shadow_stack.pop()

    # ---- classes and functions ----------------------------------------------------------
    def visit_ClassDef(self, node) -> None:
        is_cell = classes.is_cell_class(node, self.ctx.table, self.ctx.rules, self.known_cells)
        if is_cell:
            self.known_cells.add(node.name.value)
        self.scopes.append(_Scope("class", node.name.value, is_cell, self._is_helper(node)))
        members = _layer_members(self.ctx, node) if is_cell else {}
        self._param_renames.append(_param_renames(self.ctx, members))
        self._call_renames.append(_call_renames(self.ctx, members))

    def leave_ClassDef(self, original_node, updated_node):
        self.scopes.pop()
        self._param_renames.pop()
        self._call_renames.pop()
        return without_decorators(updated_node, self._dropped_decorators)

    def visit_Decorator(self, node) -> bool:
        """`@torch.jit.ignore`, `@torch.jit.unused(...)`: decorators whose rule says `drop` go."""
        expr = node.decorator.func if isinstance(node.decorator, cst.Call) else node.decorator
        qualified = self.ctx.table.resolve(expr) or self._star(dotted_name(expr))
        rule = self.ctx.rule(qualified) if qualified else None
        if rule is not None and rule.translated and rule.decorator == "drop":
            self.ctx.translated()
            self._dropped_decorators.add(node)
            node.visit(ReferenceCounter(self.ctx))  # findings after it are located by counting references
            return False  # nothing inside it is a use to translate or report
        return True

    def visit_FunctionDef(self, node) -> None:
        scope = _Scope("function", node.name.value, helper=self._is_helper(node))
        scope.node = node
        if node.name.value == "__init__" and self.scopes and self.scopes[-1].kind == "class" \
                and self.scopes[-1].is_cell:
            scope.init_of = node.params.params[0].name.value if node.params.params else "self"
            scope.mode_calls = self._mode_calls
        self.scopes.append(scope)
        self.kinds.push()  # the body sees the module's kinds; parameters shadow them
        methods.bind_parameters(node, self.kinds)
        local = local_layers(self.ctx, node)
        if local and isinstance(node.body, cst.IndentedBlock):
            # `bn = nn.BatchNorm2d(c); nn.init.zeros_(bn.weight)`: bn.gamma in this function
            self._narrowing_blocks[node.body] = {**self._narrowing_blocks.get(node.body, {}), **local}

    def definitely_bound(self) -> set[str] | None:
        """In a function: its parameters and the names its top-level simple statements and
        with-statements bind (bound on every path once they have run). None outside functions."""
        scope = self.scopes[-1] if self.scopes else None
        if scope is None or scope.kind != "function" or scope.node is None:
            return None
        if scope.definite is None:
            from .transforms.training import names_of

            node = scope.node
            names = {p.name.value for p in (*node.params.posonly_params, *node.params.params,
                                            *node.params.kwonly_params)}
            names |= {p.name.value for p in (node.params.star_arg, node.params.star_kwarg) if isinstance(p, cst.Param)}
            for st in node.body.body if isinstance(node.body, cst.IndentedBlock) else ():
                if isinstance(st, (cst.SimpleStatementLine, cst.With)):
                    names |= set(names_of(st).binds)
            scope.definite = names
        return scope.definite

    def _is_helper(self, node) -> bool:
        if self.scopes:
            return self.scopes[-1].helper
        return self._converted_before() and node.name.value in runtime.helper_names()

    def leave_FunctionDef(self, original_node, updated_node):
        scope = self.scopes.pop()
        self.kinds.pop()
        if scope.naming_fix:
            updated_node = _with_naming_fix(original_node, updated_node)
        if scope.init_of is not None and self._mode_calls == scope.mode_calls:
            updated_node = _in_training_mode(updated_node, scope.init_of)
        updated_node = without_decorators(updated_node, self._dropped_decorators)
        if original_node.name.value == "forward" and self.scopes and self.scopes[-1].kind == "class" \
                and (self.scopes[-1].is_cell or self.scopes[-1].name in self._mixins and len(self.scopes) == 1):
            self.ctx.translated()
            return updated_node.with_changes(name=cst.Name("construct"))
        return updated_node

    def _binding_target(self, node) -> bool:
        return any(node is t for t in self._assign_targets)

    def _in_cell(self) -> bool:
        return any(s.kind == "class" and s.is_cell for s in self.scopes)

    # ---- names that are not references ----------------------------------------------------
    def visit_Attribute_attr(self, node) -> None:
        self._not_a_reference += 1

    def leave_Attribute_attr(self, node) -> None:
        self._not_a_reference -= 1

    def leave_AssignTarget(self, original_node, updated_node):
        self._assign_targets.clear()
        return updated_node

    def visit_AssignTarget(self, node) -> None:
        self._assign_targets.append(node.target)
        # `dt = torch.float32` re-binds a torch name (names.py): the target is a new name, not a
        # use of the torch API, and must stay as written.
        if isinstance(node.target, cst.Name):
            self._binding_names.add(node.target)

    def visit_Arg_keyword(self, node) -> None:
        self._not_a_reference += 1

    def leave_Arg_keyword(self, node) -> None:
        self._not_a_reference -= 1

    # names being defined, not used: `def _assert(...)` in a fallback for `from torch import _assert`
    def visit_FunctionDef_name(self, node) -> None:
        self._not_a_reference += 1

    def leave_FunctionDef_name(self, node) -> None:
        self._not_a_reference -= 1

    def visit_ClassDef_name(self, node) -> None:
        self._not_a_reference += 1

    def leave_ClassDef_name(self, node) -> None:
        self._not_a_reference -= 1

    def visit_Param_name(self, node) -> None:
        self._not_a_reference += 1

    def leave_Param_name(self, node) -> None:
        self._not_a_reference -= 1

    # Other names that bind (global/nonlocal, except/with/import `as`, walrus, match captures,
    # type parameters) must stay Names too: an attribute chain there does not parse.
    def _binding_enter(self, node) -> None:
        self._not_a_reference += 1

    def _binding_leave(self, node) -> None:
        self._not_a_reference -= 1

    visit_NameItem_name = visit_AsName_name = visit_NamedExpr_target = visit_MatchAs_name = _binding_enter
    leave_NameItem_name = leave_AsName_name = leave_NamedExpr_target = leave_MatchAs_name = _binding_leave
    visit_MatchStar_name = visit_MatchMapping_rest = visit_MatchKeywordElement_key = _binding_enter
    leave_MatchStar_name = leave_MatchMapping_rest = leave_MatchKeywordElement_key = _binding_leave
    visit_TypeVar_name = visit_TypeVarTuple_name = visit_ParamSpec_name = visit_TypeAlias_name = _binding_enter
    leave_TypeVar_name = leave_TypeVarTuple_name = leave_ParamSpec_name = leave_TypeAlias_name = _binding_leave

    # ---- references: torch.float32, nn.Module as a base, F.relu passed as a value ---------
    def visit_Attribute(self, node) -> bool:
        if self.ctx.table.resolve(node) is not None:
            self._torch_chains.add(node)
            self.ctx.count_reference(node, dotted_name(node))
            return False
        return True

    def visit_Name(self, node) -> None:
        if not self._not_a_reference and self.ctx.table.is_alias(node.value):
            self.ctx.count_reference(node, node.value)

    def leave_Attribute(self, original_node, updated_node):
        if original_node in self._torch_chains:
            if original_node in self._call_funcs:
                return updated_node  # leave_Call translates the whole call
            return self._reference(original_node, updated_node)
        if self._narrowed and isinstance(original_node.value, cst.Name):
            new = self._narrowed_attr(original_node.value.value, original_node.attr.value)
            if new:  # under `if isinstance(m, nn.Embedding):`, m.weight -> m.embedding_table
                return updated_node.with_changes(attr=cst.Name(new))
        renames = self._param_renames[-1] if self._param_renames else None
        if renames and isinstance(original_node.value, cst.Attribute):
            owner = dotted_name(original_node.value)
            if owner is not None and owner.startswith("self."):
                new = renames.get(owner[5:], {}).get(original_node.attr.value)
                if new:  # self.encoder.weight -> self.encoder.embedding_table (the rule's `params`)
                    return updated_node.with_changes(attr=cst.Name(new))
        if updated_node.attr.value == "forward" and self.convert_methods:
            self.ctx.translated()
            return updated_node.with_changes(attr=cst.Name("construct"))
        if self.convert_methods and updated_node.attr.value in _DEVICE_FLAGS and original_node not in self._call_funcs \
                and methods.receiver_kind(original_node.value, self.kinds, self._in_cell()) in (None, "tensor") \
                and not self._binding_target(original_node):
            # `input.is_cuda` (DCGAN's multi-GPU branch): MindSpore tensors do not say; the
            # converted code runs where MindSpore placed it, and torch's GPU-only paths are off
            self.ctx.translated()
            return cst.Name(_DEVICE_FLAGS[updated_node.attr.value])
        if self.convert_methods and updated_node.attr.value in _AUTOGRAD_GRAPH and original_node not in self._call_funcs \
                and not self._binding_target(original_node) \
                and methods.receiver_kind(original_node.value, self.kinds, self._in_cell()) in (None, "tensor"):
            # `loss.grad_fn`, `.next_functions`: torch's recorded graph, which MindSpore does not keep
            inner = self._graph_refs.pop(original_node.value, None)
            if inner is not None:  # `z.grad_fn.next_functions`: one finding, for the whole chain
                finding, spelling = inner
                self.ctx.findings.remove(finding)
                if self.ctx.frames and finding in self.ctx.frames[-1]:
                    self.ctx.frames[-1].remove(finding)
                self.ctx.apis_found -= 1
                if spelling is not None:
                    self.ctx.ordinals.pop(original_node.value, None)
                    self.ctx._spelling_counts[spelling] -= 1
            spelling = dotted_name(original_node)
            if spelling is not None:  # (its position: the n-th occurrence of the chain)
                self.ctx.count_reference(original_node, spelling)
            api = f"torch.Tensor.{updated_node.attr.value}"
            rule = self.ctx.rule(api)
            self.ctx.untranslated(api, rule.unsupported if rule is not None and rule.unsupported
                                  else "MindSpore tensors carry no recorded autograd graph", original_node)
            self._graph_refs[original_node] = (self.ctx.findings[-1], spelling)
            return updated_node
        if self.convert_methods and updated_node.attr.value == "requires_grad" and original_node not in self._call_funcs \
                and not self._binding_target(original_node) and not self._not_a_reference \
                and methods.receiver_kind(original_node.value, self.kinds, self._in_cell()) in (None, "tensor"):
            # a Parameter (a model's, or a tensor made with requires_grad=True) says; a plain
            # MindSpore tensor has no such attribute, and takes no part in a gradient unless a
            # function is differentiated with respect to it
            self.ctx.translated()
            return cst.parse_expression(f"getattr({calls.code(updated_node.value)}, 'requires_grad', False)")
        if self.convert_methods:  # x.max(1).values -> x.max(1)[0]: MindSpore returns plain tuples
            field = methods.named_field(original_node, updated_node, self.kinds, self._in_cell(), self.ctx.rules)
            if field is not None:
                return field
        return updated_node

    def leave_Name(self, original_node, updated_node):
        if original_node.value in self._einops_layers and not self._not_a_reference:
            return updated_node.with_changes(value=self._einops_layers[original_node.value])
        if original_node in self._binding_names:
            return updated_node
        if self._not_a_reference or not self.ctx.table.is_alias(original_node.value) \
                and (not self.ctx.table.star_modules or original_node.value in self.ctx.table.shadowed):
            return updated_node
        if original_node in self._call_funcs:
            return updated_node
        if self.ctx.table.resolve(original_node) is None and self.ctx.rule(original_node.value) is None:
            return updated_node
        return self._reference(original_node, updated_node)

    def _reference(self, original, updated):
        if original in self._setter_targets:
            return updated  # the assignment becomes the setter (leave_Assign)
        local = dotted_name(original)
        qualified = self.ctx.table.resolve(original) or self._star(local)
        if qualified is None:
            return updated
        rule = self.ctx.rule(qualified)
        if rule is None or rule.torch.endswith(".*"):
            owner = self.ctx.rules.helper_owner(qualified)
            if owner is not None:  # StateDictType.FULL_STATE_DICT: a member of a helper's class
                self.ctx.translated()
                runtime.require(self.ctx, owner[0].runtime)
                return cst.parse_expression(owner[0].to + owner[1])
        if rule is not None and rule.translated and rule.as_value and not self._type_checks:
            # passed as a value (`act_layer=nn.GELU`), called later with torch's arguments: a
            # subclass of the MindSpore layer that takes them (type checks keep the MindSpore class)
            self.ctx.translated()
            helper, name = rule.as_value.split(".")
            runtime.require(self.ctx, helper)
            return cst.Name(name)
        if rule is not None and rule.translated and rule.to and not rule.is_method:
            self.ctx.translated()
            if rule.warn and not self._type_checks:  # isinstance(m, FSDP) runs nothing to warn about
                self.ctx.warn(qualified, rule.warn, original)
            if rule.runtime:
                runtime.require(self.ctx, rule.runtime)
            if (rule.emit or rule.transform) and not self._type_checks:  # a class in a type check is not called
                self.ctx.warn(qualified, f"used without a call: check the arguments it is called with "
                                         f"(the rule emits {', '.join(sorted(rule.emit) or sorted(rule.transform))})", original)
            return self.ctx.render(rule.to)
        if rule is not None and rule.translated and rule.template == "":
            # a setting with no MindSpore meaning (`torch.backends.cudnn.benchmark = True`):
            # the statement that sets it goes; read in a condition, it is off
            self.ctx.translated()
            if self._in_simple_statement:
                self._drop_statement = True
                return updated
            return cst.Name("False")
        if rule is not None and rule.translated and rule.template is not None and "{" not in rule.template:
            self.ctx.translated()
            return calls.render_code(self.ctx, rule.template)
        if _is_package_reference(qualified):
            if self._type_checks or self._not_a_reference:
                return updated
            # `getattr(torch, "compiler", None)`: the module itself as a value; its import must stay
            self.ctx.untranslated(qualified, "the torch package itself used as a value", original)
            return self.ctx.torch_reference(qualified, local) or updated
        reason = rule.unsupported if rule is not None and rule.unsupported else (
            "translated only as a decorator (which is removed)" if rule is not None and rule.decorator
            else "only its calls are translated" if rule is not None else "no MindSpore mapping known")
        self.ctx.untranslated(qualified, reason, original)
        return self.ctx.torch_reference(qualified, local) or updated

    def _star(self, local: str | None) -> str | None:
        if local is None or "." in local or local in self.ctx.table.shadowed:
            return None
        for mod in self.ctx.table.star_modules:
            if self.ctx.rules.get(f"{mod}.{local}") is not None:
                return f"{mod}.{local}"
        return None

    # ---- calls --------------------------------------------------------------------------
    def _naming_fix_signal(self, node) -> None:
        scope = self.scopes[-1] if self.scopes else None
        if scope is not None and scope.init_of is not None and not scope.naming_fix:
            scope.naming_fix = naming_fix_signal(node, scope.init_of, scope.built)
        if scope is not None and scope.init_of is not None and isinstance(node, cst.Assign):
            scope.built.update(built_members(node, scope.init_of))

    def visit_Call(self, node) -> None:
        self._naming_fix_signal(node)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _SETS_MODE:
            self._mode_calls += 1  # `self.train()` / `.eval()` / `.set_train()` (see _in_training_mode)
        if self.convert_methods:
            self._format_call(node)
        self._call_funcs.add(node.func)
        if isinstance(node.func, cst.Name):
            self.ctx.name_calls.append(node)  # construction sites, for the parameter map (no second walk)
        if training.closure_step(node):
            self.closure_steps.add(dotted_name(node.func.value))
        self._call_marks.append((len(self.ctx.findings), len(self.ctx.torch_refs_left)))
        if isinstance(node.func, cst.Name) and node.func.value in ("isinstance", "issubclass"):
            self._type_check_args.update(node.args[1:])

    # a class in a type check (`isinstance(m, nn.LayerNorm)`, `type(m) is nn.GELU`) stays the
    # MindSpore class, not the helper that takes torch's arguments (see rule key as_value)
    def visit_Arg(self, node) -> None:
        if node in self._type_check_args:
            self._type_checks += 1

    def leave_Arg(self, original_node, updated_node):
        if original_node in self._type_check_args:
            self._type_checks -= 1
        return updated_node

    # ---- `if isinstance(m, nn.Embedding): m.weight ...` (init functions): the layer's parameter
    # names inside the block are MindSpore's (m.embedding_table) --------------------------------
    def visit_If(self, node) -> None:
        fix = class_name_literal_fix(self.ctx, node.test, self._class_names)
        if fix is not None:
            self._literal_fixes[fix[0]] = fix[1]
        narrowing = narrowing_of(self.ctx, node.test, self._class_names)
        if narrowing and isinstance(node.body, cst.IndentedBlock):
            self._narrowing_blocks[node.body] = narrowing

    def _narrowed_attr(self, name: str, attr: str) -> str | None:
        for narrowing in reversed(self._narrowed):
            if name in narrowing:
                return narrowing[name].get(attr)
        return None

    def visit_Comparison(self, node) -> None:
        self._type_checks += 1

    def leave_Comparison(self, original_node, updated_node):
        self._type_checks -= 1
        return updated_node

    def leave_Call(self, original_node, updated_node):
        mark = self._call_marks.pop()
        if self._call_renames and self._call_renames[-1]:
            updated_node = self._layer_call_keywords(original_node, updated_node)
        result = self._leave_call(original_node, updated_node)
        if len(self.ctx.torch_refs_left) > mark[1]:
            self._forget_dropped(mark, result)
        return result

    def _layer_call_keywords(self, original, updated):
        """`self.encoder(src, mask=m)` where the member is a torch layer whose construct names a
        keyword differently (TransformerEncoder's `mask` is `src_mask`): the rule's call_rename."""
        name = dotted_name(original.func)
        if name is None or not name.startswith("self."):
            return updated
        rule = self._call_renames[-1].get(name[5:])
        if rule is None:
            return updated
        if rule.call_tuple:
            updated = self._layer_call_tuples(rule.call_tuple, updated)
        renames = rule.call_rename
        if not renames or not any(a.keyword is not None and a.keyword.value in renames for a in updated.args):
            return updated
        args = []
        for a in updated.args:
            new = renames.get(a.keyword.value) if a.keyword is not None else None
            if new == "":
                continue
            args.append(a.with_changes(keyword=cst.Name(new)) if new else a)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        self.ctx.translated()
        return updated.with_changes(args=args)

    def _layer_call_tuples(self, call_tuple: dict, call):
        """`self.lstm(x, [h, c])`: torch takes the state as any sequence, MindSpore's LSTM only as a
        tuple (rule call_tuple): a list literal becomes a tuple, a computed value goes through
        ms_as_tuple (a list returned by the user's `detach(states)`)."""
        from .transforms import runtime

        if any(a.star for a in call.args):
            return call
        args = list(call.args)
        for keyword, position in call_tuple.items():
            i = next((j for j, a in enumerate(args) if a.keyword is not None and a.keyword.value == keyword), None)
            if i is None:
                positional = [j for j, a in enumerate(args) if a.keyword is None]
                i = positional[position] if position < len(positional) else None
            if i is None:
                continue
            value = args[i].value
            if isinstance(value, cst.List):
                new = cst.Tuple(elements=value.elements, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
                if len(value.elements) == 1:
                    last = value.elements[0]
                    new = new.with_changes(elements=[last.with_changes(comma=cst.Comma())])
            elif isinstance(value, cst.Tuple) or isinstance(value, cst.Name) and value.value == "None":
                continue
            else:
                runtime.require(self.ctx, "as_tuple")
                new = cst.Call(func=cst.Name(self.ctx.helper_spelling("ms_as_tuple")), args=[cst.Arg(value)])
            args[i] = args[i].with_changes(value=new)
        return call.with_changes(args=args)

    def _forget_dropped(self, mark, result) -> None:
        """Untranslated torch references in arguments the translation dropped (`foreach=nn`)
        are gone from the output: no marker, no finding, no torch import kept for them (a
        second run would not see them, so keeping them would make conversion not idempotent)."""
        text = calls.code(result) if isinstance(result, cst.CSTNode) else ""
        refs, findings = self.ctx.torch_refs_left, self.ctx.findings
        for i in range(len(refs) - 1, mark[1] - 1, -1):
            qualified = refs[i][0]
            if re.search(rf"(?<![\w.]){re.escape(qualified)}(?!\w)", text):
                continue
            del refs[i]
            for j in range(len(findings) - 1, mark[0] - 1, -1):
                f = findings[j]
                if f.kind == "untranslated" and f.api == qualified:
                    del findings[j]
                    self.ctx.apis_found -= 1
                    if self.ctx.frames and f in self.ctx.frames[-1]:
                        self.ctx.frames[-1].remove(f)
                    break

    def _torch_hasattr(self, node):
        """`hasattr(torch.nn.functional, 'scaled_dot_product_attention')`, a feature test: True when
        ms-migrate translates that API (the code then takes the branch that uses it), else False."""
        if not (isinstance(node.func, cst.Name) and node.func.value == "hasattr" and len(node.args) == 2
                and isinstance(node.args[1].value, cst.SimpleString) and not any(a.keyword or a.star for a in node.args)):
            return None
        q = self.ctx.table.resolve(node.args[0].value)
        if q is None or not (self.ctx.rules.is_namespace(q) or q in ("torch", "torchvision", "torchaudio")):
            return None
        try:
            attr = calls.literal(node.args[1].value)
        except (ValueError, SyntaxError):
            return None
        rule = self.ctx.rule(f"{q}.{attr}")
        self.ctx.translated()
        return cst.Name("True" if rule is not None and rule.translated else "False")

    def _unbound_tensor_method(self, rule, qualified, original, updated):
        """`torch.Tensor.numpy(x)`, `torch.Tensor.add(x, y)`: the method called through its class
        is the method of its first argument, translated by the method's rule (receiver: that argument)."""
        if rule is None or not rule.translated or not rule.is_method or not qualified.startswith("torch.Tensor.") \
                or not updated.args or updated.args[0].keyword is not None or updated.args[0].star:
            return None
        receiver = updated.args[0].value
        rest = list(updated.args[1:])
        self.ctx.current_call = original
        try:
            result = calls.apply_rule(self.ctx, rule, updated.with_changes(args=rest), receiver)
        except Untranslated:
            self.ctx.current_call = None
            return None  # marked as the function it is
        self.ctx.current_call = None
        if result is None:
            return None
        self.ctx.translated()
        return self._result(result)

    def _leave_call(self, original_node, updated_node):
        feature = self._torch_hasattr(original_node)
        if feature is not None:
            return feature
        if _next_of_a_list(updated_node):  # next(model.parameters()): trainable_params() is a list
            arg = updated_node.args[0]
            return updated_node.with_changes(args=[arg.with_changes(
                value=cst.Call(func=cst.Name("iter"), args=[cst.Arg(arg.value)]))])
        func = original_node.func
        local = dotted_name(func)
        qualified = self.ctx.table.resolve(func) if local else None
        if qualified is None and isinstance(func, cst.Name):
            qualified = self._star(local)
        if qualified is not None:
            return self._torch_call(qualified, local, original_node, updated_node)
        if isinstance(func, cst.Attribute) and self.convert_methods:
            return self._method_call(original_node, updated_node)
        return updated_node

    def _torch_call(self, qualified, local, original, updated):
        rule = self.ctx.rule(qualified)
        unbound = self._unbound_tensor_method(rule, qualified, original, updated)
        if unbound is not None:
            return unbound
        if rule is None or not rule.translated or rule.is_method:
            if _is_package_reference(qualified):
                return updated
            reason = rule.unsupported if rule is not None and rule.unsupported else "no MindSpore mapping known"
            self.ctx.untranslated(qualified, reason, original)
            func = self.ctx.torch_reference(qualified, local)
            return updated.with_changes(func=func) if func is not None else updated
        self.ctx.current_call = original
        try:
            result = calls.apply_rule(self.ctx, rule, updated, None)
        except Untranslated as exc:
            self.ctx.current_call = None
            self.ctx.untranslated(qualified, exc.reason, original)
            func = self.ctx.torch_reference(qualified, local)
            return updated.with_changes(func=func) if func is not None else updated
        self.ctx.current_call = None
        self.ctx.translated()
        if rule.warn:
            self.ctx.warn(rule.torch, rule.warn, original)
        return self._result(result)

    def _method_call(self, original, updated):
        name = original.func.attr.value
        candidates = self.ctx.rules.method_rules(name)
        if not candidates:
            return updated
        receiver = updated.func.value
        kind = methods.receiver_kind(original.func.value, self.kinds, self._in_cell(), name)
        if kind is None and isinstance(original.func.value, cst.Call):
            kind = self._value_kind(original.func.value)  # nn.Linear(2, 2).double(): a module's method
        rule = methods.choose(candidates, name, kind, original)
        if rule is None:
            return updated
        if not rule.translated:
            self.ctx.untranslated(rule.torch, rule.unsupported, original)
            return updated
        self.ctx.current_call = original
        try:
            result = calls.apply_rule(self.ctx, rule, updated, receiver)
        except Untranslated as exc:
            self.ctx.current_call = None
            self.ctx.untranslated(rule.torch, exc.reason, original)
            return updated
        self.ctx.current_call = None
        self.ctx.translated()
        if rule.warn:
            self.ctx.warn(rule.torch, rule.warn, original)
        return self._result(result)

    def _result(self, result):
        if result is None:
            result = cst.Name("None")
            self._dropped.add(result)
        elif isinstance(result, (cst.Name, cst.Attribute)):
            # x.cuda() -> x: as a statement of its own it does nothing and goes
            self._dropped.add(result)
        return result

    # `torch.backends.cudnn.deterministic = True` -> the rule's setter (a call, as MindSpore spells it)
    def leave_Assign(self, original_node, updated_node):
        rule = self._setter_targets.pop(original_node.targets[0].target, None)
        if rule is None:
            leaf = self._made_leaf(original_node, updated_node)
            if leaf is not None:
                return leaf
            return _rebound_in_place(updated_node)
        self.ctx.translated()
        if rule.runtime:
            runtime.require(self.ctx, rule.runtime)
        return cst.Expr(calls.fill(self.ctx, rule.setter, None, None, extra={"value": calls.code(updated_node.value)}))

    def _made_leaf(self, original_node, updated_node):
        """`x.requires_grad = True` on a tensor held in a name: torch makes it an autograd leaf;
        here `x = ms_leaf(x)` (runtime/tensor_autograd.py: a Parameter, the same object when x is
        one already, as a model's parameters are). Other values (False, a flag) on other targets
        set MindSpore's Parameter attribute, as written."""
        target = updated_node.targets[0].target if len(updated_node.targets) == 1 else None
        if not self.convert_methods or not isinstance(target, cst.Attribute) or target.attr.value != "requires_grad" \
                or not isinstance(target.value, cst.Name) or not isinstance(updated_node.value, cst.Name) \
                or updated_node.value.value != "True" \
                or methods.receiver_kind(original_node.targets[0].target.value, self.kinds, self._in_cell()) \
                not in (None, "tensor"):
            return None
        self.ctx.translated()
        runtime.require(self.ctx, "tensor_autograd")
        name = target.value.value
        return cst.parse_statement(f"{name} = ms_leaf({name})\n").body[0]

    def leave_Expr(self, original_node, updated_node):
        if updated_node.value in self._dropped:
            return cst.RemoveFromParent()
        return updated_node

    # ---- what names hold (for method receivers) ------------------------------------------
    def visit_AugAssign(self, node) -> None:
        self._naming_fix_signal(node)

    def visit_Assign(self, node) -> None:
        self._naming_fix_signal(node)
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            source = class_name_source(node.value)
            if source is not None:
                self._class_names[node.targets[0].target.value] = source
        if len(node.targets) == 1 and isinstance(node.targets[0].target, (cst.Attribute, cst.Name)):
            q = self.ctx.table.resolve(node.targets[0].target)
            rule = self.ctx.rule(q) if q else None
            if rule is not None and rule.translated and rule.setter:
                self._setter_targets[node.targets[0].target] = rule
        kind = self._value_kind(node.value)
        for t in node.targets:
            self.kinds.set(t.target, kind)

    def visit_AnnAssign(self, node) -> None:
        if node.value is not None:
            self.kinds.set(node.target, self._value_kind(node.value))

    def visit_For(self, node) -> None:
        methods.bind_loop_target(node.target, node.iter, self.kinds)

    def visit_WithItem(self, node) -> None:
        methods.bind_with_item(node, self.kinds)

    def leave_WithItem(self, original_node, updated_node):
        # `with torch.autograd.set_detect_anomaly(True):` when the call has nothing to become (a
        # template "" rule): the block still needs a context
        if updated_node.item in self._dropped:
            self.ctx.imports_needed["import contextlib"] = None
            return updated_node.with_changes(item=calls.render_code(self.ctx, "contextlib.nullcontext()"))
        return updated_node

    def _value_kind(self, value: cst.BaseExpression) -> str | None:
        lit = methods.literal_kind(value)
        if lit:
            return lit
        if isinstance(value, cst.Call):
            q = self.ctx.table.resolve(value.func)
            if q is not None:
                rule = self.ctx.rule(q)
                if rule is not None and _returns_its_argument(rule) and value.args and not value.args[0].star:
                    return self._value_kind(value.args[0].value)  # torch.compile(model): the model
                return _kind_of_torch_call(q, rule)
            name = dotted_name(value.func)
            if name in self.known_cells:
                return "module"
            if name is not None and _MAKES_OPTIMIZER.search(name.rsplit(".", 1)[-1]):
                return "optimizer"  # model.configure_optimizers(...), build_optimizer(cfg)
        return methods.expr_kind(value, self.kinds)


def _constant_index(node) -> bool:
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.SimpleString, cst.Ellipsis)) or \
        (isinstance(node, cst.Name) and node.value in ("None", "True", "False"))


_LIST_METHODS = {"trainable_params", "untrainable_params", "get_parameters"}


def _next_of_a_list(call) -> bool:
    """`next(x.trainable_params())`: what torch's parameters() iterator became is a list."""
    if not (isinstance(call.func, cst.Name) and call.func.value == "next" and call.args):
        return False
    value = call.args[0].value
    return isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value in _LIST_METHODS


def _index_of(body: list, stmt) -> int:
    """Where an inserted statement is: the placeholder of the helper import may have become a new
    node (a removed import's comments moved onto it)."""
    for i, s in enumerate(body):
        if s is stmt or (runtime.is_placeholder(stmt) and runtime.is_placeholder(s)):
            return i
    raise ValueError("an inserted statement is missing from the module")


def _space_after(body: list, index: int) -> None:
    """Two blank lines between inserted code and the user's next statement."""
    if index < len(body):
        stmt = body[index]
        blank = sum(1 for l in stmt.leading_lines[:2] if l.comment is None)
        if blank < 2:
            body[index] = stmt.with_changes(leading_lines=[cst.EmptyLine()] * (2 - blank) + list(stmt.leading_lines))


def _is_import_line(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)


def _hook(converter, prefix: str, node_type: type, attribute: str | None = None):
    """The function ``getattr(converter, f"{prefix}{node_type.__name__}[_{attribute}]")`` would bind
    (None if there is none), cached per converter (one file: a class patched later still counts)."""
    key = (prefix, node_type, attribute)
    try:
        return converter._hooks[key]
    except KeyError:
        name = prefix + node_type.__name__ + (f"_{attribute}" if attribute else "")
        fn = getattr(type(converter), name, None)
        if fn is not None and _is_libcst_stub(fn):
            fn = None
        converter._hooks[key] = fn
        return fn


def _is_libcst_stub(fn) -> bool:
    """libcst's visitor classes define a no-op visit_/leave_ method for every node type and field."""
    return getattr(fn, "__module__", "").startswith("libcst")


def _wire_compound_statements() -> None:
    """Markers attach to the statement that holds the finding: compound statements open a
    frame too. Wired around each class's own visit_/leave_ methods (not in on_visit) so other
    nodes pay nothing for it."""
    for name in ("If", "For", "While", "With", "Try", "TryStar", "Match", "FunctionDef", "ClassDef"):
        visit = getattr(Converter, f"visit_{name}", None)
        leave = getattr(Converter, f"leave_{name}", None)

        def v(self, node, _visit=visit):
            self._push()
            return _visit(self, node) if _visit is not None else None

        def l(self, original_node, updated_node, _leave=leave):
            if _leave is not None:
                updated_node = _leave(self, original_node, updated_node)
            return self._pop_attach(updated_node)
        setattr(Converter, f"visit_{name}", v)
        setattr(Converter, f"leave_{name}", l)


_wire_compound_statements()
# the fields some visit_<Type>_<field> / leave_<Type>_<field> hook watches (`attr` of Attribute...)
_CST_NAMES = frozenset(dir(cst))
_HOOKED_FIELDS = frozenset(
    name.split("_", 2)[2] for name in dir(Converter)
    if name.startswith(("visit_", "leave_")) and name.count("_") >= 2 and name.split("_", 2)[1] in _CST_NAMES
    and not _is_libcst_stub(getattr(Converter, name)))


def _is_self_assignment(small) -> bool:
    """`data, target = data, target`: what `x = x.to(device)` becomes once the move is dropped."""
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return False
    target, value = _plain_names(small.targets[0].target), _plain_names(small.value)
    return target is not None and target == value


def _plain_names(node) -> tuple | None:
    """`x` -> ("x",); `a, b` / `[a, b]` -> ((), "a", "b"): a name and a one-name tuple differ
    (`args = (args,)` is not a self-assignment)."""
    if isinstance(node, cst.Name):
        return (node.value,)
    if isinstance(node, (cst.Tuple, cst.List)) and all(isinstance(e.value, cst.Name) for e in node.elements):
        return ((), *(e.value.value for e in node.elements))
    return None


def _layer_members(ctx, node: cst.ClassDef) -> dict:
    """member -> qualified torch layer: the class's own (`self.bn = nn.BatchNorm2d(...)`) and
    those a torch base class gives it (a subclass of nn.Transformer has `encoder`, rule `members`)."""
    from .param_map import class_layer_members

    out = {}
    for base in node.bases:
        q = ctx.table.resolve(base.value)
        rule = ctx.rules.get(q) if q else None
        if rule is not None and rule.members:
            out.update(rule.members)
    out.update(class_layer_members(ctx, node))
    return out


def _param_renames(ctx, members: dict) -> dict:
    """member -> {torch parameter: MindSpore parameter} for this class's torch layers whose rule
    renames parameters (`self.bn.weight` is `self.bn.gamma` in MindSpore)."""
    out = {}
    for member, q in members.items():
        rule = ctx.rules.get(q)
        if rule is not None and rule.translated and (any(rule.params.values()) or rule.attrs):
            out[member] = {**{k: v for k, v in rule.params.items() if v}, **rule.attrs}
    return out


def _call_renames(ctx, members: dict) -> dict:
    """member -> its rule, for members whose rule changes calls of the layer (call_rename, call_tuple)."""
    out = {}
    for member, q in members.items():
        rule = ctx.rules.get(q)
        if rule is not None and rule.translated and (rule.call_rename or rule.call_tuple):
            out[member] = rule
    return out


def _with_naming_fix(original, updated):
    """End a Cell's __init__ with self.update_parameters_name(): MindSpore would otherwise name
    its parameters differently from torch (see param_map.naming_fix_signal); checkpoints load by name."""
    from .param_map import NAMING_FIX, NAMING_FIX_COMMENT

    if not isinstance(updated.body, cst.IndentedBlock):
        return updated
    me = original.params.params[0].name.value if original.params.params else "self"
    line = cst.parse_statement(f"{me}.{NAMING_FIX}()  {NAMING_FIX_COMMENT}\n")
    return updated.with_changes(body=updated.body.with_changes(body=[*updated.body.body, line]))


def _rebound_in_place(node: cst.Assign) -> cst.Assign:
    """`x = x.div_(255.0)`: the in-place translation `x.assign_value(x / 255.0)` only rebinds x
    here, and MindSpore refuses assign_value on a tensor a differentiated function received (and
    records no gradient through it); the value itself, `x = x / 255.0`, is what the code uses."""
    value = node.value
    if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name) \
            or not isinstance(value, cst.Call) or not isinstance(value.func, cst.Attribute) \
            or value.func.attr.value != "assign_value" or len(value.args) != 1 \
            or not isinstance(value.func.value, cst.Name) or value.func.value.value != node.targets[0].target.value:
        return node
    return node.with_changes(value=value.args[0].value)


TRAIN_MODE_COMMENT = "# as a torch module, it starts in training mode"
_SETS_MODE = {"train", "eval", "set_train"}


def _in_training_mode(updated, me: str):
    """End a Cell's __init__ with `self.set_train(True)`: a torch module is built in training mode
    (Dropout active, BatchNorm on batch statistics) and scripts that never call model.train() rely
    on it; a MindSpore cell is built in inference mode. Not when the __init__ sets a mode itself
    (the conversion's walk counts those calls: the caller checks)."""
    if not isinstance(updated.body, cst.IndentedBlock):
        return updated
    line = cst.parse_statement(f"{me}.set_train(True)  {TRAIN_MODE_COMMENT}\n")
    return updated.with_changes(body=updated.body.with_changes(body=[*updated.body.body, line]))


GUARD_COMMENT = "# ms-migrate: torch is needed only by the uses marked untranslated"


def _guarded_imports(lines: list[str]) -> cst.BaseStatement:
    """The torch imports kept for untranslated uses, in a try: without torch installed the file
    still imports and runs, and only those uses fail (MsMissingModule raises ImportError)."""
    roots = sorted({l.split()[1].split(".")[0] for l in lines}, key=lambda r: (r != "torch", r))
    first = [l for l in lines if l.split()[1].split(".")[0] == roots[0]]
    body = "".join(f"    {l}\n" for l in first)
    for r in roots[1:]:
        # each other package in its own try: torchvision failing to import must not cost torch
        inner = "".join(f"        {l}\n" for l in lines if l.split()[1].split(".")[0] == r)
        body += f"    try:\n{inner}    except ImportError:\n        {r} = MsMissingModule({r!r})\n"
    fallback = "".join(f"    {r} = MsMissingModule({r!r})\n" for r in roots)
    return cst.parse_statement(f"try:  {GUARD_COMMENT}\n{body}except ImportError:\n{fallback}")


_DEVICE_FLAGS = {"is_cuda": "False", "is_xpu": "False", "is_mps": "False"}
_AUTOGRAD_GRAPH = {"grad_fn", "next_functions", "is_leaf"}  # attributes of torch's graph: rules say why not


EINOPS_LAYERS = {"Rearrange": "MsRearrange", "Reduce": "MsReduce"}


def _einops_module(name) -> bool:
    return name is not None and (name == "einops" or name.startswith("einops."))


_FORMAT_SPEC = re.compile(r"\{[^{}:!]*(![rsa])?:[^{}]+\}")  # "{:.4f}", "{0:>8}", "{loss:.3e}"
_IMPORTS_NUMPY = re.compile(r"^\s*(import|from)\s+numpy\b", re.M)
_MAKES_OPTIMIZER = re.compile(r"^(configure|build|create|make|get|init|setup)_?optimi[sz]ers?$", re.I)


def _returns_its_argument(rule) -> bool:
    """torch.compile(model), torch.jit.script(model), FSDP(model): the converted call is its
    first argument, or a helper returning it (a wrapper that is the model itself)."""
    first = rule.signature.positional[0].name if rule.signature is not None and rule.signature.positional else None
    if first is None:
        return False
    if rule.template == "{" + first + "}" or any(t == "{" + first + "}" for _, t in rule.templates or ()):
        return True
    return rule.returns == "argument"


def _kind_of_torch_call(q: str, rule) -> str | None:
    if q.endswith(".GradScaler"):
        return "scaler"
    if q.startswith("torch.optim.lr_scheduler."):
        return "scheduler"
    if q.startswith("torch.optim."):
        return "optimizer"
    if q.startswith("torch.utils.data.DataLoader"):
        return "loader"
    if q in ("torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.Buffer", "torch.nn.parameter.Buffer"):
        return "tensor"
    if q.startswith(("torch.nn.", "torchvision.models.")) and not q.startswith(("torch.nn.functional", "torch.nn.init", "torch.nn.utils")):
        return "module"
    return "tensor"


def _is_package_reference(qualified: str) -> bool:
    """A bare package (`torch` passed around, `torch.nn` in an isinstance) is not an API use."""
    return qualified in ("torch", "torchvision", "torchaudio")
