"""The parameter map: how each converted model's torch state_dict names become MindSpore names.

Converting a model writes one JSON file (``--param-map PATH``; by default
``ms_migrate_param_map.json`` in the output folder, or beside the output file). It is data, not
code, so that ``ms-migrate ckpt`` (torch -> MindSpore) and a later reverse conversion read the
same facts. The schema (version 1)::

    {
      "schema": "ms-migrate/param-map", "version": 1,
      "root": "<folder the class keys are relative to>",
      "classes": {
        "models/net.py:Net": {                      # key: relative path + ":" + class name
          "file": "models/net.py", "class": "Net",
          "bases": ["models/net.py:Base"],          # user base classes whose members are inherited
          "layer_base": "torch.nn.Linear",          # only for subclasses of a torch layer
          "members": {"<attribute>": SPEC, ...},    # in registration order
          "ties": [{"alias": "decoder.weight", "source": "encoder.weight", "kind": "parameter",
                    "conditional": true}],          # conditional: under an if (the file shows it)
          "open": ["why some members could not be decided"],    # only when there are such
          "passed_in": {"<attribute>": "why"}       # self.x = x: a value from outside (a module?)
        }
      },
      "layers": {                                   # from the rules (rules/*.toml), per torch layer
        "torch.nn.BatchNorm2d": {"mindspore": "mindspore.nn.BatchNorm2d",
                                 "params": {"weight": "gamma", ...}, "drop": ["num_batches_tracked"],
                                 "transforms": {}, "fill": {"gamma": "ones", ...}}
      },
      "transforms": {"conv1d_weight": {"doc": "...", "forward": [{"op": "insert_axis", "axis": 2}],
                                       "reverse": [{"op": "remove_axis", "axis": 2}]}}
    }

A member SPEC is one of::

    {"kind": "layer", "torch": "torch.nn.Conv2d", "args": {"in_channels": 3, ...}}  # literal args only
    {"kind": "class", "class": "models/net.py:Block"}
    {"kind": "sequential" | "list" | "dict", "items": {"0": SPEC, ...}, "any": SPEC}  # "any": built in a loop
    {"kind": "parameter"}            # nn.Parameter attribute (name kept)
    {"kind": "buffer", "persistent": true}
    {"kind": "choice", "options": [SPEC, ...]}   # assigned differently on different paths
    {"kind": "unknown", "reason": "..."}         # static analysis cannot decide: the checkpoint decides

torch and MindSpore name a parameter by its attribute path, so a state_dict name is resolved by
walking the members from the root class; only the last component is renamed (``weight`` ->
``gamma``) by the layer's rule.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import libcst as cst

from .names import dotted_name

# The tensor transforms a layer rule may name (rule key `transforms`): how a torch tensor becomes
# the MindSpore one (and back). ms-migrate ckpt applies them.
TENSOR_TRANSFORMS: dict[str, dict] = {
    "conv1d_weight": {
        "doc": "Conv1d weight: torch (out, in/groups, k) -> MindSpore (out, in/groups, 1, k)",
        "ndim": 3,
        "forward": [{"op": "insert_axis", "axis": 2}],
        "reverse": [{"op": "remove_axis", "axis": 2}],
    },
}


SCHEMA = "ms-migrate/param-map"
VERSION = 1
DEFAULT_NAME = "ms_migrate_param_map.json"

SEQUENTIAL = {"torch.nn.Sequential", "torch.nn.modules.container.Sequential"}
MODULE_LIST = {"torch.nn.ModuleList", "torch.nn.modules.container.ModuleList"}
MODULE_DICT = {"torch.nn.ModuleDict", "torch.nn.modules.container.ModuleDict"}
PARAMETER = {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}
MODULE_BASES = {"torch.nn.Module", "torch.nn.modules.module.Module"}

UNKNOWN = "unknown"


def _unknown(reason: str) -> dict:
    return {"kind": UNKNOWN, "reason": reason}


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node).strip()


def _short(node: cst.CSTNode, n: int = 60) -> str:
    text = " ".join(_code(node).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _literal(node: cst.BaseExpression):
    import ast

    value = ast.literal_eval(_code(node))
    json.dumps(value)  # only JSON-able literals (tuples become lists)
    return value


def _str_literal(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        try:
            v = _literal(node)
        except (ValueError, SyntaxError, TypeError):
            return None
        return v if isinstance(v, str) else None
    return None


def _choice(specs: list[dict]) -> dict | None:
    """One spec for several assignments of the same attribute."""
    out: list[dict] = []
    for s in specs:
        if not isinstance(s, dict):
            continue  # None: an attribute set to None / a constant on one path
        for o in (s["options"] if s.get("kind") == "choice" else [s]):
            if o not in out:
                out.append(o)
    if not out:
        return None
    return out[0] if len(out) == 1 else {"kind": "choice", "options": out}


# ---- one file --------------------------------------------------------------------------------
@dataclass
class _ListVal:
    """A local list (or dict) of modules being built in __init__."""

    items: list = field(default_factory=list)  # (key or None, spec)
    loop: list = field(default_factory=list)  # specs appended inside loops / in unknown numbers
    is_dict: bool = False


class _ClassScanner:
    """Reads one class's ``__init__`` (and the helper methods it calls) for its members."""

    def __init__(self, ctx, node: cst.ClassDef, local_classes: set[str], user_imports: dict[str, tuple],
                 functions: dict | None = None):
        self.ctx = ctx
        self.node = node
        self.local_classes = local_classes
        self.user_imports = user_imports
        self.functions = functions or {}  # module-level functions of the file (factories of layers)
        self.members: dict[str, list[dict]] = {}
        self.ties: list[dict] = []
        self.open: list[str] = []
        self.methods = {s.name.value: s for s in _body(node) if isinstance(s, cst.FunctionDef)}
        self._calls = 0
        # `norm_layer = get_norm_layer(norm_layer) or LayerNorm` (timm): the layer class when the
        # construction site does not pass the parameter (its default is None)
        self.fallbacks: dict[str, dict] = {}

    # classes of this file that are torch containers without an __init__ of their own
    # (`class SequentialTuple(nn.Sequential)`, timm's PiT): built as the container is
    containers: dict = {}

    # -- entry
    def scan(self) -> None:
        init = self.methods.get("__init__")
        if init is not None:
            self._block(_body(init), {}, loop=False, depth=0)

    def init_signature(self) -> dict:
        """__init__'s parameter names (for construction-site arguments given by position) and the
        defaults that are layers or layer classes (`norm_layer=nn.LayerNorm`, `block=BasicBlock`)."""
        init = self.methods.get("__init__")
        if init is None:
            return {}
        params = [p.name.value for p in init.params.params][1:]
        defaults = {}
        for p in list(init.params.params)[1:] + list(init.params.kwonly_params):
            if p.default is not None:
                spec = self._ref(p.default, {}, 0)
                if spec is not None:
                    defaults[p.name.value] = spec
        for p in list(init.params.params)[1:] + list(init.params.kwonly_params):
            name = p.name.value
            if name in self.fallbacks and (p.default is None or _code(p.default) == "None"):
                defaults[name] = self.fallbacks[name]
        out: dict = {"params": params}
        if defaults:
            out["defaults"] = defaults
        return out

    def _or_default(self, target: str, value, env: dict, depth: int) -> bool:
        """`x = p or Layer` / `x = get_norm_layer(p) or Layer` in __init__, p a parameter of __init__
        that this scan has not bound: calls of x are calls of p, and Layer is p's class when the
        construction site passes none."""
        if not (isinstance(value, cst.BooleanOperation) and isinstance(value.operator, cst.Or)):
            return False
        left = value.left
        if isinstance(left, cst.Call) and len(left.args) == 1 and left.args[0].keyword is None:
            left = left.args[0].value
        init = self.methods.get("__init__")
        if not isinstance(left, cst.Name) or init is None or left.value in env:
            return False
        params = {p.name.value for p in list(init.params.params)[1:] + list(init.params.kwonly_params)}
        if left.value not in params:
            return False
        spec = self._ref(value.right, env, depth)
        if spec is None or spec.get("kind") == UNKNOWN:
            return False
        self.fallbacks.setdefault(left.value, spec)
        if target == left.value:
            env.pop(target, None)
        else:
            env[target] = {"kind": UNKNOWN, "reason": f"`{left.value}` passed in", "param": left.value}
        return True

    # -- statements
    cond = 0  # inside an if/try: a tie there may not happen

    def _block(self, stmts, env: dict, loop: bool, depth: int) -> object:
        """Scan statements; returns the spec of a `return` (helper methods), else None."""
        ret = []
        for stmt in stmts:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    r = self._small(small, env, loop, depth)
                    if r is not None:
                        ret.append(r)
            elif isinstance(stmt, (cst.For, cst.While)):
                r = self._block(_body(stmt), env, True, depth)
                if r is not None:
                    ret.append(r)
                if stmt.orelse is not None:
                    r = self._block(_body(stmt.orelse), env, loop, depth)
                    if r is not None:
                        ret.append(r)
            elif isinstance(stmt, (cst.If, cst.With, cst.Try, cst.TryStar)):
                self.cond += not isinstance(stmt, cst.With)
                for block in _sub_blocks(stmt):
                    r = self._block(block, env, loop, depth)
                    if r is not None:
                        ret.append(r)
                self.cond -= not isinstance(stmt, cst.With)
            # nested defs and classes do not run as part of __init__
        return _choice(ret) if ret else None

    def _small(self, small, env: dict, loop: bool, depth: int):
        if isinstance(small, cst.Return):
            return self._classify(small.value, env, depth) if small.value is not None else None
        if isinstance(small, cst.Assign):
            for t in small.targets:
                self._assign(t.target, small.value, env, loop, depth)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._assign(small.target, small.value, env, loop, depth)
        elif isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign):
            lst = self._list_of(small.target, env)
            if lst is not None:
                self._extend(lst, small.value, env, loop, depth)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            self._call_stmt(small.value, env, loop, depth)
        return None

    def _assign(self, target, value, env: dict, loop: bool, depth: int) -> None:
        if isinstance(target, cst.Name):
            if self._or_default(target.value, value, env, depth):
                return
            env[target.value] = self._classify_value(value, env, depth)
            return
        if isinstance(target, (cst.Tuple, cst.List)):
            # `self.global_pool, self.fc = create_classifier(...)` (timm): members the map cannot
            # decide (the checkpoint's names do), rather than members it does not know of
            els = [e.value for e in target.elements]
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(els) \
                    and not any(isinstance(e, cst.StarredElement) for e in value.elements):
                for t, v in zip(els, value.elements):
                    self._assign(t, v.value, env, loop, depth)
                return
            for t in els:
                name = dotted_name(t)
                if name is not None and name.startswith("self.") and "." not in name[5:]:
                    self._member(name[5:], _unknown(f"unpacked from {_short(value)}"))
            return
        if isinstance(target, cst.Subscript):
            # self.heads["a"] = nn.Linear(...) / layers[i] = ...
            lst = self._list_of(target.value, env)
            if lst is not None and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
                key = _str_literal(target.slice[0].slice.value)
                spec = self._classify(value, env, depth)
                if key is not None and not loop:
                    lst.items.append((key, spec))
                else:
                    lst.loop.append(spec)
            return
        name = dotted_name(target)
        if name is None or not name.startswith("self."):
            return
        path = name[len("self."):]
        if "." not in path:
            if loop:
                self.open.append(f"self.{path} is assigned in a loop")
            self._member(path, self._classify_value(value, env, depth))
            return
        # self.a.b = self.c.d: one parameter (or module) under two names
        src = dotted_name(value)
        if src is not None and src.startswith("self."):
            tie = {"alias": path, "source": src[len("self."):], "kind": "parameter"}
            if self.cond or loop:
                tie["conditional"] = True  # under an if: the checkpoint shows whether it happened
            self.ties.append(tie)

    def _member(self, name: str, spec) -> None:
        if isinstance(spec, _ListVal):
            spec = _list_spec(spec, "dict" if spec.is_dict else "list")
        if isinstance(spec, dict) and spec.get("kind") == "alias":
            tie = {"alias": name, "source": spec["source"], "kind": "module"}
            if self.cond:
                tie["conditional"] = True
            self.ties.append(tie)
            return
        if spec is None:
            self.members.setdefault(name, []).append(None)  # None on this path: the member is optional
            return
        self.members.setdefault(name, []).append(spec)

    def _call_stmt(self, call: cst.Call, env: dict, loop: bool, depth: int) -> None:
        func = call.func
        fname = dotted_name(func)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            owner = func.value
            if dotted_name(owner) == "self":
                args = [a for a in call.args]
                if method == "register_buffer" and args:
                    key = _str_literal(args[0].value)
                    persistent = True
                    for i, a in enumerate(args):
                        if (a.keyword is not None and a.keyword.value == "persistent") or (a.keyword is None and i == 2):
                            try:
                                persistent = bool(_literal(a.value))
                            except (ValueError, SyntaxError, TypeError):
                                persistent = True
                    if len(args) > 1 and _code(args[1].value) == "None":
                        return
                    if key is None:
                        self.open.append(f"a buffer with a computed name ({_short(call)})")
                    else:
                        self._member(key, {"kind": "buffer", "persistent": persistent})
                    return
                if method in ("register_parameter", "add_module", "register_module") and len(args) >= 2:
                    key = _str_literal(args[0].value)
                    if key is None:
                        self.open.append(f"a member with a computed name ({_short(call)})")
                        return
                    if method == "register_parameter":
                        if _code(args[1].value) != "None":
                            self._member(key, {"kind": "parameter"})
                    else:
                        self._member(key, self._classify(args[1].value, env, depth))
                    return
                if method in self.methods and method != "__init__" and depth < 3:
                    # self._build(): a helper that sets members itself
                    self._block(_body(self.methods[method]), self._bind_params(self.methods[method], call, env, depth,
                                                                               method=True), loop, depth + 1)
                    return
            lst = self._list_of(owner, env)
            if lst is not None and method in ("append", "extend", "insert", "update", "add_module"):
                if method == "append" and call.args:
                    spec = self._classify(call.args[0].value, env, depth)
                    (lst.loop if loop else lst.items).append(spec if loop else (None, spec))
                elif method == "insert" and len(call.args) == 2:
                    lst.loop.append(self._classify(call.args[1].value, env, depth))
                    lst.items, lst.loop = [], lst.loop + [s for _, s in lst.items]
                elif method in ("extend", "update") and call.args:
                    self._extend(lst, call.args[0].value, env, loop, depth)
                elif method == "add_module" and len(call.args) == 2:
                    key = _str_literal(call.args[0].value)
                    spec = self._classify(call.args[1].value, env, depth)
                    if key is not None and not loop:
                        lst.items.append((key, spec))
                    else:
                        lst.loop.append(spec)
                return
        if fname == "setattr" and len(call.args) == 3 and dotted_name(call.args[0].value) == "self":
            key = _str_literal(call.args[1].value)
            if key is None:
                self.open.append(f"a member set with a computed name ({_short(call)})")
            else:
                self._member(key, self._classify_value(call.args[2].value, env, depth))

    def _list_of(self, node, env: dict) -> _ListVal | None:
        name = dotted_name(node)
        if name is None:
            return None
        if name.startswith("self.") and "." not in name[5:]:
            specs = self.members.get(name[5:])
            if specs and isinstance(specs[-1], dict) and specs[-1].get("kind") in ("sequential", "list", "dict"):
                holder = specs[-1]
                lv = holder.setdefault("_live", _ListVal(is_dict=holder["kind"] == "dict"))
                return lv
            return None
        v = env.get(name)
        return v if isinstance(v, _ListVal) else None

    def _extend(self, lst: _ListVal, value, env: dict, loop: bool, depth: int) -> None:
        v = self._classify_value(value, env, depth)
        if isinstance(v, _ListVal):
            if loop or v.loop:
                lst.loop += [s for _, s in v.items] + v.loop
            else:
                lst.items += v.items
        elif isinstance(v, dict) and v.get("kind") in ("list", "sequential", "dict"):
            lst.loop += list(v.get("items", {}).values()) + ([v["any"]] if v.get("any") else [])
        else:
            lst.loop.append(_unknown(f"items of {_short(value)}"))

    # -- expressions
    def _classify_value(self, value, env: dict, depth: int):
        """Like _classify, but keeps local lists/dicts as _ListVal."""
        if isinstance(value, (cst.List, cst.Tuple)):
            lv = _ListVal()
            for el in value.elements:
                if isinstance(el, cst.StarredElement):
                    inner = self._classify_value(el.value, env, depth)
                    if isinstance(inner, _ListVal):
                        lv.items += inner.items
                        lv.loop += inner.loop
                    else:
                        lv.loop.append(_unknown(f"items of {_short(el.value)}"))
                else:
                    lv.items.append((None, self._classify(el.value, env, depth)))
            return lv
        if isinstance(value, cst.Dict):
            lv = _ListVal(is_dict=True)
            for el in value.elements:
                key = _str_literal(el.key) if isinstance(el, cst.DictElement) else None
                spec = self._classify(el.value, env, depth)
                if key is None:
                    lv.loop.append(spec)
                else:
                    lv.items.append((key, spec))
            return lv
        if isinstance(value, (cst.ListComp, cst.GeneratorExp)):
            return _ListVal(loop=[self._classify(value.elt, env, depth)])
        if isinstance(value, cst.DictComp):
            return _ListVal(loop=[self._classify(value.value, env, depth)], is_dict=True)
        if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, (cst.Add, cst.Multiply)):
            left = self._classify_value(value.left, env, depth)
            right = self._classify_value(value.right, env, depth)
            if isinstance(left, _ListVal) and isinstance(right, _ListVal) and isinstance(value.operator, cst.Add):
                return _ListVal(items=left.items + right.items, loop=left.loop + right.loop)
            for side in (left, right):
                if isinstance(side, _ListVal):
                    return _ListVal(loop=[s for _, s in side.items] + side.loop)
        if isinstance(value, cst.Call):
            name = dotted_name(value.func)
            if name in ("list", "tuple") and value.args:
                return self._classify_value(value.args[0].value, env, depth)
            if name in ("OrderedDict", "collections.OrderedDict", "dict"):
                return self._ordered_dict(value, env, depth)
        if isinstance(value, cst.Name) and isinstance(env.get(value.value), _ListVal):
            return env[value.value]
        return self._classify(value, env, depth)

    def _ordered_dict(self, call: cst.Call, env: dict, depth: int) -> _ListVal:
        lv = _ListVal(is_dict=True)
        keywords = [a for a in call.args if a.keyword is not None and not a.star]
        if keywords and len(keywords) == len(call.args):  # dict(wte=nn.Embedding(...), h=nn.ModuleList(...))
            for a in keywords:
                lv.items.append((a.keyword.value, self._classify(a.value, env, depth)))
            return lv
        if not call.args:
            return lv
        arg = call.args[0].value
        if isinstance(arg, cst.Dict):
            return self._classify_value(arg, env, depth)
        if isinstance(arg, (cst.List, cst.Tuple)):
            for el in arg.elements:
                if isinstance(el.value, cst.Tuple) and len(el.value.elements) == 2:
                    key = _str_literal(el.value.elements[0].value)
                    spec = self._classify(el.value.elements[1].value, env, depth)
                    if key is None:
                        lv.loop.append(spec)
                    else:
                        lv.items.append((key, spec))
                else:
                    lv.loop.append(_unknown(f"an entry of {_short(arg)}"))
            return lv
        v = env.get(dotted_name(arg) or "")
        if isinstance(v, _ListVal):
            return v
        lv.loop.append(_unknown(f"entries of {_short(arg)}"))
        return lv

    def _classify(self, value, env: dict, depth: int) -> dict:
        if isinstance(value, cst.IfExp):
            return _choice([self._classify(value.body, env, depth), self._classify(value.orelse, env, depth)])
        if isinstance(value, cst.Name):
            v = env.get(value.value)
            if isinstance(v, _ListVal):
                return _list_spec(v, "dict" if v.is_dict else "list")
            if isinstance(v, dict) and v.get("kind") == "ref":
                return {"kind": UNKNOWN, "reason": f"`{value.value}` is a layer class, not a layer"}
            if isinstance(v, dict) and v.get("kind") == UNKNOWN and v.get("param"):
                return {"kind": UNKNOWN, "reason": f"`{value.value}` is not built in __init__ (passed in?)",
                        "passed_in": True, "param": v["param"]}
            if isinstance(v, dict):
                return v
            if value.value == "None":
                return None
            return {"kind": UNKNOWN, "reason": f"`{value.value}` is not built in __init__ (passed in?)", "passed_in": True,
                    "param": value.value}
        if isinstance(value, cst.Attribute):
            name = dotted_name(value)
            if name is not None and name.startswith("self.") and "." not in name[5:]:
                return {"kind": "alias", "source": name[5:]}
            return _unknown(f"`{_short(value)}`")
        if isinstance(value, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            return None
        if not isinstance(value, cst.Call):
            return _unknown(f"`{_short(value)}`")
        q = self.ctx.table.resolve(value.func)
        if q is None and isinstance(value.func, cst.Name):
            for mod in self.ctx.table.star_modules:
                if self.ctx.rules.get(f"{mod}.{value.func.value}") is not None:
                    q = f"{mod}.{value.func.value}"
        if q is not None:
            return self._torch_call(q, value, env, depth)
        name = dotted_name(value.func)
        if name in self.containers:
            return self._torch_call(self.containers[name], value, env, depth)
        if name in self.local_classes:
            return {"kind": "class", "ref": name, **self._site_args(value, env, depth)}
        if name is not None and name.split(".")[0] in self.user_imports:
            head, _, rest = name.partition(".")
            mod, orig = self.user_imports[head]
            if rest:
                return {"kind": "class", "module": f"{mod}.{orig}" if orig else mod, "name": rest,
                        **self._site_args(value, env, depth)}
            return {"kind": "class", "module": mod, "name": orig, **self._site_args(value, env, depth)}
        if name is not None and name.startswith("self.") and name[5:] in self.methods and depth < 3 \
                and self._calls < 50:
            self._calls += 1
            fn = self.methods[name[5:]]
            r = self._block(_body(fn), self._bind_params(fn, value, env, depth, method=True), False, depth + 1)
            if isinstance(r, dict):
                return r
            return _unknown(f"built by {_short(value)}")
        if name is not None and name in self.functions and depth < 3 and self._calls < 50:
            # a factory function of this file: `def FeedForward(dim, h): return nn.Sequential(...)`
            self._calls += 1
            fn = self.functions[name]
            r = self._block(_body(fn), self._bind_params(fn, value, env, depth), False, depth + 1)
            if isinstance(r, _ListVal):
                r = _list_spec(r, "dict" if r.is_dict else "list")
            if isinstance(r, dict):
                return r
            return _unknown(f"built by {_short(value)}")
        if isinstance(value.func, cst.Name):
            bound = env.get(value.func.value)
            if isinstance(bound, dict) and bound.get("kind") == "ref":
                return bound["spec"]  # a layer class held in a variable / passed to a helper
            if isinstance(bound, dict) and bound.get("kind") == UNKNOWN and bound.get("param"):
                return {"kind": UNKNOWN, "reason": f"built by {_short(value)}", "call_of": bound["param"]}
        if name is not None and name[:1].isupper():
            return {"kind": "class", "ref": name, **self._site_args(value, env, depth)}  # resolved against all files
        if isinstance(value.func, cst.Name) and value.func.value not in env:
            # `block(...)`, `norm_layer(dim)`: a class passed in; the construction site (or the default) decides
            return {"kind": UNKNOWN, "reason": f"built by {_short(value)}", "call_of": value.func.value}
        return _unknown(f"built by {_short(value)}")

    # -- layer classes and modules passed as arguments
    def _ref(self, value, env: dict, depth: int):
        """What an argument is, as a layer: a class (`BasicBlock`, `nn.LayerNorm`,
        `partial(nn.LayerNorm, eps=1e-6)`) or a module instance (`Attention(dim)`); None otherwise."""
        if isinstance(value, cst.Call) and dotted_name(value.func) in ("partial", "functools.partial") and value.args:
            return self._ref(value.args[0].value, env, depth)
        if isinstance(value, cst.Call):
            spec = self._classify(value, env, depth)
            return spec if isinstance(spec, dict) and spec.get("kind") != UNKNOWN or (
                isinstance(spec, dict) and spec.get("call_of")) else None
        if isinstance(value, (cst.Name, cst.Attribute)):
            name = dotted_name(value)
            if isinstance(value, cst.Name):
                bound = env.get(value.value)
                if isinstance(bound, dict) and bound.get("kind") == "ref":
                    return bound["spec"]
                if isinstance(bound, dict) and bound.get("kind") not in (None, UNKNOWN, "alias"):
                    return bound
                if isinstance(bound, dict) and bound.get("param"):
                    return {"kind": UNKNOWN, "reason": f"`{value.value}` passed in", "param": bound["param"]}
            q = self.ctx.table.resolve(value)
            if q is not None:
                rule = self.ctx.rules.get(q)
                if rule is not None and q.startswith("torch.nn.") and q not in MODULE_BASES:
                    return {"kind": "layer", "torch": q}
                return None
            if name in self.local_classes:
                return {"kind": "class", "ref": name}
            if name is not None and name.split(".")[0] in self.user_imports:
                head, _, rest = name.partition(".")
                mod, orig = self.user_imports[head]
                return {"kind": "class", "module": f"{mod}.{orig}" if orig and rest else mod,
                        "name": rest or orig} if (rest or orig) and (rest or orig)[:1].isupper() else None
        return None

    def _site_args(self, call: cst.Call, env: dict, depth: int) -> dict:
        """Arguments of a construction site that are layers or layer classes: {"args": {"0" | name: SPEC}}."""
        args = {}
        pos = 0
        for a in call.args:
            if a.star:
                break
            key = a.keyword.value if a.keyword is not None else str(pos)
            if a.keyword is None:
                pos += 1
            spec = self._ref(a.value, env, depth)
            if spec is not None:
                args[key] = spec
        return {"args": args} if args else {}

    def _bind_params(self, fn: cst.FunctionDef, call: cst.Call, env: dict, depth: int, method: bool = False) -> dict:
        """The environment a helper (method or function) body runs in: its parameters bound to the
        layers or layer classes the call passes (`self._make_layer(block, 64, 2)`), else to the
        caller's own parameters of that name, else to their defaults."""
        params = [p for p in fn.params.params]
        if method and params:
            params = params[1:]
        out: dict = {}
        given: dict = {}
        for i, a in enumerate(call.args):
            if a.star:
                break
            if a.keyword is not None:
                given[a.keyword.value] = a.value
            elif i < len(params):
                given[params[i].name.value] = a.value
        for p in params + list(fn.params.kwonly_params):
            name = p.name.value
            value = given.get(name, p.default)
            if value is None:
                continue
            spec = self._ref(value, env, depth)
            if spec is not None:
                instance = isinstance(value, cst.Call) and dotted_name(value.func) not in ("partial", "functools.partial")
                out[name] = spec if instance else {"kind": "ref", "spec": spec}
            elif isinstance(value, cst.Name) and isinstance(env.get(value.value), _ListVal):
                out[name] = env[value.value]
            elif isinstance(value, cst.Name) and value.value not in env:
                out[name] = {"kind": UNKNOWN, "reason": f"`{value.value}` passed in", "param": value.value}
        return out

    def _torch_call(self, q: str, call: cst.Call, env: dict, depth: int) -> dict | None:
        if q in PARAMETER:
            return {"kind": "parameter"}
        if q in SEQUENTIAL:
            lv = _ListVal()
            for a in call.args:
                if a.star == "*":
                    inner = self._classify_value(a.value, env, depth)
                    if isinstance(inner, _ListVal):
                        lv.items += [(None, s) for _, s in inner.items]
                        lv.loop += inner.loop
                    else:
                        lv.loop.append(_unknown(f"items of {_short(a.value)}"))
                elif a.keyword is None:
                    inner = self._classify_value(a.value, env, depth) if len(call.args) == 1 else None
                    if isinstance(inner, _ListVal) and inner.is_dict:
                        lv = inner  # Sequential(OrderedDict(...)): children keep their keys
                    else:
                        lv.items.append((None, self._classify(a.value, env, depth)))
            return _list_spec(lv, "sequential")
        if q in MODULE_LIST or q in MODULE_DICT:
            kind = "list" if q in MODULE_LIST else "dict"
            lv = _ListVal(is_dict=kind == "dict")
            if call.args:
                inner = self._classify_value(call.args[0].value, env, depth)
                if isinstance(inner, _ListVal):
                    lv = _ListVal(items=list(inner.items), loop=list(inner.loop), is_dict=kind == "dict")
                elif inner is not None:
                    lv.loop.append(inner if inner.get("kind") == UNKNOWN else _unknown(f"items of {_short(call)}"))
            return _list_spec(lv, kind)
        spec: dict = {"kind": "layer", "torch": q}
        rule = self.ctx.rules.get(q)
        if rule is not None and rule.signature is not None:
            from .signature import BindError, bind

            try:
                bound = bind(rule.signature, call.args)
            except BindError:
                bound = None
            if bound is not None:
                args = {}
                for k, v in bound.values.items():
                    try:
                        args[k] = _literal(v)
                    except (ValueError, SyntaxError, TypeError):
                        args = None
                        break
                if args is not None and not bound.star and not bound.extra_kwargs:
                    spec["args"] = args
        return spec


def _list_spec(lv: _ListVal, kind: str) -> dict:
    spec: dict = {"kind": kind, "items": {}}
    if lv.loop:
        spec["any"] = _choice([s for s in lv.loop + [s for _, s in lv.items] if s is not None]) or _unknown("empty")
        return spec
    for i, (key, s) in enumerate(lv.items):
        if s is not None:
            spec["items"][key if key is not None else str(i)] = s
    return spec


def _finish(spec):
    """Fold containers filled after their creation (appends to self.layers) into their spec."""
    if not isinstance(spec, dict):
        return spec
    live = spec.pop("_live", None)
    if live is not None:
        base = _ListVal(items=[(k, s) for k, s in spec.get("items", {}).items()], is_dict=spec["kind"] == "dict")
        if "any" in spec:
            base.loop.append(spec.pop("any"))
        if spec["kind"] != "dict":
            base.items = [(None, s) for _, s in base.items]
        base.items += live.items
        base.loop += live.loop
        spec.update(_list_spec(base, spec["kind"]))
    for k in ("items",):
        if k in spec:
            spec[k] = {kk: _finish(v) for kk, v in spec[k].items()}
    if "any" in spec:
        spec["any"] = _finish(spec["any"])
    if spec.get("kind") == "choice":
        spec["options"] = [_finish(o) for o in spec["options"]]
    return spec


def _body(node) -> list:
    body = node.body
    if isinstance(body, cst.IndentedBlock):
        return list(body.body)
    if isinstance(body, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body=body.body)]
    return []


