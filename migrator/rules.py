"""Loading and validating the mapping rules in ``rules/*.toml``.

A rule maps one torch API (its qualified name is the TOML table key) to its MindSpore
counterpart. Rules are data; the transformers in ``migrator.transforms`` interpret them.
The schema is documented in ``rules/README.md``; every key a rule may carry is listed in
``RULE_KEYS`` below, and anything else is an error that names the file and the key.
"""
from __future__ import annotations

import os
import re
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .signature import Signature, parse_signature

# key -> (expected python type(s), one-line meaning). Kept next to the loader so the
# validator and the documentation cannot drift apart (rules/README.md is checked against it).
RULE_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "to": ((str,), "qualified MindSpore target; `mindspore.Tensor.X` means a method on the receiver"),
    "sig": ((str,), "torch signature without self, e.g. \"input, dim=None, keepdim=False\""),
    "ms_args": ((list,), "MindSpore parameters that may be passed positionally, in order"),
    "rename": ((dict,), "torch argument -> MindSpore keyword"),
    "emit": ((dict,), "MindSpore keyword -> code emitted when the call does not set it"),
    "drop": ((list,), "torch arguments with no effect in MindSpore (dropped)"),
    "unsupported_args": ((dict,), "torch argument -> reason; a call passing a non-default value is left untranslated"),
    "transform": ((dict,), "torch argument -> name of a value transform in migrator.transforms.values"),
    "template": ((str,), "output expression; {self} is the receiver, {name} a bound torch argument"),
    "templates": ((list,), "[[\"arg1,arg2\", template], ...]: the first whose arguments are all given wins"),
    "handler": ((str,), "name of a bespoke handler in migrator.transforms.handlers"),
    "runtime": ((str,), "name of a helper in migrator/runtime/ that the output needs (copied into it)"),
    "unsupported": ((str,), "why there is no translation (the API is left in place with a marker)"),
    "note": ((str,), "semantic difference worth knowing, shown in docs/supported_apis.md"),
    "warn": ((str,), "a caveat reported (as a note) at every use the rule translates"),
    "as_value": ((str,), "runtime helper (`helper_file.Name`) taking torch's arguments, used where the API is passed as a value (`act_layer=nn.GELU`) or called with arguments only the run time knows (`**kwargs`)"),
    "setter": ((str,), "a setting assigned as a statement (`torch.backends.cudnn.deterministic = v`): code replacing the assignment; {value} is the assigned value"),
    "decorator": ((str,), "'drop': used as a decorator (`@torch.jit.ignore`, `@torch.jit.unused(...)`), it is removed"),
    "aliases": ((list,), "other qualified torch names for the same API"),
    "params": ((dict,), "checkpoint parameter renames for a layer: torch name -> MindSpore name"),
    "attrs": ((dict,), "a layer's other attributes MindSpore names differently (`groups = \"group\"`): read where the layer is known, as params are; not in checkpoints"),
    "nested_params": ((str,), "'batch_norm': a whole model (torchvision.models.resnet18): names inside are kept, except that BatchNorm layers (found by their running_mean in the checkpoint) get BatchNorm's renames"),
    "param_transforms": ((dict,), "torch parameter -> value transform applied when converting checkpoints"),
    "fill_params": ((dict,), "MindSpore parameters torch may not have (affine=False...): name -> 'ones' or 'zeros'"),
    "call_rename": ((dict,), "a layer's forward keyword -> its construct keyword, for calls of the layer (`self.encoder(src, mask=m)`); \"\" drops it"),
    "call_tuple": ((dict,), "a layer's forward argument torch takes as any sequence and MindSpore's construct only as a tuple: keyword -> its position (`hx = 1`); where the layer is called with a list, it becomes a tuple"),
    "members": ((dict,), "submodules the layer holds (a subclass inherits them): attribute -> qualified torch layer (`encoder = \"torch.nn.TransformerEncoder\"`, `\"layers.*\"` for a ModuleList's items); checkpoints rename each with its own rule"),
    "returns": ((str,), "'argument': the call returns its first argument (FSDP(model) is the model), so the result has that argument's kind"),
    "receiver": ((str,), "method rules only: 'tensor' (default), 'module', 'optimizer', 'scheduler' or 'any'"),
    "example": ((dict,), "one executed example: {setup, expr, inputs, train, rtol, atol, dtype_only}"),
    "examples": ((list,), "several executed examples, as `example`"),
}
EXAMPLE_KEYS = {"setup", "expr", "inputs", "train", "rtol", "atol", "check_dtype", "compare", "seed", "torch_only_setup"}
RECEIVERS = {"tensor", "module", "optimizer", "scheduler", "any"}


