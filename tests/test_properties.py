"""Property-based reliability tests: any valid program converts without crashing, the output
parses, converting it again changes nothing, and a program without torch comes out byte-identical.

Programs come from two sources:
- hypothesmith, which generates arbitrary programs from Python's grammar (odd layout, every
  statement form), run with torch imports inserted so they go through the tree transformer;
- a torch-flavoured generator below that composes programs from the rules themselves (every
  rule's torch name, called with arguments bound to its signature or not, as a reference, as a
  method), model classes, training loops, shadowed aliases, nested blocks, CRLF/tab layouts.

Examples per test: MS_MIGRATE_HYPOTHESIS_EXAMPLES (default 60; CI keeps the default).
"""
from __future__ import annotations

import ast
import os
import re
import warnings

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from migrator.convert import convert_source
from migrator.rules import default_rules
from migrator.signature import NO_DEFAULT

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles odd programs
EXAMPLES = int(os.environ.get("MS_MIGRATE_HYPOTHESIS_EXAMPLES", "60"))
# CI draws the same programs every run (a failure there is reproducible, never a coin toss);
# elsewhere each run draws new ones, which is how new bugs are found
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=bool(os.environ.get("MS_MIGRATE_CI")),
                    suppress_health_check=list(HealthCheck))

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def parses(data: bytes) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(data)
            return True
        except (SyntaxError, ValueError):
            return False


def check_conversion(data: bytes) -> bytes:
    """The reliability contract for one valid program; returns the output."""
    res = convert_source(data, "<generated>")
    assert res.status != "error", f"{res.error}\n--- input ---\n{data.decode('utf-8', 'replace')}"
    assert parses(res.output), f"output does not parse\n--- output ---\n{res.output.decode('utf-8', 'replace')}"
    again = convert_source(res.output, "<generated>")
    assert again.output == res.output, (
        "a second conversion changed the output\n--- first ---\n" + res.output.decode("utf-8", "replace")
        + "\n--- second ---\n" + (again.output or b"").decode("utf-8", "replace"))
    return res.output


def indents(data: bytes) -> set[str]:
    """The characters blocks are indented with."""
    import io
    import tokenize

    return {c for t in tokenize.tokenize(io.BytesIO(data).readline) if t.type == tokenize.INDENT for c in t.string}


# ---- hypothesmith: arbitrary programs from the grammar ----------------------------------------
hypothesmith = pytest.importorskip("hypothesmith") if not os.environ.get("MS_MIGRATE_CI") else __import__("hypothesmith")


@SETTINGS
@given(hypothesmith.from_grammar())
def test_grammar_programs_without_torch_are_copied_byte_identical(source):
    data = source.encode("utf-8")
    assume("torch" not in source)
    assert convert_source(data).output == data


@SETTINGS
@given(hypothesmith.from_grammar())
def test_grammar_programs_with_torch_imports(source):
    data = (HEADER + source).encode("utf-8")
    assume(parses(data))
    check_conversion(data)


@SETTINGS
@given(hypothesmith.from_node())
def test_node_programs_with_torch_imports(source):
    data = (HEADER + source).encode("utf-8")
    assume(parses(data))
    check_conversion(data)


# ---- torch-flavoured programs built from the rules --------------------------------------------
RULES = default_rules()
FUNCTIONS = sorted(r.torch for r in RULES.rules if not r.is_method)
METHODS = sorted({r.method_name for r in RULES.rules if r.is_method}
                 | {"view", "size", "to", "cuda", "item", "numpy", "detach", "float", "sum", "mean", "forward",
                    "backward", "step", "zero_grad", "parameters", "train", "eval", "state_dict", "append"})
