"""Checkpoint names and values: torch state_dict -> MindSpore parameters.

Two ways in: ``torch_module_name_map``/``torch_module_fills`` walk an *instantiated* torch module
(the test harness copies weights with them); ``convert_checkpoint`` (``ms-migrate ckpt``) needs
no model, only the parameter map written at conversion (``migrator.param_map``) and the file.

torch and mindspore are imported lazily, inside the functions that need them: the converter
itself never imports either.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .param_map import TENSOR_TRANSFORMS, _walk_specs, layer_entry, load  # (imports flow one way: map -> checkpoint)
from .rules import RuleSet, default_rules


def layer_rule_for(cls, rules: RuleSet):
    """The rule of a torch layer class (``torch.nn.BatchNorm2d``), also for a user class derived
    from one (``class LayerNorm2d(nn.LayerNorm)``: same parameters), or None for other classes."""
    for base in getattr(cls, "__mro__", (cls,)):
        if getattr(base, "__module__", "").startswith("torch.nn") and base.__name__ != "Module":
            rule = rules.get(f"torch.nn.{base.__name__}")
            if rule is not None:
                return rule
    return None


# Wrappers whose state_dict leaves their own name out (the converted model has no wrapper):
# activation checkpointing's and FSDP1's.
_WRAPPER_NAMES = ("_checkpoint_wrapped_module", "_fsdp_wrapped_module")


def _unwrapped(name: str) -> str:
    return ".".join(p for p in name.split(".") if p not in _WRAPPER_NAMES)


def torch_module_name_map(module, rules: RuleSet | None = None) -> dict[str, tuple[str, str | None] | None]:
    """torch state_dict name -> (MindSpore parameter name, value transform) for an instantiated
    torch module, or None for entries MindSpore does not keep (``num_batches_tracked``)."""
    rules = rules or default_rules()
    out: dict[str, tuple[str, str | None] | None] = {}
    ms_prefixes = _ms_prefixes(module, rules)
    for prefix, sub in module.named_modules():
        rule = layer_rule_for(type(sub), rules)
        params = rule.params if rule else {}
        transforms = rule.param_transforms if rule else {}
        here = _unwrapped(ms_prefixes.get(prefix, prefix))
        local = [n for n, _ in sub.named_parameters(recurse=False)] + [n for n, _ in sub.named_buffers(recurse=False)]
        for name in local:
            full = _unwrapped(f"{prefix}.{name}" if prefix else name)
            new = params.get(name, name)
            if new == "":
                out[full] = None
                continue
            out[full] = (f"{here}.{new}" if here else new, transforms.get(name))
    # keep only names the state_dict has (non-persistent buffers are not saved)
    keys = set(module.state_dict().keys())
    return {k: v for k, v in out.items() if k in keys}


def torch_module_fills(module, rules: RuleSet | None = None) -> dict[str, str]:
    """MindSpore parameters with no torch counterpart in this module (BatchNorm with
    affine=False still has gamma/beta in MindSpore): name -> 'ones' | 'zeros'."""
    rules = rules or default_rules()
    out: dict[str, str] = {}
    ms_prefixes = _ms_prefixes(module, rules)
    for prefix, sub in module.named_modules():
        rule = layer_rule_for(type(sub), rules)
        if rule is None or not rule.fill_params:
            continue
        have = {rule.params.get(n, n) for n, _ in sub.named_parameters(recurse=False)}
        have |= {rule.params.get(n, n) for n, _ in sub.named_buffers(recurse=False)}
        here = ms_prefixes.get(prefix, prefix)
        for name, fill in rule.fill_params.items():
            if name not in have:
                out[f"{here}.{name}" if here else name] = fill
    return out


def _ms_prefixes(module, rules: RuleSet) -> dict[str, str]:
    """torch module path -> MindSpore cell path. A layer rule's `params` may rename a child
    module as well as a parameter (TransformerEncoderLayer: linear1 -> dense1); a child renamed
    to "" takes its parent's place (DataParallel's `module`, translated as the module itself)."""
    out = {"": ""}
    for prefix, sub in module.named_modules():
        rule = layer_rule_for(type(sub), rules)
        params = rule.params if rule else {}
        here = out.get(prefix, prefix)
        for child, _ in sub.named_children():
            new = params.get(child, child)
            path = here if new == "" else (f"{here}.{new}" if here else new)
            out[f"{prefix}.{child}" if prefix else child] = path
    return out


# =============================================================================================
# Checkpoint conversion: `ms-migrate ckpt IN -o OUT.ckpt --param-map MAP [--model CLASS]`
# =============================================================================================

# Value transforms named by the rules' `param_transforms`, as data: the ops apply in order
# torch -> MindSpore ("forward") and back ("reverse"). `ndim` is the torch rank they expect.
ACTIONS = ("kept", "renamed", "transformed", "dropped", "tied", "filled", "unmapped", "error")
UNTRUSTED_HINT = ("the file holds Python objects besides tensors, and unpickling them can run code from the file. "
                  "If you trust its source, rerun with --trust-pickle (torch.load(weights_only=False)); "
                  "better, re-save it as a plain state_dict: torch.save(model.state_dict(), path)")


LAYER_ROOT = "layer:"


class CheckpointError(Exception):
    """A checkpoint that cannot be converted: the message says why; nothing was written."""


class UnplacedTensors(CheckpointError):
    """Some tensors have no MindSpore name and shape the map can vouch for (each is named in the
    plan's lines): nothing was written (``ms-migrate ckpt`` exits 1; --partial writes the rest)."""


def apply_ops(array, ops: list[dict]):
    import numpy as np

    for op in ops:
        kind = op["op"]
        if kind == "insert_axis":
            array = np.expand_dims(array, op["axis"])
        elif kind == "remove_axis":
            array = np.squeeze(array, axis=op["axis"])
        elif kind == "transpose":
            array = np.transpose(array, op["axes"])
        elif kind == "reshape":
            array = array.reshape(op["shape"])
        else:
            raise CheckpointError(f"unknown tensor op {kind!r} in the parameter map")
    return array


def _transformed_shape(shape: tuple, ops: list[dict]) -> tuple:
    shape = list(shape)
    for op in ops:
        if op["op"] == "insert_axis":
            shape.insert(op["axis"], 1)
        elif op["op"] == "remove_axis":
            del shape[op["axis"]]
        elif op["op"] == "transpose":
            shape = [shape[a] for a in op["axes"]]
        elif op["op"] == "reshape":
            shape = list(op["shape"])
    return tuple(shape)


# ---- reading checkpoints --------------------------------------------------------------------
def read_safetensors(path: str) -> dict:
    """name -> numpy array (memory-mapped) of a .safetensors file; no code runs, nothing is unpickled."""
    import json
    import struct

    import numpy as np

    dtypes = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_, "BF16": "bfloat16"}
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: truncated: not a safetensors file (shorter than its header)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise CheckpointError(f"{path}: truncated or not a safetensors file (header of {n} bytes, file of {size})")
        try:
            header = json.loads(fh.read(n))
        except ValueError as exc:
            raise CheckpointError(f"{path}: not a safetensors file (bad header: {exc})") from None
    base = 8 + n
    data_end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if base + data_end > size:
        raise CheckpointError(f"{path}: truncated: the header describes {base + data_end} bytes, the file has {size}")
    mm = np.memmap(path, dtype=np.uint8, mode="r") if size > base else None
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = dtypes.get(info["dtype"])
        if dt is None:
            raise CheckpointError(f"{path}: tensor {name}: dtype {info['dtype']} is not supported")
        start, end = info["data_offsets"]
        raw = mm[base + start: base + end] if mm is not None else np.zeros(0, np.uint8)
        if dt == "bfloat16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(info["shape"])
            out[name] = _BF16(arr)
        else:
            out[name] = raw.view(dt).reshape(info["shape"])
    return out