def _sub_blocks(stmt):
    yield _body(stmt)
    orelse = getattr(stmt, "orelse", None)
    if orelse is not None:
        if isinstance(orelse, cst.If):
            yield [orelse]
        else:
            yield _body(orelse)
    for h in getattr(stmt, "handlers", ()):
        yield _body(h)
    fin = getattr(stmt, "finalbody", None)
    if fin is not None:
        yield _body(fin)


def _user_imports(module: cst.Module) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module as written, imported name) for non-torch imports (user code)."""
    out: dict[str, tuple[str, str | None]] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                mod = "." * len(small.relative) + (dotted_name(small.module) or "" if small.module else "")
                if mod.split(".")[0] in ("torch", "torchvision", "torchaudio", "mindspore"):
                    continue
                for a in small.names:
                    local = a.asname.name.value if a.asname else dotted_name(a.name)
                    out[local] = (mod, dotted_name(a.name))
            elif isinstance(small, cst.Import):
                for a in small.names:
                    full = dotted_name(a.name) or ""
                    if full.split(".")[0] in ("torch", "torchvision", "torchaudio", "mindspore"):
                        continue
                    local = a.asname.name.value if a.asname else full.split(".")[0]
                    out[local] = (full if a.asname else full.split(".")[0], None)
    return out


def _is_model_class(node: cst.ClassDef, ctx, known: set[str], user_imports) -> tuple[bool, str | None, list[str]]:
    """(is a model class, torch layer it subclasses, user base class names)."""
    from .transforms.classes import is_cell_class

    layer_base = None
    user_bases = []
    for a in node.bases:
        if a.keyword is not None:
            continue
        q = ctx.table.resolve(a.value)
        if q is not None:
            if q not in MODULE_BASES and q.startswith("torch.nn."):
                layer_base = q
            continue
        name = dotted_name(a.value)
        if name is not None:
            user_bases.append(name)
    return is_cell_class(node, ctx.table, ctx.rules, known), layer_base, user_bases


def extract(module: cst.Module, ctx) -> dict:
    """The classes of one file with their members (class references still local: resolved by
    ``merge`` against all converted files)."""
    classes: dict[str, dict] = {}
    known: set[str] = set()
    user_imports = _user_imports(module)
    defs: list[cst.ClassDef] = []

    def collect(stmts):
        for s in stmts:
            if isinstance(s, cst.ClassDef):
                defs.append(s)
                collect(_body(s))
            elif isinstance(s, (cst.If, cst.Try, cst.With)):
                for b in _sub_blocks(s):
                    collect(b)

    collect(module.body)
    local_names = {d.name.value for d in defs}
    functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    containers = {}
    for d in defs:
        for a in d.bases:
            q = ctx.table.resolve(a.value) if a.keyword is None else None
            if q in SEQUENTIAL | MODULE_LIST | MODULE_DICT and not any(
                    isinstance(st, cst.FunctionDef) and st.name.value == "__init__" for st in _body(d)):
                containers[d.name.value] = q
    sites = _construction_sites(module, ctx, defs, local_names, user_imports, functions)
    for node in defs:
        ok, layer_base, bases = _is_model_class(node, ctx, known, user_imports)
        if not ok:
            continue
        known.add(node.name.value)
        scanner = _ClassScanner(ctx, node, local_names, user_imports, functions)
        scanner.containers = containers
        try:
            scanner.scan()
        except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # the map must never cost the user the conversion: this class is left to the checkpoint
            scanner.members, scanner.ties = {}, []
            scanner.open.append(f"not analysed ({type(exc).__name__}: {exc})")
        members = {}
        passed_in = {}
        passed_from = {}
        for name, specs in scanner.members.items():
            specs = [_finish(s) for s in specs]
            merged = _choice(specs)
            if merged is not None and None in specs and merged.get("kind") in ("class", "layer", "choice"):
                merged = {**merged, "optional": True}  # `self.root = None` on another path (timm's DlaTree)
            if merged is not None and merged.get("passed_in"):
                passed_in[name] = merged["reason"]  # self.x = x: usually a number, perhaps a module
                if merged.get("param"):
                    passed_from[name] = merged["param"]  # the construction site's argument decides
            elif merged is not None:
                members[name] = merged
        entry: dict = {"class": node.name.value, "members": members}
        if passed_in:
            entry["passed_in"] = passed_in
        if passed_from:
            entry["passed_from"] = passed_from
        try:
            sig = scanner.init_signature()
        except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError):
            sig = {}
        if sig.get("params") and (passed_from or sig.get("defaults") or any(
                x.get("call_of") or x.get("param") for x in _walk_specs(entry))):
            cands = sites.get(node.name.value, {})
            cands = {k: v for k, v in cands.items() if k in sig["params"] or k.isdigit()}
            if cands:
                # what the construction sites in this file pass: the checkpoint chooses among them
                sig["candidates"] = {(sig["params"][int(k)] if k.isdigit() and int(k) < len(sig["params"]) else k): v
                                     for k, v in cands.items()}
            entry["init"] = sig
        if bases:
            entry["bases"] = [_ref_of(b, local_names, user_imports) for b in bases]
        if layer_base:
            entry["layer_base"] = layer_base
        if scanner.ties:
            entry["ties"] = scanner.ties
        if scanner.open:
            entry["open"] = sorted(set(scanner.open))
        classes[node.name.value] = entry
    layers = sorted({s["torch"] for c in classes.values() for s in _walk_specs(c) if s.get("kind") == "layer"}
                    | {c["layer_base"] for c in classes.values() if c.get("layer_base")})
    return {"classes": classes, "layers": {q: layer_entry(q, ctx.rules) for q in layers}}


def _construction_sites(module: cst.Module, ctx, defs, local_names, user_imports, functions) -> dict:
    """class name -> {argument (position or keyword) -> [layer / layer class specs passed there]},
    from every call of a class of this file (`ResNet(BasicBlock, [2, 2, 2, 2])` in a builder)."""
    out: dict[str, dict[str, list]] = {}
    if not defs:
        return out
    scanner = _ClassScanner(ctx, defs[0], local_names, user_imports, functions)

    def site(node: cst.Call) -> None:
        name = dotted_name(node.func)
        if name not in local_names:
            return
        try:
            args = scanner._site_args(node, {}, 2).get("args", {})
        except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError):
            return
        for k, spec in args.items():
            lst = out.setdefault(name, {}).setdefault(k, [])
            if spec not in lst:
                lst.append(spec)

    calls = getattr(ctx, "name_calls", None)
    if calls is not None:  # collected by the conversion's own walk of this module
        for node in calls:
            site(node)
        return out

    class Sites(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            site(node)

    module.visit(Sites())
    return out


def _ref_of(name: str, local_names: set[str], user_imports) -> dict:
    if name in local_names:
        return {"ref": name}
    head, _, rest = name.partition(".")
    if head in user_imports:
        mod, orig = user_imports[head]
        if rest:
            return {"module": f"{mod}.{orig}" if orig else mod, "name": rest}
        return {"module": mod, "name": orig}
    return {"ref": name}


def _walk_specs(entry: dict):
    stack = list(entry.get("members", {}).values()) + list(entry.get("init", {}).get("defaults", {}).values())
    stack += [x for v in entry.get("init", {}).get("candidates", {}).values() for x in v]
    while stack:
        s = stack.pop()
        if not isinstance(s, dict):
            continue
        yield s
        stack += list(s.get("items", {}).values())
        if s.get("any"):
            stack.append(s["any"])
        stack += s.get("options", [])
        stack += list(s.get("args", {}).values())


def layer_entry(q: str, rules) -> dict:
    """What the rules say about one torch layer's parameters (data copied into the map)."""
    rule = rules.get(q)
    if rule is None:
        return {"mindspore": None, "note": "no rule: the conversion left this layer untranslated"}
    entry: dict = {"mindspore": rule.to if rule.translated else None}
    renames = {k: v for k, v in rule.params.items() if v}
    if renames:
        entry["params"] = renames
    drop = [k for k, v in rule.params.items() if not v]
    if drop:
        entry["drop"] = drop
    if rule.param_transforms:
        entry["transforms"] = dict(rule.param_transforms)
    if rule.fill_params:
        entry["fill"] = dict(rule.fill_params)
    if rule.members:
        entry["members"] = dict(rule.members)  # layers inside it, each with its own renames
    if rule.nested_params == "batch_norm":
        bn = rules.get("torch.nn.BatchNorm2d")
        entry["nested_batch_norm"] = {k: v for k, v in bn.params.items()}
    if not rule.translated:
        entry["note"] = f"untranslated: {rule.unsupported}"
    return entry


