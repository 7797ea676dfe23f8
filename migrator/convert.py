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
    source = data.decode(module.encoding, errors="replace")  # the text, without a second codegen
    if source.startswith("\ufeff"):
        source = source[1:]
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
        locate_findings(module, source, ctx.findings, ctx.ordinals)
    result.findings = ctx.findings
    result.apis_found, result.apis_translated = ctx.apis_found, ctx.apis_translated
    result.output = output
    result.status = "converted" if output != data else "unchanged"
    if param_map:
        from .param_map import extract
        result.param_map = extract(module, ctx)
    return result


def locate_findings(module: cst.Module, source: str, findings: list[Finding], ordinals: dict) -> None:
    """Line and column of each finding, without libcst position metadata (which costs about
    as much as converting the file): a torch reference is the n-th occurrence of its spelling,
    and Python's own parser (fast, in C) says where that occurrence is."""
    located = _reference_positions(source, {s for s, _ in ordinals.values()})
    last = (1, 1)
    for f in findings:
        node = f.node
        key = ordinals.get(node)
        if key is None and isinstance(node, cst.Call):
            key = ordinals.get(node.func)
        pos = None
        if key is not None and key[0] in located and key[1] < len(located[key[0]]):
            pos = located[key[0]][key[1]]
        elif node is not None:
            pos = _search(source, module.code_for_node(node), last)
        if pos is not None:
            f.line, f.col = pos
            last = pos
        f.node = None


def _reference_positions(source: str, spellings: set[str]) -> dict[str, list[tuple[int, int]]]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    lines = source.splitlines()
    inner: set[int] = set()
    found: dict[str, list[tuple[int, int]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts, cur = [], node
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                inner.add(id(cur.value))
                cur = cur.value
            if isinstance(cur, ast.Name):
                name = ".".join([cur.id, *reversed(parts)])
                if name in spellings:
                    found.setdefault(name, []).append((node.lineno, node.col_offset))
                    continue
            inner.discard(id(node.value))  # not a pure chain: its parts are their own references
        elif isinstance(node, ast.Name) and id(node) not in inner and node.id in spellings:
            found.setdefault(node.id, []).append((node.lineno, node.col_offset))
    out = {}
    for name, positions in found.items():
        positions.sort()
        out[name] = [(line, _char_col(lines, line, col)) for line, col in positions]
    return out


def _char_col(lines: list[str], line: int, byte_col: int) -> int:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace")) + 1


def _search(source: str, snippet: str, after: tuple[int, int]) -> tuple[int, int] | None:
    """Where a node's text occurs, preferring the first occurrence after the previous finding."""
    snippet = snippet.strip()
    if not snippet:
        return None
    first_line = snippet.splitlines()[0]
    lines = source.splitlines()
    hits = [(i + 1, line.find(first_line) + 1) for i, line in enumerate(lines) if first_line in line]
    if not hits:
        return None
    later = [h for h in hits if h >= after]
    return (later or hits)[0]