class RuleError(ValueError):
    """A malformed rule: the message names the file and the key."""


@dataclass
class Rule:
    torch: str
    source: str  # "rules/file.toml"
    to: str | None = None
    sig: str | None = None
    ms_args: list[str] | None = None
    rename: dict[str, str] = field(default_factory=dict)
    emit: dict[str, str] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    unsupported_args: dict[str, str] = field(default_factory=dict)
    transform: dict[str, str] = field(default_factory=dict)
    template: str | None = None
    templates: list[list[str]] | None = None
    handler: str | None = None
    runtime: str | None = None
    unsupported: str | None = None
    note: str | None = None
    warn: str | None = None
    decorator: str | None = None
    setter: str | None = None
    as_value: str | None = None
    aliases: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    nested_params: str | None = None
    param_transforms: dict[str, str] = field(default_factory=dict)
    fill_params: dict[str, str] = field(default_factory=dict)
    call_rename: dict[str, str] = field(default_factory=dict)
    call_tuple: dict[str, int] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    returns: str | None = None
    receiver: str = "tensor"
    example: dict | None = None
    examples: list[dict] = field(default_factory=list)

    @property
    def is_method(self) -> bool:
        return self.torch.startswith(("torch.Tensor.", "torch.nn.Module.", "torch.optim.Optimizer.",
                                      "torch.optim.lr_scheduler.LRScheduler."))

    @property
    def method_name(self) -> str:
        return self.torch.rsplit(".", 1)[1]

    @property
    def translated(self) -> bool:
        return self.unsupported is None

    @property
    def attr_renames(self) -> dict[str, str]:
        """torch attribute -> MindSpore attribute where the layer is known (`m.weight` -> `m.gamma`,
        `m.groups` -> `m.group`): the parameter renames of the layer's own parameters, and attrs."""
        if any("." in v for v in self.params.values()):
            return dict(self.attrs)  # parameters in a sub-cell (BatchNorm3d's bn2d.gamma)
        return {**{k: v for k, v in self.params.items() if v and v != k}, **self.attrs}

    @cached_property
    def signature(self) -> Signature | None:
        if self.sig is None:
            return None
        try:
            return parse_signature(self.sig)
        except SyntaxError as exc:
            raise RuleError(f"{self.source}: [{self.torch}] sig: not a parameter list ({exc.msg})") from None

    def all_examples(self) -> list[dict]:
        return ([self.example] if self.example else []) + list(self.examples)

    @property
    def target_display(self) -> str | None:
        if not self.translated:
            return None
        if self.to:
            return self.to
        if self.template:
            return self.template
        if self.templates:
            return " | ".join(t for _, t in self.templates)
        if self.handler:
            return self.handler
        if self.setter:
            return self.setter
        return "(decorator removed)" if self.decorator == "drop" else None