# ---- all files -------------------------------------------------------------------------------
def merge(per_file: list[tuple[str, dict]], root: str = "") -> dict:
    """One map for a run: class keys ``relative/path.py:Class``, class references resolved across
    files (same file first, then imports, then a unique class of that name anywhere)."""

    files = {rel: data for rel, data in per_file}
    by_name: dict[str, list[str]] = {}
    for rel, data in per_file:
        for cname in data.get("classes", {}):
            by_name.setdefault(cname, []).append(f"{rel}:{cname}")
    module_files = {}
    for rel in files:
        mod = rel[:-3] if rel.endswith(".py") else rel
        mod = mod.replace(os.sep, "/").replace("/", ".")
        if mod.endswith(".__init__"):
            mod = mod[: -len(".__init__")]
        module_files[mod] = rel
    module_of = {rel: mod for mod, rel in module_files.items()}

    def resolve(ref: dict, rel: str) -> str | None:
        if "ref" in ref:
            name = ref["ref"]
            if name in files[rel].get("classes", {}):
                return f"{rel}:{name}"
            cands = by_name.get(name.rsplit(".", 1)[-1], [])
            return cands[0] if len(cands) == 1 else None
        mod, name = ref.get("module") or "", ref.get("name") or ""
        if mod.startswith("."):
            level = len(mod) - len(mod.lstrip("."))
            here = os.path.dirname(rel).replace(os.sep, "/").split("/") if os.path.dirname(rel) else []
            base = here[: len(here) - (level - 1)] if level > 1 else here
            mod = ".".join([*base, *filter(None, mod.lstrip(".").split("."))])
        for cand_mod, crel in module_files.items():
            if cand_mod == mod or cand_mod.endswith("." + mod) or mod.endswith("." + cand_mod):
                if name in files[crel].get("classes", {}):
                    return f"{crel}:{name}"
        cands = by_name.get(name, [])
        if len(cands) == 1:
            return cands[0]
        # `from timm.layers import PatchEmbed`: a package re-exporting the class of one of its
        # modules (several modules of the tree define a PatchEmbed; one is in the package)
        parts = mod.split(".")
        for k in range(len(parts)):
            pkg = ".".join(parts[k:])  # pkg.layers, then layers (the tree's root may be the package)
            inside = [c for c in cands if module_of.get(c.rsplit(":", 1)[0], "").startswith(pkg + ".")]
            if len(inside) == 1:
                return inside[0]
        return None

    def fix(spec, rel):
        if not isinstance(spec, dict):
            return spec
        if spec.get("kind") == "class" and "class" not in spec:
            key = resolve(spec, rel)
            if key is None:
                label = spec.get("ref") or f"{spec.get('module')}.{spec.get('name')}"
                return _unknown(f"{label}(...) is not a model class among the converted files")
            out = {"kind": "class", "class": key}
            if spec.get("optional"):
                out["optional"] = True
            if spec.get("args"):
                out["args"] = {k: fix(v, rel) for k, v in spec["args"].items()}
            return out
        out = dict(spec)
        if "items" in out:
            out["items"] = {k: fix(v, rel) for k, v in out["items"].items()}
        if "any" in out:
            out["any"] = fix(out["any"], rel)
        if "options" in out:
            out["options"] = [fix(o, rel) for o in out["options"]]
        return out

    classes: dict[str, dict] = {}
    layers: dict[str, dict] = {}
    for rel, data in per_file:
        layers.update(data.get("layers", {}))
        for cname, entry in data.get("classes", {}).items():
            e = {"file": rel, "class": cname}
            bases = []
            for b in entry.get("bases", []):
                key = resolve(b, rel)
                if key is not None:
                    bases.append(key)
            if bases:
                e["bases"] = bases
            if entry.get("layer_base"):
                e["layer_base"] = entry["layer_base"]
            e["members"] = {k: fix(v, rel) for k, v in entry.get("members", {}).items()}
            if entry.get("ties"):
                e["ties"] = entry["ties"]
            if entry.get("open"):
                e["open"] = entry["open"]
            if entry.get("passed_in"):
                e["passed_in"] = entry["passed_in"]
            if entry.get("passed_from"):
                e["passed_from"] = entry["passed_from"]
            if entry.get("init"):
                e["init"] = dict(entry["init"])
                if entry["init"].get("defaults"):
                    e["init"]["defaults"] = {k: fix(v, rel) for k, v in entry["init"]["defaults"].items()}
                if entry["init"].get("candidates"):
                    e["init"]["candidates"] = {k: [fix(x, rel) for x in v]
                                               for k, v in entry["init"]["candidates"].items()}
            classes[f"{rel}:{cname}"] = e
    transforms = {name: TENSOR_TRANSFORMS[name] for entry in layers.values()
                  for name in entry.get("transforms", {}).values() if name in TENSOR_TRANSFORMS}
    return {"schema": SCHEMA, "version": VERSION, "root": root, "classes": classes,
            "layers": dict(sorted(layers.items())), "transforms": transforms}