class _BF16:
    """A bfloat16 tensor held as float32 values (exact); saved as mindspore.bfloat16."""

    def __init__(self, array):
        self.array = array
        self.shape = tuple(array.shape)
        self.ndim = array.ndim


def _state_of(obj, path: str) -> tuple[dict, list[str]]:
    """The state_dict inside a loaded object: itself, or under state_dict/model/model_state_dict."""
    import torch

    notes = []
    if isinstance(obj, torch.nn.Module):
        notes.append("the file holds a whole model; its state_dict() is converted")
        obj = obj.state_dict()
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model", "model_state_dict", "module", "net"):
            inner = obj.get(key)
            if isinstance(inner, torch.nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                others = [k for k in obj if k != key]
                notes.append(f"state_dict found under the key {key!r}"
                             + (f" (ignored: {', '.join(map(str, others[:8]))}{' ...' if len(others) > 8 else ''})" if others else ""))
                obj = inner
                break
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        what = f"a dict with keys {sorted(map(str, obj))[:10]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
        raise CheckpointError(f"{path}: no state_dict found: the file holds {what}; expected a state_dict "
                              "or a dict holding one under 'state_dict' or 'model'")
    return obj, notes


def load_torch_checkpoint(path: str, trust_pickle: bool = False) -> tuple[dict, list[str]]:
    """name -> tensor (torch.Tensor, or numpy for safetensors), and notes on what was found.

    ``.pth``/``.pt``/``.bin`` are read with ``torch.load(weights_only=True)``: a checkpoint that
    needs full unpickling is refused unless ``trust_pickle``."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{path}: the file is empty")
    if path.endswith(".safetensors"):
        return read_safetensors(path), []
    import pickle

    import torch

    def _load(mmap: bool):
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle, mmap=mmap)

    try:
        try:
            obj = _load(True)
        except RuntimeError as exc:
            if "mmap can only be used" not in str(exc):
                raise
            obj = _load(False)  # the legacy (non-zip) format cannot be memory-mapped
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Weights only load failed" in msg or "weights_only" in msg:
            detail = next((line.strip() for line in msg.splitlines() if "Unsupported" in line or "GLOBAL" in line), "")
            raise CheckpointError(f"{path}: refused: {UNTRUSTED_HINT}" + (f" [torch: {detail}]" if detail else "")) from None
        raise CheckpointError(f"{path}: cannot read: the file is truncated or corrupt ({_first_line(msg)})") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot read: the file is truncated or corrupt, or not a torch checkpoint "
                              f"({type(exc).__name__}: {_first_line(str(exc))})") from None
    return _state_of(obj, path)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:200]


# ---- resolving names through the map ------------------------------------------------------
@dataclass
class Step:
    """What happens to one tensor."""

    torch_name: str | None
    action: str
    ms_name: str | None = None
    reason: str = ""
    transform: str | None = None
    shape: tuple = ()
    ms_shape: tuple = ()
    fill: str | None = None  # filled: "ones" | "zeros"
    value_of: str | None = None  # tied / renamed-from: the torch tensor whose value is written

    def line(self) -> str:
        a = self.action.upper() if self.action in ("unmapped", "error") else self.action
        name = self.torch_name if self.torch_name is not None else self.ms_name
        arrow = f" -> {self.ms_name}" if self.ms_name and self.ms_name != name else ""
        shape = ""
        if self.action == "transformed":
            shape = f" {self.transform} {self.shape} -> {self.ms_shape}"
        elif self.action == "filled":
            shape = f" {self.fill} {self.ms_shape}"
        return f"  {a:<11} {name}{arrow}{shape}" + (f"  ({self.reason})" if self.reason else "")


@dataclass
class _Res:
    ms_parts: list
    layer: str | None = None  # torch layer the leaf belongs to
    instance: str = ""  # torch prefix of the layer / undecided part
    reason: str = ""
    undecided: str | None = None  # why the map could not decide
    drop: str | None = None
    transform: str | None = None
    choice_at: str | None = None
    nested_batch_norm: dict | None = None  # inside a whole model: BatchNorm's renames, where one is
    options: list = field(default_factory=list)  # for choices: [(label, _Res)]
    ties: list = field(default_factory=list)  # (partner torch name, kept side is partner?)
    refuse: str | None = None  # undecided, and the name is one MindSpore renames for some layers


class ParamMap:
    """A loaded parameter map with the name resolution ``ms-migrate ckpt`` needs."""

    def __init__(self, data: dict, rules: RuleSet | None = None):
        self.data = data
        self.classes: dict[str, dict] = data.get("classes", {})
        self.layers: dict[str, dict] = dict(data.get("layers", {}))
        self.transforms: dict[str, dict] = {**TENSOR_TRANSFORMS, **data.get("transforms", {})}
        self._rules = rules

    @property
    def rules(self) -> RuleSet:
        if self._rules is None:
            self._rules = default_rules()
        return self._rules

    def layer(self, q: str) -> dict:
        if q not in self.layers:

            self.layers[q] = layer_entry(q, self.rules)
        return self.layers[q]

    # -- classes
    def find_class(self, name: str) -> str:
        if name in self.classes:
            return name
        cands = [k for k in self.classes if k.rsplit(":", 1)[1] == name or k.endswith("/" + name)]
        if len(cands) == 1:
            return cands[0]
        if not cands:
            raise CheckpointError(f"--model {name}: no such class in the parameter map (classes: "
                                  f"{', '.join(sorted(self.classes)[:20])}{' ...' if len(self.classes) > 20 else ''})")
        raise CheckpointError(f"--model {name}: ambiguous, name one of: {', '.join(sorted(cands))}")

    def members(self, key: str, seen=None) -> dict:
        seen = seen or set()
        if key in seen or key not in self.classes:
            return {}
        seen.add(key)
        entry = self.classes[key]
        out: dict = {}
        for b in entry.get("bases", []):
            out.update(self.members(b, seen))
        out.update(entry.get("members", {}))
        return out

    def class_ties(self, key: str, seen=None) -> list:
        seen = seen or set()
        if key in seen or key not in self.classes:
            return []
        seen.add(key)
        entry = self.classes[key]
        out = [t for b in entry.get("bases", []) for t in self.class_ties(b, seen)]
        return out + list(entry.get("ties", []))

    def is_open(self, key: str) -> list:
        entry = self.classes.get(key, {})
        return list(entry.get("open", [])) + [o for b in entry.get("bases", []) for o in self.is_open(b)]

    def layer_base(self, key: str):
        entry = self.classes.get(key, {})
        if entry.get("layer_base"):
            return entry["layer_base"]
        for b in entry.get("bases", []):
            lb = self.layer_base(b)
            if lb:
                return lb
        return None

    # -- one name
    def resolve(self, root: str, name: str) -> _Res | str:
        """The MindSpore name of one torch state_dict name, or a string saying why there is none.
        A root ``layer:<torch name>`` is a whole model the rules know (``layer:torchvision.models.resnet18``)."""
        parts = name.split(".")
        if root.startswith(LAYER_ROOT):
            return self._walk({"kind": "layer", "torch": root[len(LAYER_ROOT):]}, parts, 0, [], depth=0)
        return self._walk({"kind": "class", "class": root}, parts, 0, [], depth=0)

    def _binding(self, key: str, args: dict | None, outer: dict) -> dict:
        """A class's __init__ parameters bound to layers or layer classes: the construction
        site's arguments (`PreNorm(dim, Attention(dim))`, `ResNet(BasicBlock, [2, 2])`), else
        the defaults (`norm_layer=nn.LayerNorm`)."""
        init = self.classes.get(key, {}).get("init", {})
        params = init.get("params", [])
        out = {}
        for k, v in (args or {}).items():
            name = params[int(k)] if k.isdigit() and int(k) < len(params) else k
            v = self._bound(v, outer)
            if v is not None:
                out[name] = v
        for name, v in init.get("defaults", {}).items():
            out.setdefault(name, v)
        for name, opts in init.get("candidates", {}).items():
            if name not in out and opts:
                # not passed here: one of the classes the file's construction sites pass (the checkpoint decides)
                out[name] = opts[0] if len(opts) == 1 else {"kind": "choice", "options": list(opts)}
        return out

    @staticmethod
    def _bound(spec, bind: dict):
        """An argument spec with the caller's parameters substituted (None: not known)."""
        if isinstance(spec, dict) and spec.get("kind") == "unknown":
            ref = spec.get("call_of") or spec.get("param")
            return bind.get(ref) if ref else None
        return spec

    def _walk(self, spec, parts, i, out, depth, bind=None):
        if depth > 64:
            return "the map nests too deep (a class containing itself?)"
        bind = bind or {}
        kind = spec.get("kind") if isinstance(spec, dict) else None
        where = ".".join(parts[:i]) or "the root"
        if kind == "unknown" and (spec.get("call_of") or spec.get("param")) in bind:
            return self._walk(bind[spec.get("call_of") or spec.get("param")], parts, i, out, depth + 1, {})
        if kind == "class":
            key = spec["class"]
            if key not in self.classes:
                return f"{where}: class {key} is not in the map"
            bind = self._binding(key, spec.get("args"), bind)
            ties = []
            rest = parts[i:]
            members = self.members(key)
            order = {m: k for k, m in enumerate(members)}
            for t in self.class_ties(key):
                a, s = t["alias"].split("."), t["source"].split(".")
                for mine, other in ((a, s), (s, a)):
                    if rest[:len(mine)] == mine:
                        partner = ".".join(parts[:i] + other + rest[len(mine):])
                        first = order.get(other[0], 1 << 30) < order.get(mine[0], 1 << 30)
                        ties.append((partner, first, bool(t.get("conditional"))))
            if i >= len(parts):
                return f"{where} is a {key.rsplit(':', 1)[1]}, not a tensor"
            comp = parts[i]
            passed_from = self.classes[key].get("passed_from", {})
            if comp in members:
                res = self._walk(members[comp], parts, i + 1, out + [comp], depth + 1, bind)
            else:
                lb = self.layer_base(key)
                if lb and (i == len(parts) - 1 or self._sublayer(lb, parts, i)):
                    res = self._walk({"kind": "layer", "torch": lb}, parts, i, out, depth + 1)
                elif passed_from.get(comp) in bind:
                    # self.fn = fn: the module the construction site passed
                    res = self._walk(bind[passed_from[comp]], parts, i + 1, out + [comp], depth + 1, {})
                elif comp in self.classes[key].get("passed_in", {}):
                    res = _Res(out + parts[i:], instance=".".join(parts[:i + 1]),
                               undecided=self.classes[key]["passed_in"][comp])
                elif self.is_open(key):
                    res = _Res(out + parts[i:], instance=".".join(parts[:i + 1]),
                               undecided=f"{key.rsplit(':', 1)[1]} has members the map could not decide ({self.is_open(key)[0]})")
                else:
                    return f"{key.rsplit(':', 1)[1]} (at {where}) has no member {comp!r}"
            if isinstance(res, _Res) and ties:
                res.ties = ties + res.ties
            return res
        if kind == "layer":
            if i >= len(parts):
                return f"{where} is a {spec['torch']}, not a tensor"
            if i < len(parts) - 1:
                sub = self._sublayer(spec["torch"], parts, i)
                if sub is not None:  # a layer inside a torch layer: its own renames (norm1.weight -> norm1.gamma)
                    q, n, names = sub
                    return self._walk({"kind": "layer", "torch": q}, parts, i + n, out + names, depth + 1)
                nested = self.layer(spec["torch"]).get("nested_batch_norm")
                return _Res(out + parts[i:], layer=spec["torch"], instance=".".join(parts[:i]),
                            reason="" if nested else f"inside {spec['torch']}: names kept", nested_batch_norm=nested)
            return self._leaf(spec["torch"], parts, i, out)
        if kind in ("sequential", "list", "dict"):
            if i >= len(parts):
                return f"{where} is a container, not a tensor"
            comp = parts[i]
            items = spec.get("items", {})
            if comp in items:
                return self._walk(items[comp], parts, i + 1, out + [comp], depth + 1, bind)
            if spec.get("any") is not None and (kind == "dict" or comp.isdigit()):
                return self._walk(spec["any"], parts, i + 1, out + [comp], depth + 1, bind)
            return f"{where} ({kind}) has no item {comp!r} (items: {', '.join(items) or 'none'})"
        if kind in ("parameter", "buffer"):
            if i != len(parts):
                return f"{where} is a {kind}, it has no {'.'.join(parts[i:])!r}"
            if kind == "buffer" and not spec.get("persistent", True):
                return f"{where} is a non-persistent buffer: torch does not save it"
            return _Res(out, instance=where, reason=f"nn.Parameter attribute" if kind == "parameter" else "buffer")
        if kind == "choice":
            options = []
            reasons = []
            for opt in spec.get("options", []):
                r = self._walk(opt, parts, i, out, depth + 1, bind)
                if isinstance(r, _Res):
                    options.append((_label(opt), r))
                else:
                    reasons.append(r)
            if not options:
                return reasons[0] if reasons else f"{where}: no option fits"
            first = options[0][1]
            if len(options) > 1 and any(_outcome(r) != _outcome(first) for _, r in options[1:]):
                first = _Res(first.ms_parts, first.layer, first.instance, first.reason, first.undecided,
                             first.drop, first.transform, choice_at=".".join(parts[:i]), options=options,
                             ties=first.ties)
            return first
        if kind == "unknown":
            if i >= len(parts):
                return f"{where}: undecided member is not a tensor"
            return _Res(out + parts[i:], instance=".".join(parts[:i]),
                        undecided=spec.get("reason", "not decided statically"))
        return f"{where}: unknown map entry {spec!r}"

    def _sublayer(self, q, parts, i):
        """The layer at parts[i:] inside torch layer q, from the rule's ``members`` (``linear1``,
        ``layers.*`` for a ModuleList's items): (its torch layer, how many components name it, their
        MindSpore names, q's ``params`` renaming the first: linear1 -> dense1); None if none is."""
        info = self.layer(q)
        for member, sub in info.get("members", {}).items():
            pat = member.split(".")
            if len(parts) - i > len(pat) and all(p in ("*", c) for p, c in zip(pat, parts[i:])):
                first = info.get("params", {}).get(parts[i], parts[i])
                return sub, len(pat), [first] + parts[i + 1:i + len(pat)]
        return None

    def _leaf(self, q, parts, i, out) -> _Res:
        leaf = parts[i]
        info = self.layer(q)
        inst = ".".join(parts[:i])
        if leaf in info.get("drop", []):
            return _Res(out + [leaf], layer=q, instance=inst, drop=f"{_short_layer(q)}: no MindSpore counterpart")
        new = info.get("params", {}).get(leaf, leaf)
        transform = info.get("transforms", {}).get(leaf)
        return _Res(out + [new], layer=q, instance=inst, transform=transform,
                    reason=_short_layer(q) if new != leaf or transform else "")


def _label(spec) -> str:
    kind = spec.get("kind")
    if kind == "layer":
        return spec["torch"]
    if kind == "class":
        return spec["class"].rsplit(":", 1)[1]
    return kind


def _outcome(r: _Res):
    return (tuple(r.ms_parts), r.drop, r.transform)


def _short_layer(q: str) -> str:
    return q.replace("torch.nn.", "nn.") if q else ""


# ---- the whole checkpoint ---------------------------------------------------------------------
@dataclass
class Plan:
    root: str
    root_note: str
    steps: list
    notes: list
    state: dict = field(default_factory=dict)  # the tensors, by the names the steps use

    @property
    def errors(self) -> list:
        return [s for s in self.steps if s.action in ("unmapped", "error")]

    def counts(self) -> dict:
        out = {}
        for s in self.steps:
            out[s.action] = out.get(s.action, 0) + 1
        return out


def _shape(t) -> tuple:
    return tuple(int(d) for d in t.shape)


def _ndim(t) -> int:
    return len(t.shape)


def plan_conversion(state: dict, pmap: ParamMap, model: str | None = None, target: dict | None = None) -> Plan:
    """The step of every tensor. ``target`` (MindSpore parameter name -> shape, read from the
    converted model built at run time, see ``build_target``) decides what the static map could
    not, and checks the rest: a name the converted model does not have is an error."""
    notes = []
    if state and all(n.startswith("module.") for n in state) and \
            not any("module" in pmap.members(k) for k in pmap.classes):
        # saved from a DataParallel/DistributedDataParallel wrapper
        state = {n[len("module."):]: v for n, v in state.items()}
        notes.append("every name starts with 'module.' (a DataParallel wrapper): the prefix is removed")
    names = list(state)
    if model and model.startswith(LAYER_ROOT):
        root, root_note = model, f"model: {model[len(LAYER_ROOT):]}"
    elif model:
        root = pmap.find_class(model)
        root_note = f"model: {root} (--model)"
    else:
        root, root_note = infer_root(pmap, names)
    resolved = {n: pmap.resolve(root, n) for n in names}
    _nested_batch_norms(resolved, state)
    _decide_choices(resolved, state, pmap)
    _infer_undecided(resolved, state, pmap)
    steps: list[Step] = []
    by_ms: dict[str, str] = {}
    tied_away: dict[str, str] = {}
    order = {n: i for i, n in enumerate(names)}
    # ties: which torch name of a pair MindSpore keeps
    for n, r in resolved.items():
        if not isinstance(r, _Res):
            continue
        # MindSpore keeps a shared parameter once, under its first attribute path (the converted
        # __init__ ends with update_parameters_name()): the first of the pair in state_dict order
        for partner, partner_first, conditional in r.ties:
            if conditional and partner in state and not _shares_storage(state[partner], state[n]):
                continue  # a tie under an if that did not happen in this model
            if (order[partner] < order[n]) if partner in order else partner_first:
                tied_away[n] = partner
    # one tensor under several names that the map does not tie (a module built in __init__ and
    # handed to child constructors, timm's CoaT shared_cpe): MindSpore keeps the parameter once,
    # under its first attribute path (the converter ends such an __init__ with update_parameters_name())
    first_of: dict = {}
    shared: dict[str, str] = {}
    for n in names:
        t = state[n]
        if hasattr(t, "data_ptr") and hasattr(t, "stride") and t.numel():
            key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), str(t.dtype))
            if key in first_of and n not in tied_away:
                shared[n] = first_of[key]
            first_of.setdefault(key, n)
    for n in names:
        t = state[n]
        r = resolved[n]
        shape = _shape(t) if hasattr(t, "shape") else ()
        if not hasattr(t, "shape"):
            steps.append(Step(n, "dropped", reason=f"not a tensor ({type(t).__name__})"))
            continue
        pr = resolved.get(shared.get(n, ""))
        if isinstance(pr, _Res) and not pr.drop and not pr.undecided and not pr.refuse:
            steps.append(Step(n, "tied", ".".join(pr.ms_parts), shape=shape, value_of=shared[n],
                              reason=f"same tensor as {shared[n]} (one module at several attribute paths); "
                                     "MindSpore keeps it once"))
            continue
        if not isinstance(r, _Res):
            steps.append(Step(n, "unmapped", reason=r, shape=shape))
            continue
        if r.drop:
            steps.append(Step(n, "dropped", reason=r.drop, shape=shape))
            continue
        if n in tied_away:
            partner = tied_away[n]
            pr = resolved.get(partner) if partner in state else pmap.resolve(root, partner)
            if not isinstance(pr, _Res):
                steps.append(Step(n, "error", reason=f"tied to {partner}, which the map cannot place: {pr}"))
                continue
            if partner in state:
                if _shape(state[partner]) != shape or not _same_values(state[partner], t):
                    steps.append(Step(n, "error", reason=f"the map ties it to {partner}, but the checkpoint's values differ"))
                else:
                    steps.append(Step(n, "tied", ".".join(pr.ms_parts), shape=shape, value_of=partner,
                                      reason=f"same tensor as {partner}; MindSpore keeps a tied parameter once"))
                continue
            # the file kept only this name of the pair (safetensors stores shared tensors once)
            r = _Res(pr.ms_parts, pr.layer, pr.instance, pr.reason, pr.undecided, pr.drop, pr.transform)
            notes.append(f"{n}: tied to {partner}, which the file does not hold; written as {'.'.join(pr.ms_parts)}")
        ms_name = ".".join(r.ms_parts)
        reason = r.reason
        if r.refuse:
            steps.append(Step(n, "error", reason=r.refuse, shape=shape))
            continue
        if r.undecided:
            reason = (reason + "; " if reason else "") + f"undecided in the map: {r.undecided}; the checkpoint's name decides"
        if ms_name in by_ms:
            steps.append(Step(n, "error", ms_name, reason=f"{by_ms[ms_name]} has the same MindSpore name", shape=shape))
            continue
        by_ms[ms_name] = n
        if r.transform:
            tr = pmap.transforms.get(r.transform)
            if tr is None:
                steps.append(Step(n, "error", ms_name, reason=f"unknown value transform {r.transform!r}", shape=shape))
                continue
            if tr.get("ndim") is not None and len(shape) != tr["ndim"]:
                steps.append(Step(n, "error", ms_name, shape=shape,
                                  reason=f"shape {shape} does not fit {r.transform} (expects {tr['ndim']} dimensions)"))
                continue
            steps.append(Step(n, "transformed", ms_name, reason=reason, transform=r.transform, shape=shape,
                              ms_shape=_transformed_shape(shape, tr["forward"])))
            continue
        action = "renamed" if ms_name != n else "kept"
        steps.append(Step(n, action, ms_name, reason=reason, shape=shape, ms_shape=shape))
    steps += _fills(resolved, state, pmap, root, steps)
    tie_partners = {p for r in resolved.values() if isinstance(r, _Res) for p, *_ in r.ties}
    steps += _meta_checks(state, pmap, root, steps, tie_partners)
    if target is not None:
        steps = _decide_by_target(steps, resolved, state, pmap, target, notes)
    return Plan(root, root_note, steps, notes, state)


