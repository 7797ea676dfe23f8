"""The rules themselves: well-formed, pointing at MindSpore APIs that exist, naming only
arguments the torch signature has, and documented in docs/supported_apis.md."""
import importlib
import builtins
import inspect
import re

import pytest

from migrator import ruledocs
from migrator.rules import RuleError, default_rules, load_rules
from migrator.transforms import handlers, values
from migrator.transforms.runtime import RUNTIME_DIR

RULES = default_rules().rules
MS_CHAIN = re.compile(r"\bmindspore(?:\.[A-Za-z_]\w*)+")


def resolve_ms(name: str):
    """The MindSpore object a dotted name denotes (importing submodules as needed)."""
    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def ms_names(rule):
    names = []
    if rule.to:
        names.append(rule.to)
    for text in [rule.template or ""] + [t for _, t in (rule.templates or [])] + list(rule.emit.values()):
        names += MS_CHAIN.findall(text)
    return names


@pytest.mark.parametrize("rule", [r for r in RULES if r.as_value], ids=[r.torch for r in RULES if r.as_value])
def test_as_value_helpers_are_subclasses_of_the_target(rule):
    """The class used where a layer is passed as a value is the rule's MindSpore class, taking
    torch's arguments: isinstance checks against the MindSpore class still hold."""
    helper, name = rule.as_value.split(".")
    import importlib

    ns = vars(importlib.import_module(f"migrator.runtime.{helper}"))
    assert name in ns, f"{helper}.py defines no {name}"
    if rule.to == name:  # the rule's target is the helper itself (FSDP's wrapper)
        return
    if rule.to is None:  # a template rule (torch.FloatTensor): the value is a callable taking torch's arguments
        assert callable(ns[name]), name
        return
    target = resolve_ms(rule.to)
    if isinstance(target, type):
        assert issubclass(ns[name], target), f"{name} is not a {rule.to}"
    else:  # a function (torch.zeros): the helper is one too, taking torch's arguments
        assert callable(ns[name]) and not isinstance(ns[name], type), name


@pytest.mark.parametrize("rule", RULES, ids=[r.torch for r in RULES])
def test_targets_exist_in_mindspore(rule):
    if rule.to and "." not in rule.to and rule.to in dir(builtins):  # tuple, float...
        return
    if rule.to and "." not in rule.to:  # a runtime helper copied into the output
        assert rule.runtime, f"{rule.source} [{rule.torch}]: `to = {rule.to!r}` needs `runtime`"
        source = (RUNTIME_DIR / f"{rule.runtime}.py").read_text()
        assert re.search(rf"^(def {rule.to}\b|class {rule.to}\b|{rule.to} = )", source, re.M), \
            f"{rule.runtime}.py defines no {rule.to}"
        compile(source, rule.runtime, "exec")
        return
    for name in ms_names(rule):
        try:
            resolve_ms(name)
        except (AttributeError, ImportError) as exc:
            pytest.fail(f"{rule.source} [{rule.torch}]: {name} does not exist in mindspore: {exc}")


@pytest.mark.parametrize("rule", RULES, ids=[r.torch for r in RULES])
def test_rule_is_consistent(rule):
    where = f"{rule.source} [{rule.torch}]"
    sig = rule.signature
    named = set(rule.rename) | set(rule.drop) | set(rule.unsupported_args) | set(rule.transform)
    if sig is None:
        assert not named, f"{where}: names arguments but has no sig"
    else:
        params = {p.name for p in sig.params}
        assert named <= params, f"{where}: arguments not in sig: {sorted(named - params)}"
        for t in (rule.template or "", *[t for _, t in (rule.templates or [])]):
            for ph in re.findall(r"\{(\w+)\}", t):
                assert ph in params | {"self", "args"}, f"{where}: template placeholder {{{ph}}} not in sig"
    for name in rule.transform.values():
        assert name.partition(":")[0] in values.TRANSFORMS, f"{where}: unknown transform {name}"
    if rule.handler:
        assert rule.handler in handlers.HANDLERS, f"{where}: unknown handler {rule.handler}"
    if rule.is_method:
        assert rule.receiver in ("tensor", "module", "optimizer", "scheduler", "any")


@pytest.mark.parametrize("rule", [r for r in RULES if r.to and r.ms_args and not r.to.startswith("mindspore.Tensor.")],
                         ids=lambda r: r.torch)
def test_ms_args_match_mindspore_signature(rule):
    if rule.runtime and not rule.to.startswith("mindspore."):  # a helper copied into the output
        import runpy
        from migrator.transforms.runtime import RUNTIME_DIR
        import importlib

        target = getattr(importlib.import_module(f"migrator.runtime.{rule.runtime}"), rule.to)
    else:
        target = resolve_ms(rule.to)
    fn = target.__init__ if inspect.isclass(target) else target
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        pytest.skip("not introspectable")
    names = [p.name for p in sig.parameters.values() if p.name != "self"
             and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert names[: len(rule.ms_args)] == rule.ms_args, f"{rule.source} [{rule.torch}]: ms_args {rule.ms_args} vs {names}"


def test_unknown_key_is_an_error_naming_file_and_key(tmp_path):
    (tmp_path / "bad.toml").write_text('["torch.foo"]\nto = "mindspore.ops.foo"\nrenames = {}\n')
    with pytest.raises(RuleError, match=r"rules/bad.toml: \[torch.foo\]: unknown key 'renames'"):
        load_rules(tmp_path)


def test_malformed_entry_is_an_error(tmp_path):
    (tmp_path / "bad.toml").write_text('["torch.foo"]\nto = 3\n')
    with pytest.raises(RuleError, match=r"rules/bad.toml: \[torch.foo\]: to must be a str"):
        load_rules(tmp_path)
    (tmp_path / "bad.toml").write_text('["torch.foo"]\nnote = "x"\n')
    with pytest.raises(RuleError, match="needs `to`"):
        load_rules(tmp_path)


def test_supported_apis_doc_in_sync():
    with open(ruledocs.DOC_PATH, encoding="utf-8") as fh:
        assert fh.read() == ruledocs.render_markdown(default_rules()), \
            "docs/supported_apis.md is stale: run `python -m migrator.ruledocs`"