def build(sources: dict[str, str | bytes], rules=None) -> dict:
    """The map for in-memory sources {relative path: code} (tests and library use)."""
    from .context import FileContext
    from .names import build_import_table
    from .rules import default_rules

    rules = rules or default_rules()
    per_file = []
    for rel, code in sources.items():
        text = code.decode() if isinstance(code, bytes) else code
        module = cst.parse_module(text)
        ctx = FileContext(rules=rules, table=build_import_table(module, rules.is_namespace), source=text)
        per_file.append((rel, extract(module, ctx)))
    return merge(per_file)


def write_param_map(report, path: str) -> bool:
    """Write the merged map of every converted file in ``report``; False when there is no model class."""
    files = [f for f in report.files if f.param_map and f.param_map.get("classes")]
    if not files:
        return False
    paths = [os.path.abspath(f.path) for f in files]
    root = os.path.dirname(paths[0]) if len(paths) == 1 else os.path.commonpath([os.path.dirname(p) for p in paths])
    per_file = [(os.path.relpath(p, root).replace(os.sep, "/"), f.param_map) for p, f in zip(paths, files)]
    data = merge(per_file, root)
    from .fileio import write_atomic

    write_atomic(path, (json.dumps(data, indent=1) + "\n").encode())
    return True


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not an ms-migrate parameter map (no \"schema\": \"{SCHEMA}\")")
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: parameter map version {data.get('version')} is not supported (expected {VERSION})")
    return data


