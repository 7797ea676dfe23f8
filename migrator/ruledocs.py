"""Rules as records: for `ms-migrate rules --json` and the generated docs/supported_apis.md."""
from __future__ import annotations

from .rules import RuleSet


def rule_records(rules: RuleSet) -> list[dict]:
    out = []
    for r in sorted(rules.rules, key=lambda r: r.torch):
        out.append({
            "torch": r.torch,
            "mindspore": r.target_display,
            "reason": r.unsupported,
            "tested": bool(r.all_examples()) and r.translated,
            "note": r.note,
            "source": r.source,
        })
    return out
