"""Checkpoint names and values: torch state_dict -> MindSpore parameters.

torch and mindspore are imported lazily, inside the functions that need them: the converter
itself never imports either.
"""
from __future__ import annotations

from .rules import RuleSet, default_rules


def layer_rule_for(cls, rules: RuleSet):
    """The rule of a torch layer class (``torch.nn.BatchNorm2d``), or None for user classes."""
    mod = getattr(cls, "__module__", "")
    if not mod.startswith("torch.nn"):
        return None
    return rules.get(f"torch.nn.{cls.__name__}")


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
        here = ms_prefixes.get(prefix, prefix)
        local = [n for n, _ in sub.named_parameters(recurse=False)] + [n for n, _ in sub.named_buffers(recurse=False)]
        for name in local:
            full = f"{prefix}.{name}" if prefix else name
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
