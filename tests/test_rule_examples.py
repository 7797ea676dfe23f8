"""Every rule's examples, converted by ms-migrate and executed in torch and in MindSpore.

One data-driven test: a rule is `tested` (ms-migrate rules --json) exactly when it has an
example here, and every example must agree within the harness tolerance (tests/equivalence.py).
"""
import pytest

from equivalence import ATOL, RTOL, check_example
from migrator.rules import default_rules

CASES = [
    pytest.param(rule, i, ex, id=f"{rule.source[6:-5]}:{rule.torch}[{i}]")  # -k <file stem> or -k <api>
    for rule in default_rules().rules
    for i, ex in enumerate(rule.all_examples())
]


@pytest.mark.parametrize("rule,index,example", CASES)
def test_rule_example(rule, index, example):
    conv = check_example(
        example.get("setup"), example["expr"], example.get("inputs"),
        train=example.get("train", False), rtol=example.get("rtol", RTOL), atol=example.get("atol", ATOL),
        check_dtype=example.get("check_dtype", True), compare_mode=example.get("compare", "values"),
        seed=example.get("seed", 0), label=f"{rule.source} [{rule.torch}] example {index}",
    )
    # the rule under test must actually have fired: its torch name is gone from the output
    leaf = rule.torch.rsplit(".", 1)[1]
    code = "\n".join(l for l in conv.ms_code.splitlines() if not l.strip().startswith("# ms-migrate:"))
    assert f"torch.{leaf}" not in code