def _candidates(r, n: str, pmap: ParamMap) -> list[tuple[str, str | None]]:
    """(MindSpore name, value transform) a torch tensor may have, whatever layer holds it: its
    name, and its leaf renamed or transformed as each translated layer rule does."""
    parts = r.ms_parts if isinstance(r, _Res) and len(r.ms_parts) == len(n.split(".")) else n.split(".")
    prefix, leaf = parts[:-1], n.rsplit(".", 1)[-1]
    out = [(".".join(prefix + [leaf]), None)]
    for rule in pmap.rules.rules:
        if not rule.torch.startswith("torch.nn.") or not rule.translated:
            continue
        new = rule.params.get(leaf)
        if new:
            out.append((".".join(prefix + [new]), rule.param_transforms.get(leaf)))
        elif leaf in rule.param_transforms:
            out.append((".".join(prefix + [leaf]), rule.param_transforms[leaf]))
    seen, uniq = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


def _decide_by_target(steps: list, resolved: dict, state: dict, pmap: ParamMap, target: dict, notes: list) -> list:
    """Check every step against the converted model's own parameters (built at run time), and
    decide the tensors the static map could not place: the one candidate name the model has,
    with the shape it has."""
    notes.append(f"the converted MindSpore model was built at run time ({len(target)} parameters): names the "
                 "static map could not decide are taken from it, and every name is checked against it")
    out = []
    written = set()
    # one tensor under several torch names (a module shared between two attributes, timm's CoaT
    # `SerialBlock(shared_cpe=self.cpe1)`): MindSpore keeps it once, under its first attribute path
    first_of: dict = {}
    same_as: dict[str, str] = {}
    for n, t in state.items():
        if hasattr(t, "data_ptr") and hasattr(t, "stride") and t.numel():
            key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), str(t.dtype))
            if key in first_of:
                same_as[n] = first_of[key]
            else:
                first_of[key] = n
    placed: dict[str, str] = {}
    for s in steps:
        if s.action == "filled" and s.ms_name not in target:
            s.action, s.reason = "error", f"{s.reason}; but the converted model built at run time has no {s.ms_name}"
        if s.torch_name is None and s.action == "error" and s.fill:
            # a layer the static map places (a member assigned under an `if`), nothing of it in the
            # checkpoint: the converted model decides whether it exists, and its size
            if s.ms_name not in target:
                notes.append(f"{s.ms_name}: the static map has this layer, the converted model built at run "
                             "time does not (not built in this configuration); nothing written")
                continue
            s = Step(None, "filled", s.ms_name, fill=s.fill, ms_shape=tuple(target[s.ms_name]),
                     reason=f"{s.reason.split(' but its size')[0]}: this torch layer saved none; "
                            "the size is the converted model's, built at run time")
        if s.torch_name is None or s.action in ("dropped", "tied"):
            out.append(s)
            if s.action == "filled":
                written.add(s.ms_name)
            continue
        n = s.torch_name
        t = state.get(n)
        want = s.ms_shape if s.action in ("kept", "renamed", "transformed") else None
        if s.action in ("kept", "renamed", "transformed") and s.ms_name in target and tuple(target[s.ms_name]) == tuple(want):
            out.append(s)
            written.add(s.ms_name)
            placed[n] = s.ms_name
            continue
        if t is None or not hasattr(t, "shape"):
            out.append(s)
            continue
        shape = _shape(t)
        fits = []
        for name, tr in _candidates(resolved.get(n), n, pmap):
            if name not in target or name in written:
                continue
            ms_shape = shape
            if tr is not None:
                spec = pmap.transforms.get(tr)
                if spec is None or (spec.get("ndim") is not None and len(shape) != spec["ndim"]):
                    continue
                ms_shape = _transformed_shape(shape, spec["forward"])
            if tuple(target[name]) == tuple(ms_shape):
                fits.append((name, tr, ms_shape))
        if n.rsplit(".", 1)[-1] == "num_batches_tracked" and not fits:
            out.append(Step(n, "dropped", reason="BatchNorm's batch counter: the converted model has no counterpart",
                            shape=shape))
            continue
        if not fits and same_as.get(n) in placed:
            partner = same_as[n]
            out.append(Step(n, "tied", placed[partner], shape=shape, value_of=partner,
                            reason=f"same tensor as {partner} (one module under two attribute paths); "
                                   "the converted model built at run time keeps it once"))
            continue
        if len(fits) != 1:
            why = "no parameter of that name and shape" if not fits else \
                f"several fit ({', '.join(f[0] for f in fits)})"
            was = f"{s.reason}; " if s.action in ("error", "unmapped") and s.reason else ""
            out.append(Step(n, "error", s.ms_name, shape=shape,
                            reason=f"{was}the converted model built at run time has {why}"))
            continue
        name, tr, ms_shape = fits[0]
        how = "the converted model built at run time has " + name
        if tr:
            out.append(Step(n, "transformed", name, reason=how, transform=tr, shape=shape, ms_shape=ms_shape))
        else:
            out.append(Step(n, "renamed" if name != n else "kept", name, reason=how, shape=shape, ms_shape=shape))
        written.add(name)
        placed[n] = name
    for name, shape in target.items():
        if name not in written and not any(x.ms_name == name and x.action in ("filled", "tied") for x in out):
            out.append(Step(None, "error", name, ms_shape=tuple(shape),
                            reason="the converted model has this parameter; the checkpoint gives nothing for it"))
    return out