def _check_rule(source: str, key: str, body: object) -> Rule:
    where = f"{source}: [{key}]"
    if not isinstance(body, dict):
        raise RuleError(f"{where}: a rule must be a table")
    for k, v in body.items():
        if k not in RULE_KEYS:
            raise RuleError(f"{where}: unknown key {k!r} (known: {', '.join(sorted(RULE_KEYS))})")
        types, _ = RULE_KEYS[k]
        if not isinstance(v, types):
            raise RuleError(f"{where}: {k} must be a {types[0].__name__}, not {type(v).__name__}")
    for k in ("rename", "emit", "unsupported_args", "transform", "params", "attrs", "param_transforms", "fill_params"):
        for a, b in body.get(k, {}).items():
            if not isinstance(b, str):
                raise RuleError(f"{where}: {k}.{a} must be a string")
    for k in ("drop", "ms_args", "aliases"):
        if not all(isinstance(x, str) for x in body.get(k, [])):
            raise RuleError(f"{where}: {k} must be a list of strings")
    if "templates" in body:
        for t in body["templates"]:
            if not (isinstance(t, list) and len(t) == 2 and all(isinstance(s, str) for s in t)):
                raise RuleError(f"{where}: templates entries must be [\"args\", \"template\"] pairs")
    exs = ([body["example"]] if "example" in body else []) + list(body.get("examples", []))
    for ex in exs:
        if not isinstance(ex, dict):
            raise RuleError(f"{where}: an example must be a table")
        bad = set(ex) - EXAMPLE_KEYS
        if bad:
            raise RuleError(f"{where}: unknown example key {sorted(bad)[0]!r} (known: {', '.join(sorted(EXAMPLE_KEYS))})")
        if "expr" not in ex:
            raise RuleError(f"{where}: an example needs `expr`")
    has_target = any(k in body for k in ("to", "template", "templates", "handler", "decorator", "setter"))
    if "unsupported" in body and has_target:
        raise RuleError(f"{where}: a rule is either `unsupported` or has a target, not both")
    if "unsupported" not in body and not has_target:
        raise RuleError(f"{where}: needs `to`, `template(s)`, `handler`, `decorator`, `setter` or `unsupported`")
    if "as_value" in body and not re.fullmatch(r"[a-z_][a-z0-9_]*\.[A-Za-z_]\w*", body["as_value"]):
        raise RuleError(f"{where}: as_value must be `helper_file.ClassName`")
    if body.get("nested_params", "batch_norm") != "batch_norm":
        raise RuleError(f"{where}: nested_params must be \"batch_norm\"")
    if body.get("decorator", "drop") != "drop":
        raise RuleError(f"{where}: decorator must be \"drop\"")
    if body.get("receiver", "tensor") not in RECEIVERS:
        raise RuleError(f"{where}: receiver must be one of {sorted(RECEIVERS)}")
    if not key.startswith(("torch", "torchvision", "torchaudio")):
        raise RuleError(f"{where}: the key must be a qualified torch name")
    if key.endswith(".*") and "unsupported" not in body:
        raise RuleError(f"{where}: a namespace rule (`name.*`) can only be `unsupported`")
    return Rule(torch=key, source=source, **body)


def rules_dir() -> Path:
    """The rules folder: ``rules/`` beside the package in a source checkout, else the installed copy."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "rules"
    if (here.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    from importlib.resources import files

    return Path(str(files("migrator._rules")))


class RuleSet:
    """All rules, indexed for the transformers."""

    def __init__(self, rules: list[Rule], render: dict[str, dict]):
        self.rules = rules
        self.render = render  # module prefix -> {"alias": ..., "import": ...}
        self.by_name: dict[str, Rule] = {}
        self.methods: dict[str, list[Rule]] = {}
        for r in rules:
            for name in [r.torch, *r.aliases]:
                if name in self.by_name:
                    raise RuleError(f"{r.source}: [{r.torch}] duplicates {name!r} from {self.by_name[name].source}")
                self.by_name[name] = r
            if r.is_method:
                self.methods.setdefault(r.method_name, []).append(r)

    def is_namespace(self, qualified: str) -> bool:
        """A torch module (`torch.nn.functional`) rather than an API: rules live under it."""
        spaces = getattr(self, "_namespaces", None)
        if spaces is None:
            spaces = self._namespaces = {k.rsplit(".", i)[0] for k in self.by_name
                                         for i in range(1, k.count(".") + 1)} | {"torch", "torchvision", "torchaudio"}
        return qualified in spaces and qualified not in self.by_name

    def get(self, qualified: str) -> Rule | None:
        rule = self.by_name.get(qualified)
        if rule is None:  # `torch.distributed.rpc.*`: a namespace with no counterpart covers its members
            prefix = qualified
            while rule is None and "." in prefix:
                prefix = prefix.rpartition(".")[0]
                rule = self.by_name.get(prefix + ".*")
        return rule

    def helper_owner(self, qualified: str) -> tuple[Rule, str] | None:
        """(rule, ".MEMBER") when `qualified` is a member of a class that a runtime helper
        translates (`StateDictType.FULL_STATE_DICT`): the helper defines torch's members too."""
        prefix, tail = qualified, ""
        while "." in prefix:
            prefix, _, last = prefix.rpartition(".")
            tail = f".{last}{tail}"
            rule = self.by_name.get(prefix)
            if rule is not None:
                if rule.translated and rule.runtime and rule.to and not rule.is_method \
                        and "." not in rule.to and rule.to[:1].isupper():  # a class the helper defines
                    return rule, tail
                return None
        return None

    def method_rules(self, name: str) -> list[Rule]:
        return self.methods.get(name, [])