# ---- what the converter emits so that MindSpore names parameters as torch does -------------------
NAMING_FIX = "update_parameters_name"
NAMING_FIX_COMMENT = "# ms-migrate: name parameters by attribute path, as torch does (checkpoints load by name)"


def built_members(node: cst.Assign, me: str) -> set[str]:
    """`me.x = Block(...)` (or `A(...) if c else B(...)`): members that may hold a module built here."""
    value = node.value
    if not (isinstance(value, cst.Call) or (isinstance(value, cst.IfExp) and (
            isinstance(value.body, cst.Call) or isinstance(value.orelse, cst.Call)))):
        return set()
    out = set()
    for t in node.targets:
        n = dotted_name(t.target)
        if n is not None and n.startswith(me + ".") and n.count(".") == 1:
            out.add(n[len(me) + 1:])
    return out


def naming_fix_signal(node: cst.CSTNode, me: str, built: set | frozenset = frozenset()) -> bool:
    """Does this node, directly in a Cell's ``__init__`` whose first parameter is ``me``, build
    members in a way MindSpore names differently from torch?

    A CellList/SequentialCell filled by ``append`` after it became an attribute names its cells'
    parameters without the attribute prefix (``0.conv.weight``, colliding between two lists), and a
    tied parameter or a module bound to two attributes keeps the name of one assignment rather
    than of its first attribute path: ``me.layers.append(...)``, ``me.x += ...``,
    ``me.a.w = me.b.w``, ``me.b = me.a``, ``me.d[k] = ...``; a cell set inside a member
    (``me.backbone.fc = nn.Linear(...)``) is named without the member's prefix; a member built here
    (in ``built``) handed to another constructor (``Block(shared_cpe=me.cpe1)``, timm's CoaT), which
    stores it: MindSpore names the shared cell's parameters by the last assignment, torch by the
    first attribute path. The converter asks this of each
    statement during its walk and ends such an ``__init__`` with ``self.update_parameters_name()``,
    which renames every parameter to its first attribute path, as torch's state_dict order has it."""
    if isinstance(node, cst.Call):
        f = node.func
        if isinstance(f, cst.Attribute) and f.attr.value in ("append", "extend", "insert", "add_module") \
                and isinstance(f.value, cst.Attribute) and dotted_name(f.value) == f"{me}.{_attr(f.value)}":
            return True
        if built and not (dotted_name(f) or "").startswith(me + "."):
            for a in node.args:
                values = [el.value for el in a.value.elements] if isinstance(a.value, (cst.Tuple, cst.List)) \
                    else [a.value]
                for v in values:
                    n = dotted_name(v)
                    if n is not None and n.startswith(me + ".") and n[len(me) + 1:] in built:
                        return True
        return False
    if isinstance(node, cst.AugAssign):
        n = dotted_name(node.target)
        return n is not None and n.startswith(me + ".") and n.count(".") == 1
    if isinstance(node, cst.Assign):
        src = dotted_name(node.value)
        for t in node.targets:
            n = dotted_name(t.target)
            if n is None or not n.startswith(me + "."):
                if isinstance(t.target, cst.Subscript) and (dotted_name(t.target.value) or "").startswith(me + "."):
                    return True
                continue
            if src is not None and src.startswith(me + ".") and n != src:
                return True  # a tie (self.a.w = self.b.w) or an alias (self.b = self.a)
            if n.count(".") >= 2 and isinstance(node.value, cst.Call):
                return True  # a layer replaced inside a member (self.backbone.fc = nn.Linear(...))
    return False


def _attr(node: cst.Attribute) -> str:
    return node.attr.value


def class_layer_members(ctx, node: cst.ClassDef) -> dict[str, str]:
    """member -> torch layer, for the members of one class that are plainly one torch layer."""
    scanner = _ClassScanner(ctx, node, set(), {})
    try:
        scanner.scan()
    except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError):
        return {}  # never cost the user the conversion
    out: dict[str, str] = {}

    def walk(path: str, spec) -> None:  # containers with named entries: `transformer.wpe`
        if not isinstance(spec, dict):
            return
        if spec.get("kind") == "layer":
            out[path] = spec["torch"]
        elif spec.get("kind") in ("dict", "sequential", "list"):
            for key, item in spec.get("items", {}).items():
                walk(f"{path}.{key}", item)

    for name, specs in scanner.members.items():
        walk(name, _choice([_finish(sp) for sp in specs]))
    return out