def build_target(expr: str, path: str | None = None) -> dict:
    """Build the converted MindSpore model (``expr``: a Python expression, e.g.
    ``timm.create_model('resnet18')`` or ``models.net.Net(10)``; the modules it names are
    imported, ``path`` first on sys.path) and return its parameters: name -> shape."""
    import ast
    import importlib
    import sys

    if path:
        sys.path.insert(0, os.path.abspath(path))
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise CheckpointError(f"--ms-model {expr!r}: not a Python expression ({exc.msg})") from None
    env: dict = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = []
            cur = node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                dotted = [cur.id] + chain[::-1]
                for k in range(len(dotted) - 1, 0, -1):
                    try:
                        importlib.import_module(".".join(dotted[:k]))
                        break
                    except ImportError:
                        continue
                if cur.id not in env:
                    try:
                        env[cur.id] = importlib.import_module(cur.id)
                    except ImportError:
                        pass
    try:
        net = eval(compile(tree, "<--ms-model>", "eval"), env)  # noqa: S307 - the user's own converted model
    except Exception as exc:  # noqa: BLE001 - reported, nothing written
        raise CheckpointError(f"--ms-model {expr!r}: building the converted model failed: "
                              f"{type(exc).__name__}: {_first_line(str(exc))}") from None
    if not hasattr(net, "get_parameters"):
        raise CheckpointError(f"--ms-model {expr!r}: gave a {type(net).__name__}, not a MindSpore Cell")
    return {p.name: tuple(int(d) for d in p.shape) for p in net.get_parameters()}


