"""Converting one file's source: parse once, transform once, print once."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst

from .context import FileContext, Finding
from .names import build_import_table
from .rules import RuleSet, default_rules
from .transformer import Converter


@dataclass
class FileResult:
    path: str  # as shown to the user
    output: bytes | None = None  # None: nothing to write (error) ; same bytes: unchanged
    status: str = "unchanged"  # converted | unchanged | no-torch | error | copied
    findings: list[Finding] = field(default_factory=list)
    apis_found: int = 0
    apis_translated: int = 0
    error: str | None = None
    param_map: dict | None = None
    out_path: str | None = None

    @property
    def untranslated(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "untranslated"]

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "output": self.out_path,
            "status": self.status,
            "apis_found": self.apis_found,
            "apis_translated": self.apis_translated,
            "findings": [{"line": f.line, "col": f.col, "kind": f.kind, "api": f.api, "reason": f.reason}
                         for f in self.findings],
            **({"error": self.error} if self.error else {}),
        }


def mentions_torch(data: bytes) -> bool:
    return b"torch" in data


def convert_source(data: bytes, path: str = "<string>", rules: RuleSet | None = None,
                   param_map: bool = False) -> FileResult:
    """Convert one file's bytes. Never raises for bad input: errors are in the result."""
    result = FileResult(path=path)
    if not mentions_torch(data):
        result.output, result.status = data, "no-torch"
        return result
    rules = rules or default_rules()
    try:
        module = cst.parse_module(data)
    except cst.ParserSyntaxError as exc:
        result.status, result.error = "error", f"syntax error at line {exc.raw_line}:{exc.raw_column + 1}: {exc.message}"
        return result
    except (UnicodeDecodeError, LookupError) as exc:
        result.status, result.error = "error", f"cannot decode: {exc}"
        return result
    except (RecursionError, MemoryError) as exc:  # pathological nesting
        result.status, result.error = "error", f"cannot parse: {type(exc).__name__}"
        return result
    table = build_import_table(module)
    if not table.aliases and not table.star_modules:
        result.output, result.status = data, "no-torch"
        return result
    source = module.code
    ctx = FileContext(rules=rules, table=table, source=source)
    try:
        new = module.visit(Converter(ctx, convert_methods=not table.mentions_mindspore))
        output = new.bytes
    except RecursionError:
        result.status, result.error = "error", "cannot convert: nesting too deep"
        return result
    try:
        ast.parse(output.decode(module.encoding))
    except SyntaxError as exc:  # a bug in a rule must never cost the user a parsable file
        result.status = "error"
        result.error = f"internal error: the conversion did not parse (line {exc.lineno}: {exc.msg}); file left as is"
        return result
    if ctx.findings:
        _positions(module, ctx.findings)
    result.findings = ctx.findings
    result.apis_found, result.apis_translated = ctx.apis_found, ctx.apis_translated
    result.output = output
    result.status = "converted" if output != data else "unchanged"
    if param_map:
        from .param_map import extract
        result.param_map = extract(module, ctx)
    return result


def _positions(module: cst.Module, findings: list[Finding]) -> None:
    """Line and column of each finding. Computed only for files that have findings, on the
    original tree without copying it (the transformer never mutates it)."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    for f in findings:
        pos = positions.get(f.node) if f.node is not None else None
        if pos is not None:
            f.line, f.col = pos.start.line, pos.start.column + 1
        f.node = None