def load_rules(directory: str | os.PathLike | None = None) -> RuleSet:
    directory = Path(directory) if directory else rules_dir()
    rules: list[Rule] = []
    render: dict[str, dict] = {}
    for path in sorted(directory.glob("*.toml")):
        source = f"rules/{path.name}"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"{source}: not valid TOML: {exc}") from None
        if path.name == "render.toml":
            render = _check_render(source, data)
            continue
        for key, body in data.items():
            rules.append(_check_rule(source, key, body))
    return RuleSet(rules, render)


def _check_render(source: str, data: dict) -> dict[str, dict]:
    out = {}
    for prefix, body in data.get("module", {}).items():
        if not isinstance(body, dict) or set(body) - {"alias", "import"} or "import" not in body:
            raise RuleError(f"{source}: [module.\"{prefix}\"] needs `import` (and optionally `alias`) only")
        out[prefix] = body
    return out


# ---- the rules, cached between runs ----------------------------------------------------------
# Parsing and validating rules/*.toml grows with the rules (about 0.1 ms a rule); a pre-commit
# hook starts a process per batch of files, so the validated RuleSet is kept as a pickle in the
# user's cache folder, keyed by the rule files' names, sizes and modification times, the loader's
# own source files, the Python and ms-migrate versions. Any change reloads it; a cache that cannot
# be read or written is ignored. MS_MIGRATE_NO_CACHE=1 turns it off; MS_MIGRATE_CACHE_DIR moves it.

def cache_dir() -> str:
    env = os.environ.get("MS_MIGRATE_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ms-migrate")


def _rules_key(directory) -> tuple:
    from . import __version__, signature
    rules_mod = sys.modules[__name__]

    entries = []
    with os.scandir(directory) as it:
        for e in it:
            if e.name.endswith(".toml"):
                st = e.stat()
                entries.append((e.name, st.st_size, st.st_mtime_ns))
    code = []
    for mod in (rules_mod, signature):
        st = os.stat(mod.__file__)
        code.append((mod.__file__, st.st_size, st.st_mtime_ns))
    return (__version__, sys.version, str(directory), tuple(sorted(entries)), tuple(code))


def cached_rules(directory=None):
    """``load_rules(directory)`` (default: the rules ms-migrate uses), through the cache."""
    directory = directory or rules_dir()
    if os.environ.get("MS_MIGRATE_NO_CACHE"):
        return load_rules(directory)
    import pickle
    import zlib

    try:
        key = _rules_key(directory)
    except OSError:
        return load_rules(directory)
    folder = cache_dir()
    path = os.path.join(folder, f"rules-{zlib.crc32(repr(key).encode()):08x}.pickle")
    try:
        with open(path, "rb") as fh:
            stored_key, ruleset = pickle.load(fh)
        if stored_key == key:
            return ruleset
    except Exception:  # missing, unreadable, from another version: reload
        pass
    ruleset = load_rules(directory)
    try:
        import tempfile

        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rules-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump((key, ruleset), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(folder, keep=path)
    except Exception:  # read-only home, full disk...: run without the cache
        pass
    return ruleset


def _prune(folder: str, keep: str, max_age_s: float = 7 * 86400) -> None:
    """Cache files of rule versions not used for a week go (written only when rules change)."""
    import time

    now = time.time()
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith("rules-") and e.name.endswith(".pickle") and e.path != keep:
                try:
                    if now - e.stat().st_atime > max_age_s and now - e.stat().st_mtime > max_age_s:
                        os.unlink(e.path)
                except OSError:
                    pass


_CACHE: RuleSet | None = None


def default_rules() -> RuleSet:
    """The rules ms-migrate uses, loaded once per process (through the on-disk cache)."""
    global _CACHE
    if _CACHE is None:
        _CACHE = cached_rules()
    return _CACHE