def _nested_batch_norms(resolved: dict, state: dict) -> None:
    """Inside a whole model (a torchvision builder), a BatchNorm is what has a running_mean; its
    tensors get BatchNorm's MindSpore names (gamma, beta, moving_mean, moving_variance)."""
    for n, r in resolved.items():
        if not isinstance(r, _Res) or not r.nested_batch_norm or "." not in n:
            continue
        prefix, leaf = n.rsplit(".", 1)
        if f"{prefix}.running_mean" not in state or leaf not in r.nested_batch_norm:
            continue
        new = r.nested_batch_norm[leaf]
        if not new:
            r.drop = "BatchNorm's batch counter: no MindSpore counterpart"
        else:
            r.ms_parts = r.ms_parts[:-1] + [new]
            r.reason = "BatchNorm"


def _shares_storage(a, b) -> bool:
    """One tensor under two names: torch.save keeps the sharing; safetensors stores it once
    (so a file with both names that are equal is taken as shared)."""
    if hasattr(a, "data_ptr") and hasattr(b, "data_ptr"):
        return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
    return _shape(a) == _shape(b) and _same_values(a, b)


def _same_values(a, b) -> bool:
    try:
        if hasattr(a, "data_ptr") and hasattr(b, "data_ptr") and a.data_ptr() == b.data_ptr() and a.stride() == b.stride():
            return True
        import numpy as np

        return bool(np.array_equal(_to_numpy(a), _to_numpy(b)))
    except Exception:  # noqa: BLE001 - a comparison that cannot run is a difference
        return False


