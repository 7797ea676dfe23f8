"""Rules as records: for `ms-migrate rules --json` and the generated docs/supported_apis.md.

`python -m migrator.ruledocs` rewrites docs/supported_apis.md; a test keeps it in sync."""
from __future__ import annotations

import os

from .rules import RuleSet, default_rules

DOC_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "supported_apis.md")


def rule_records(rules: RuleSet) -> list[dict]:
    out = []
    for r in sorted(rules.rules, key=lambda r: r.torch):
        out.append({
            "torch": r.torch,
            "mindspore": r.target_display,
            "reason": r.unsupported,
            # true only when the rule's examples are executed in both frameworks by
            # tests/test_rule_examples.py (which fails the suite if any disagree)
            "tested": bool(r.all_examples()) and r.translated,
            "note": _note(r),
            "aliases": r.aliases,
            "source": r.source,
        })
    return out


def _note(r) -> str | None:
    extra = []
    if r.as_value:
        extra.append(f"passed as a value: `{r.as_value.split('.')[1]}` (a runtime helper taking torch's arguments)")
    if r.decorator == "drop" and "decorator" not in (r.note or ""):
        extra.append("as a decorator: removed")
    return "; ".join([r.note, *extra] if r.note else extra) or None


def _cell(text) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def render_markdown(rules: RuleSet) -> str:
    records = rule_records(rules)
    translated = [r for r in records if r["mindspore"]]
    lines = [
        "# Supported torch APIs",
        "",
        "Generated from `rules/*.toml` by `python -m migrator.ruledocs`; do not edit by hand.",
        f"{len(records)} rules: {len(translated)} translated "
        f"({sum(1 for r in translated if r['tested'])} tested by execution in both frameworks), "
        f"{len(records) - len(translated)} known to be untranslatable.",
        "",
        "| torch | MindSpore | tested | notes |",
        "|---|---|---|---|",
    ]
    for r in records:
        target = f"`{_cell(r['mindspore'])}`" if r["mindspore"] else f"untranslated: {_cell(r['reason'])}"
        lines.append(f"| `{r['torch']}` | {target} | {'yes' if r['tested'] else ''} | {_cell(r['note'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    os.makedirs(os.path.dirname(DOC_PATH), exist_ok=True)
    with open(DOC_PATH, "w", encoding="utf-8") as fh:
        fh.write(render_markdown(default_rules()))
    print(f"wrote {DOC_PATH}")


if __name__ == "__main__":
    main()