IMPORTS = [
    "import torch", "import torch as th", "import torch.nn as nn", "from torch import nn",
    "import torch.nn.functional as F", "from torch.nn import functional as F", "import torch.optim as optim",
    "from torch import optim", "import torch.nn", "from torch.utils.data import DataLoader, TensorDataset",
    "from torch.nn import *", "import numpy as np", "import mindspore", "import os, torch",
]
# names a program uses; several collide with the usual torch aliases
NAMES = ["x", "y", "out", "loss", "model", "optimizer", "data", "target", "i", "F", "nn", "th", "torch", "self",
         "batch", "np", "opt", "grads", "net"]
_IDENT = re.compile(r"[A-Za-z_]\w*$")


def spelled(qualified: str, imports: list[str]) -> str:
    """How the program refers to a torch name, given the imports it chose."""
    options = []
    for line in imports:
        m = re.match(r"import ([\w.]+) as (\w+)$", line)
        if m and (qualified == m[1] or qualified.startswith(m[1] + ".")):
            options.append(m[2] + qualified[len(m[1]):])
        m = re.match(r"from ([\w.]+) import (\w+)(?: as (\w+))?$", line)
        if m and qualified.startswith(f"{m[1]}.{m[2]}"):
            options.append((m[3] or m[2]) + qualified[len(m[1]) + len(m[2]) + 1:])
        if line == "from torch.nn import *" and qualified.startswith("torch.nn.") and qualified.count(".") == 2:
            options.append(qualified.rsplit(".", 1)[1])
    if any(l in ("import torch", "import os, torch", "import torch.nn") for l in imports):
        options.append(qualified)
    # without an import that binds it, the last component (an unbound name, as in broken code)
    return sorted(options, key=len)[0] if options else qualified.rsplit(".", 1)[1]