def _decide_choices(resolved: dict, state: dict, pmap: ParamMap) -> None:
    """Where the map offers several layers (a container built in a loop from different layers),
    the checkpoint's names and shapes choose, one decision per instance."""
    groups: dict[str, list[str]] = {}
    for n, r in resolved.items():
        if isinstance(r, _Res) and r.options:
            groups.setdefault(r.options[0][1].instance or r.choice_at, []).append(n)
    for inst, members in groups.items():
        leaves = {n: state[n] for n in members}
        labels = [label for label, _ in resolved[members[0]].options]
        scores = []
        for k, label in enumerate(labels):
            score = 0
            for n in members:
                opts = resolved[n].options
                if k >= len(opts):
                    score -= 100
                    continue
                score += _fit(opts[k][1], n.rsplit(".", 1)[-1], leaves[n], set(x.rsplit(".", 1)[-1] for x in members), pmap)
            scores.append(score)
        best = max(range(len(labels)), key=lambda k: (scores[k], -k))
        if scores[best] < 0:
            continue  # nothing fits: the first option's result stands, and the checks below judge it
        for n in members:
            opts = resolved[n].options
            chosen = opts[best][1] if best < len(opts) else opts[0][1]
            chosen.reason = (chosen.reason + "; " if chosen.reason else "") + \
                f"the map allows {'/'.join(_short_layer(x) for x in labels)} here; the checkpoint's names and shapes say " \
                f"{' or '.join(_short_layer(labels[k]) for k in range(len(labels)) if scores[k] == scores[best])}"
            chosen.ties = resolved[n].ties + chosen.ties
            resolved[n] = chosen


def _fit(r: _Res, leaf: str, tensor, leaves: set, pmap: ParamMap) -> int:
    """How well one option of a choice explains one tensor of an instance (higher is better)."""
    if r.layer is None:
        return 1 if not r.undecided else 0
    info = pmap.layer(r.layer)
    renames = info.get("params", {})
    known = set(renames) | set(info.get("drop", []))
    if not renames and not info.get("drop"):
        # a layer that keeps torch's names: anything but another layer's distinctive names
        return -100 if leaves & set(_DISTINCTIVE) else 5
    if leaf not in known:
        return -100
    if renames.get("weight") in ("gamma", "w") and leaf in ("weight", "bias") and _ndim(tensor) != 1:
        return -100  # norm layers and PReLU hold one value per channel
    if renames.get("weight") == "embedding_table" and (_ndim(tensor) != 2 or leaves != {"weight"}):
        return -100
    return 10


# torch leaf names that identify a layer's renames when the map cannot decide
_DISTINCTIVE = ("running_mean", "running_var", "num_batches_tracked")


def _renamed_names(pmap: ParamMap) -> tuple[set, set]:
    """(leaf names, child-module names) that some translated torch layer renames, drops or
    transforms: under a layer the map could not decide, only such names are in doubt."""
    leaves, children = set(), set()
    for rule in pmap.rules.rules:
        if not rule.torch.startswith("torch.nn.") or not rule.translated:
            continue
        for k, v in rule.params.items():
            if k in _LEAF_LIKE:
                leaves.add(k)
            elif v:  # a child module renamed (linear1 -> dense1); "" is a wrapper left out (DataParallel)
                children.add(k)
        leaves |= set(rule.param_transforms)
    return leaves, children


# names a layer rule renames that are tensors (the rest of a rule's `params` rename child modules)
_LEAF_LIKE = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked", "pos_weight")