class Gen:
    def __init__(self, draw, imports: list[str]):
        self.draw, self.imports = draw, imports
        # `torch` unbound in the input but bound by an import the output keeps would change
        # meaning between two runs; real code does not use names it never bound
        binds_torch = any(re.fullmatch(r"import (os, )?torch(\.\w+)*", l) for l in imports)
        self.names = [n for n in NAMES if n != "torch" or binds_torch]

    def choice(self, seq):
        return self.draw(st.sampled_from(seq))

    def flag(self, p: float = 0.5) -> bool:
        return self.draw(st.floats(0, 1)) < p

    # expressions
    def atom(self) -> str:
        kind = self.draw(st.integers(0, 7))
        if kind == 0:
            return str(self.draw(st.integers(-3, 64)))
        if kind == 1:
            return self.choice(["0.5", "1e-3", "True", "False", "None", "'mean'", '"x"', "(2, 3)", "[1, 2]", "..."])
        if kind == 2:
            return self.choice(["self.fc", "self.conv", "x.shape", "x.shape[0]", "model.fc.weight", "batch[0]"])
        return self.choice(self.names)

    def expr(self, depth: int = 2) -> str:
        if depth <= 0:
            return self.atom()
        kind = self.draw(st.integers(0, 11))
        if kind <= 3:
            return self.api_call(depth - 1)
        if kind == 4:
            return self.method_call(depth - 1)
        if kind == 5:
            return spelled(self.choice(FUNCTIONS), self.imports)  # a reference, not a call
        if kind == 6:
            return f"({self.expr(depth - 1)} {self.choice(['+', '*', '-', '@', '/', 'if x else'])} {self.expr(depth - 1)})"
        if kind == 7:
            return f"{self.expr(depth - 1)}[{self.choice([':', '0', '-1', '..., 0', '1:3'])}]"
        if kind == 8:
            return f"[{self.expr(depth - 1)} for {self.choice(['i', 'x', 'F'])} in {self.expr(depth - 1)}]"
        if kind == 9:
            return f"(lambda {self.choice(['x', 'F', 'nn', 'a, b=1'])}: {self.expr(depth - 1)})"
        if kind == 10:
            return f"f'{{{self.expr(depth - 1)}}}'"
        return self.atom()

    def args(self, sig, depth: int) -> str:
        parts = []
        if sig is not None and self.flag(0.8):
            for p in sig.params:
                if p.kind in ("star", "starstar"):
                    continue
                if p.default is NO_DEFAULT or self.flag(0.3):
                    value = self.expr(depth)
                    if p.kind == "kw" or parts and "=" in parts[-1] or self.flag(0.3):
                        parts.append(f"{p.name}={value}")
                    else:
                        parts.append(value)
        else:
            parts = [self.expr(depth) for _ in range(self.draw(st.integers(0, 3)))]
        if self.flag(0.15):
            parts.append(f"{self.choice(['dim', 'axis', 'inplace', 'bogus', 'keepdim'])}={self.expr(depth)}")
        if self.flag(0.1):
            parts.append(self.choice(["*args", "**kwargs"]))
        return ", ".join(parts)

    def api_call(self, depth: int) -> str:
        rule = RULES.get(self.choice(FUNCTIONS))
        try:
            sig = rule.signature
        except Exception:  # noqa: BLE001 - a malformed sig is test_rules_valid's business
            sig = None
        return f"{spelled(rule.torch, self.imports)}({self.args(sig, depth)})"

    def method_call(self, depth: int) -> str:
        name = self.choice(METHODS)
        rules = RULES.method_rules(name)
        sig = rules[0].signature if rules and self.flag(0.7) else None
        return f"{self.expr(depth)}.{name}({self.args(sig, depth)})"

    # statements
    def block(self, indent: str, unit: str, depth: int, in_function: bool, in_class: bool = False) -> list[str]:
        lines = []
        for _ in range(self.draw(st.integers(1, 4))):
            lines += self.statement(indent, unit, depth, in_function, in_class)
        return lines

    def statement(self, indent: str, unit: str, depth: int, in_function: bool, in_class: bool) -> list[str]:
        kind = self.draw(st.integers(0, 13 if depth > 0 else 5))
        inner = indent + unit
        target = self.choice(["x", "out", "loss", "y", "self.fc", "F", "x, y", "nn"]) if in_function or in_class \
            else self.choice(["x", "out", "loss", "y", "F", "x, y"])
        if kind == 0:
            return [f"{indent}{target} = {self.expr()}"]
        if kind == 1:
            return [f"{indent}{self.expr()}"]
        if kind == 2:
            return [f"{indent}{self.method_call(1)}"]
        if kind == 3:
            return [f"{indent}# {self.choice(['a comment', 'torch.nn.Linear in a comment', 'ms-migrate: untranslated x'])}",
                    f"{indent}{target} = {self.api_call(1)}  # trailing"]
        if kind == 4:
            return [f"{indent}{self.choice(['loss.backward()', 'optimizer.step()', 'optimizer.zero_grad()', 'pass'])}"]
        if kind == 5:
            return [f"{indent}return {self.expr()}" if in_function else f"{indent}del {self.choice(['x', 'y'])}"]
        if kind == 6:
            return [f"{indent}if {self.expr(1)}:", *self.block(inner, unit, depth - 1, in_function),
                    *([f"{indent}else:", *self.block(inner, unit, depth - 1, in_function)] if self.flag() else [])]
        if kind == 7:
            return [f"{indent}for {self.choice(['i', 'x', 'data, target', 'F', 'batch'])} in {self.expr(1)}:",
                    *self.block(inner, unit, depth - 1, in_function)]
        if kind == 8:
            no_grad = spelled("torch.no_grad", self.imports) + "()"
            return [f"{indent}with {self.choice([no_grad, 'open(p) as fh', self.expr(1)])}:",
                    *self.block(inner, unit, depth - 1, in_function)]
        if kind == 9:
            return [f"{indent}try:", *self.block(inner, unit, depth - 1, in_function),
                    f"{indent}except {self.choice(['Exception', 'ValueError as F', '(OSError, KeyError)'])}:",
                    *self.block(inner, unit, depth - 1, in_function)]
        if kind == 10:
            params = self.choice(["self", "x", "x, F=None", "nn, *args, **kwargs", "self, x"])
            no_grad = spelled("torch.no_grad", self.imports) + "()"
            deco = [f"{indent}@{self.choice(['staticmethod', no_grad, 'property'])}"] if self.flag(0.2) else []
            return [*deco, f"{indent}def {self.choice(['forward', 'f', 'F', 'train_step', 'construct'])}({params}):",
                    *self.block(inner, unit, depth - 1, True)]
        if kind == 11:
            return self.model_class(indent, unit, depth)
        if kind == 12:
            return self.training_loop(indent, unit)
        return [f"{indent}{target} = {self.expr(3)}"]

    def model_class(self, indent: str, unit: str, depth: int) -> list[str]:
        base = self.choice([spelled("torch.nn.Module", self.imports), "object", "Net", spelled("torch.nn.Sequential", self.imports)])
        i2, i3 = indent + unit, indent + unit + unit
        layers = [f"{i3}self.{n} = {self.api_call(1)}" for n in ("fc", "conv")[: self.draw(st.integers(0, 2))]]
        return [f"{indent}class {self.choice(['Net', 'Model', 'F', 'Block'])}({base}):",
                f"{i2}def __init__(self{self.choice(['', ', n=4'])}):",
                f"{i3}super().__init__()", *layers,
                "",
                f"{i2}def forward(self, x):",
                *self.block(i3, unit, depth - 1, True, True),
                f"{i3}return {self.expr(1)}"]

    def training_loop(self, indent: str, unit: str) -> list[str]:
        i2 = indent + unit
        opt = self.choice(["optimizer", "opt"])
        body = [f"{i2}{opt}.zero_grad()", f"{i2}out = model(data)",
                f"{i2}loss = {spelled('torch.nn.functional.cross_entropy', self.imports)}(out, target)",
                f"{i2}loss.backward()", f"{i2}{opt}.step()"]
        kept = [s for s in body if self.flag(0.85)]
        if self.flag(0.3):
            kept.insert(self.draw(st.integers(0, len(kept))), f"{i2}if i % 4 == 0:")
            kept = [kept[0], *[(unit + s if s.startswith(i2) else s) for s in kept[1:]]] if kept else kept
        setup = [f"{indent}{opt} = {spelled('torch.optim.SGD', self.imports)}(model.parameters(), lr=0.1)"] \
            if self.flag() else []
        return [*setup, f"{indent}for i, (data, target) in enumerate(loader):", *(kept or [f"{i2}pass"])]