def _infer_undecided(resolved: dict, state: dict, pmap: ParamMap) -> None:
    """Tensors under a member the map could not decide (a layer built by a function it cannot
    follow, a module passed in from outside). Each is decided from the checkpoint only where the
    inference is sound, else refused (an error naming the tensor and why):

    - a name no translated layer renames (``weight_ih_l0``, ``in_proj_weight``, a user parameter
      ``cls_token``) is the same in MindSpore whatever the layer is: kept;
    - ``running_mean``/``running_var`` beside it: a BatchNorm (1d/2d; refused when the converted
      files also use BatchNorm3d, whose MindSpore names differ);
    - ``weight`` of 4 or more dimensions: a convolution or a user parameter, kept either way
      (only 1-D norm/PReLU weights, 2-D Embedding tables and 3-D Conv1d weights change);
    - a 2-D ``weight`` with a ``bias`` beside it: Linear (an Embedding has no bias): kept;
    - ``bias`` beside a weight of 2 or more dimensions (Linear, Conv), or alone (every norm layer
      with a bias also has a weight): kept.
    Refused: a 1-D weight (LayerNorm/GroupNorm -> gamma, PReLU -> w, or a user nn.Parameter kept
    as is) and its bias, a 2-D weight alone (Linear(bias=False) or Embedding -> embedding_table),
    a 3-D weight (Conv1d, reshaped, or a user parameter), and a path through a child module a
    layer renames (TransformerEncoderLayer's linear1 -> dense1)."""
    groups: dict[str, list[str]] = {}
    for n, r in resolved.items():
        if isinstance(r, _Res) and r.undecided and r.layer is None and len(r.ms_parts) == len(n.split(".")):
            groups.setdefault(n.rsplit(".", 1)[0] if "." in n else "", []).append(n)
    if not groups:
        return
    leaf_names, child_names = _renamed_names(pmap)
    candidates = {}
    for rule in pmap.rules.rules:
        if rule.params and rule.translated and rule.torch.startswith("torch.nn."):
            candidates.setdefault(tuple(sorted(rule.params.items())), rule.torch)
    uses_bn3d = "torch.nn.BatchNorm3d" in pmap.layers
    for prefix, members in groups.items():
        leaves = {n.rsplit(".", 1)[-1]: n for n in members}
        siblings = {n.rsplit(".", 1)[-1]: state[n] for n in state
                    if (n.rsplit(".", 1)[0] if "." in n else "") == prefix and hasattr(state[n], "shape")}
        if "running_mean" in siblings or "running_var" in siblings:
            fits = [q for params, q in candidates.items()
                    if set(leaves) <= {k for k, _ in params} and "running_mean" in dict(params)]
            if fits and not uses_bn3d:
                q = fits[0]
                for n in members:
                    r = resolved[n]
                    new = pmap._leaf(q, n.split("."), len(n.split(".")) - 1, r.ms_parts[:-1])
                    new.reason = f"undecided in the map ({r.undecided}); the checkpoint's names say BatchNorm " \
                                 "(running_mean/running_var beside it)"
                    new.ties = r.ties
                    resolved[n] = new
                continue
        weight = siblings.get("weight")
        for leaf, n in leaves.items():
            r = resolved[n]
            inst_depth = len(r.instance.split(".")) if r.instance else 0
            through = [c for c in n.split(".")[inst_depth:-1] if c in child_names]
            why = None
            if through:
                why = f"the path goes through {through[0]!r}, a child module some layers rename " \
                      "(TransformerEncoderLayer: linear1 -> dense1)"
            elif leaf not in leaf_names:
                continue  # no layer renames it: the checkpoint's name is MindSpore's
            elif leaf in ("running_mean", "running_var", "num_batches_tracked"):
                why = f"{leaf}: BatchNorm1d/2d and BatchNorm3d name it differently in MindSpore and both are used"
            elif leaf == "weight":
                nd = _ndim(state[n])
                if nd >= 4 or (nd == 2 and "bias" in siblings):
                    r.reason = (r.reason + "; " if r.reason else "") + (
                        "a weight of 4+ dimensions keeps its name in every layer" if nd >= 4 else
                        "a 2-D weight with a bias is a Linear's (an Embedding has no bias)")
                    continue
                why = {1: "a 1-D weight is a norm layer's gamma, a PReLU's w, or a parameter kept as is",
                       2: "a 2-D weight without a bias is a Linear's (kept) or an Embedding's (embedding_table)",
                       3: "a 3-D weight is a Conv1d's (reshaped to 4-D) or a parameter kept as is"}.get(
                    nd, f"a {nd}-D weight")
            elif leaf == "bias":
                if weight is None or _ndim(weight) >= 2:
                    continue
                why = "the bias beside a 1-D weight is a norm layer's beta or a parameter kept as is"
            else:
                why = f"{leaf} is renamed or dropped by some layers"
            r.refuse = f"undecided in the map ({r.undecided}) and {why}: the map cannot place it " \
                       "(see the conversion report; --partial writes the others)"


def _fills(resolved: dict, state: dict, pmap: ParamMap, root: str, steps: list) -> list:
    """MindSpore parameters a layer has that this torch layer did not save (BatchNorm with
    affine=False still has gamma and beta): filled with ones/zeros of the layer's size."""
    out = []
    have = {s.ms_name for s in steps if s.ms_name and s.action in ("kept", "renamed", "transformed", "tied")}
    static = {prefix: (q, args) for prefix, q, args in _static_layers(pmap, root)}
    instances: dict[str, tuple[str, list]] = {}
    for n, r in resolved.items():
        if isinstance(r, _Res) and r.layer and not r.undecided and pmap.layer(r.layer).get("fill") \
                and len(r.ms_parts) == len(n.split(".")):
            instances.setdefault(".".join(r.ms_parts[:-1]), (r.layer, []))[1].append(n)
    # layer instances the map places at a fixed path but the checkpoint has nothing of (not
    # under a member that is None on some path: nothing of it in the checkpoint says it is None here)
    optional = set(_optional_members(pmap, root))
    for prefix, (q, _) in static.items():
        if pmap.layer(q).get("fill") and prefix not in instances \
                and not any(prefix == o or prefix.startswith(o + ".") for o in optional):
            instances[prefix] = (q, [])
    for ms_prefix, (q, members) in instances.items():
        args = static.get(ms_prefix, (q, {}))[1] or {}
        size = next((_shape(state[n]) for n in members if _ndim(state[n]) == 1), None)
        if size is None:
            for key in ("num_features", "num_channels"):
                if isinstance(args.get(key), int):
                    size = (args[key],)
        for name, how in pmap.layer(q)["fill"].items():
            full = f"{ms_prefix}.{name}" if ms_prefix else name
            if full in have:
                continue
            if size is None:
                out.append(Step(None, "error", full, fill=how,
                                reason=f"{_short_layer(q)} needs {name} but its size is unknown "
                                "(nothing of this layer is in the checkpoint and its arguments are not literal)"))
                continue
            out.append(Step(None, "filled", full, fill=how, ms_shape=size,
                            reason=f"{_short_layer(q)}: MindSpore has {name}, this torch layer saved none"))
    return out


def _optional_members(pmap: ParamMap, root: str, prefix: str = "", depth: int = 0):
    """Paths of members at fixed paths that are None on some path of their __init__."""
    if depth > 32:
        return
    for name, spec in pmap.members(root).items():
        yield from _optional_spec(pmap, spec, f"{prefix}{name}", depth)


def _optional_spec(pmap, spec, path, depth):
    if not isinstance(spec, dict):
        return
    if spec.get("optional"):
        yield path
        return
    kind = spec.get("kind")
    if kind == "class":
        yield from _optional_members(pmap, spec["class"], path + ".", depth + 1)
    elif kind in ("sequential", "list", "dict") and "any" not in spec:
        for k, s in spec.get("items", {}).items():
            yield from _optional_spec(pmap, s, f"{path}.{k}", depth + 1)


def _static_layers(pmap: ParamMap, root: str, prefix: str = "", depth: int = 0):
    """(ms prefix, torch layer, literal args) of every layer the map places at a fixed path."""
    if depth > 32:
        return
    for name, spec in pmap.members(root).items():
        yield from _static_spec(pmap, spec, f"{prefix}{name}", depth)


def _static_spec(pmap, spec, path, depth):
    kind = spec.get("kind")
    if kind == "layer":
        yield path, spec["torch"], spec.get("args") or {}
    elif kind == "class":
        yield from _static_layers(pmap, spec["class"], path + ".", depth + 1)
    elif kind in ("sequential", "list", "dict") and "any" not in spec:
        for k, s in spec.get("items", {}).items():
            yield from _static_spec(pmap, s, f"{path}.{k}", depth + 1)


_META_CACHE: dict = {}