@st.composite
def torch_programs(draw):
    imports = draw(st.lists(st.sampled_from(IMPORTS), min_size=1, max_size=5, unique=True))
    unit = draw(st.sampled_from(["    ", "\t", "  "]))
    gen = Gen(draw, imports)
    lines = [*imports, ""]
    for _ in range(draw(st.integers(1, 5))):
        lines += gen.statement("", unit, 2, False, False)
        if draw(st.booleans()):
            lines.append("")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    if draw(st.booleans()):
        text = re.sub(r"(?m)$", lambda m: draw(st.sampled_from(["", " ", "\t"])), text, count=3)  # trailing blanks
    return text


@SETTINGS
@given(torch_programs())
def test_torch_programs(source):
    data = source.encode("utf-8")
    assume(parses(data))
    output = check_conversion(data)
    if "\r\n" in source and "\n" not in source.replace("\r\n", ""):
        assert b"\n" not in output.replace(b"\r\n", b""), "a CRLF file got LF lines"
    if indents(data) == {"\t"}:  # blocks indented with tabs only: what is added is indented so too
        assert indents(output) == {"\t"}, "a file indented with tabs got spaces"


@SETTINGS
@given(torch_programs(), st.sampled_from([b"\xef\xbb\xbf", b"# -*- coding: latin-1 -*-\n", b"#!/usr/bin/env python\n"]))
def test_torch_programs_keep_their_first_lines(source, head):
    data = head + source.encode("utf-8")
    assume(parses(data))
    output = check_conversion(data)
    assert output.startswith(head)