def _meta_checks(state: dict, pmap: ParamMap, root: str, steps: list, tie_partners: set = frozenset()) -> list:
    """Layers whose constructor arguments are literal in the source: build the torch layer on the
    meta device (no memory) and check the checkpoint has exactly its tensors, with its shapes.
    Marks the steps of tensors that do not fit as errors; returns steps for missing tensors."""
    out = []
    by_prefix: dict[str, list[str]] = {}
    for n in state:
        if "." in n:
            by_prefix.setdefault(n.rsplit(".", 1)[0], []).append(n)
    step_of = {s.torch_name: s for s in steps if s.torch_name is not None}
    optional = set(_optional_members(pmap, root))
    for prefix, q, args in _static_layers(pmap, root):
        if not args:
            continue
        expected = _meta_state(q, args)
        if expected is None:
            continue
        have = {n.rsplit(".", 1)[1]: n for n in by_prefix.get(prefix, [])}
        if not have and any(prefix == o or prefix.startswith(o + ".") for o in optional):
            continue  # a member None on some path: none of its tensors, it is None here
        what = f"{_short_layer(q)}{_args_text(args)}"
        for leaf, shape in expected.items():
            if leaf not in have:
                if f"{prefix}.{leaf}" in tie_partners:
                    continue  # stored once, under the name it is tied to
                out.append(Step(f"{prefix}.{leaf}", "error", reason=f"missing: {what} has {leaf} {shape}"))
            elif _shape(state[have[leaf]]) != shape:
                s = step_of[have[leaf]]
                s.action, s.reason = "error", f"shape {s.shape} does not fit {what}, which has {shape}"
        for leaf, n in have.items():
            if leaf not in expected and step_of[n].action not in ("error", "unmapped"):
                s = step_of[n]
                s.action, s.reason = "error", f"{what} has no {leaf}"
    return out


def _args_text(args: dict) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def _meta_state(q: str, args: dict) -> dict | None:
    import json

    key = (q, json.dumps(args, sort_keys=True))
    if key in _META_CACHE:
        return _META_CACHE[key]
    result = None
    try:
        import torch

        obj = torch
        for part in q.split(".")[1:]:
            obj = getattr(obj, part)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
        # only names and shapes are wanted: skip the initialisation (the first random op on the
        # meta device costs seconds)
        saved = []
        for klass in obj.__mro__:
            for attr in ("reset_parameters", "_reset_parameters", "reset_running_stats"):
                if attr in vars(klass):
                    saved.append((klass, attr, vars(klass)[attr]))
                    setattr(klass, attr, lambda self, *a, **k: None)
        try:
            with torch.device("meta"):
                m = obj(**kwargs)
        finally:
            for klass, attr, fn in saved:
                setattr(klass, attr, fn)
        result = {k: tuple(v.shape) for k, v in m.state_dict().items() if "." not in k}
    except Exception:  # noqa: BLE001 - a layer we cannot build is simply not checked
        result = None
    _META_CACHE[key] = result
    return result


def infer_root(pmap: ParamMap, names: list[str]) -> tuple[str, str]:
    if not pmap.classes:
        raise CheckpointError("the parameter map has no model classes")
    children = set()
    for entry in pmap.classes.values():

        for s in _walk_specs(entry):
            if s.get("kind") == "class":
                children.add(s["class"])
    scored = []
    for key in pmap.classes:
        fits = 0
        decided = 0
        for n in names:
            r = pmap.resolve(key, n)
            if isinstance(r, _Res):
                fits += 1
                decided += 0 if r.undecided else 1
        scored.append((fits, decided, key not in children, key))
    scored.sort(key=lambda x: (-x[0], -x[1], not x[2], x[3]))
    best = scored[0]
    if best[0] == 0:
        raise CheckpointError("no class of the parameter map fits the checkpoint's names "
                              f"(first names: {', '.join(names[:5])}); check the map, or name the class with --model")
    ties = [s for s in scored[1:] if s[:3] == best[:3]]
    note = f"model: {best[3]} (inferred: it places {best[0]} of {len(names)} names"
    if ties:
        note += f"; {', '.join(t[3] for t in ties[:5])} fit as well: choose with --model"
    return best[3], note + ")"


# ---- writing ---------------------------------------------------------------------------------
def _to_numpy(t):
    import numpy as np

    if isinstance(t, _BF16):
        return t.array
    if isinstance(t, np.ndarray):
        return t
    import torch

    if t.dtype == torch.bfloat16:
        return t.float().numpy()
    return t.detach().numpy()


def _ms_tensor(t, array):
    import mindspore

    if isinstance(t, _BF16) or (type(t).__module__.startswith("torch") and str(t.dtype) == "torch.bfloat16"):
        return mindspore.Tensor(array, dtype=mindspore.bfloat16)
    return mindspore.Tensor(array)


def write_checkpoint(plan: Plan, state: dict, pmap: ParamMap, dst: str, partial: bool = False) -> int:
    """Write the planned tensors to ``dst`` with mindspore.save_checkpoint, atomically (a
    temporary file in the same folder, renamed over ``dst``). Returns the number written."""
    import tempfile

    import mindspore
    import numpy as np

    items = []
    for s in plan.steps:
        if s.action in ("kept", "renamed", "transformed"):
            t = state[s.torch_name]
            array = _to_numpy(t)
            if s.transform:
                array = np.ascontiguousarray(apply_ops(array, pmap.transforms[s.transform]["forward"]))
            items.append({"name": s.ms_name, "data": _ms_tensor(t, array)})
        elif s.action == "filled":
            dtype = np.float32
            items.append({"name": s.ms_name, "data": mindspore.Tensor(
                np.ones(s.ms_shape, dtype) if s.fill == "ones" else np.zeros(s.ms_shape, dtype))})
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ms-migrate-", suffix=".ckpt", dir=folder)
    os.close(fd)
    try:
        mindspore.save_checkpoint(items, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(items)


def convert_checkpoint(src: str, dst: str, param_map: str | dict, model: str | None = None,
                       partial: bool = False, trust_pickle: bool = False, echo=print, quiet: bool = False,
                       ms_model: str | None = None, ms_path: str | None = None) -> Plan:
    """Read a torch checkpoint, map its names through the parameter map, write a MindSpore
    checkpoint. Raises CheckpointError (nothing written) on an unmapped name or a shape that does
    not fit, unless ``partial``."""

    data = load(param_map) if isinstance(param_map, str) else param_map
    pmap = ParamMap(data)
    state, notes = load_torch_checkpoint(src, trust_pickle)
    target = build_target(ms_model, ms_path) if ms_model else None
    plan = plan_conversion(state, pmap, model, target)
    state = plan.state
    plan.notes[:0] = notes
    echo(f"ms-migrate ckpt: {src}: {len(state)} tensors; {plan.root_note}")
    for note in plan.notes:
        echo(f"  note: {note}")
    if not quiet:
        for s in plan.steps:
            echo(s.line())
    c = plan.counts()
    summary = ", ".join(f"{c[a]} {a}" for a in ACTIONS if c.get(a))
    if plan.errors and not partial:
        echo(f"ms-migrate ckpt: {summary}")
        raise UnplacedTensors(f"{len(plan.errors)} tensors cannot be converted (see above); nothing written. "
                              "--partial writes the others anyway")
    n = write_checkpoint(plan, state, pmap, dst, partial)
    echo(f"ms-migrate ckpt: {summary}; wrote {n} parameters to {dst}"
         + (f" ({len(plan.errors)} left out: --partial)" if plan.errors else ""))
    return plan
