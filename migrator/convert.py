"""Converting one file's source: parse once, transform once, print once."""
from __future__ import annotations

import ast
import codecs
import io
import re
import signal
import sys
import tokenize
import warnings
from dataclasses import dataclass, field

import libcst as cst

from .context import FileContext, Finding
from .helper_module import MODULE_NAME, is_generated
from .names import build_import_table
from .rules import RuleSet, default_rules
from .transformer import Converter
from .transforms.runtime import splice_helpers


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
    helpers: list[str] = field(default_factory=list)  # runtime helpers the output imports (helper_module)

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
            "findings": [{**({"cell": f.cell} if getattr(f, "cell", None) else {}),  # notebooks: the cell, from 1
                          "line": f.line, "col": f.col, "kind": f.kind, "api": f.api, "reason": f.reason}
                         for f in self.findings],
            **({"error": self.error} if self.error else {}),
        }


def mentions_torch(data: bytes) -> bool:
    return b"torch" in data


def convert_source(data: bytes, path: str = "<string>", rules: RuleSet | None = None,
                   param_map: bool = False, helper_module: str = MODULE_NAME, external: dict[str, str] | None = None,
                   external_cells=None, external_stars=()) -> FileResult:
    """Convert one file's bytes. Never raises: bad input, and the converter's own failures, are
    errors in the result (the caller keeps the file as it is).

    helper_module: how the output spells the import of the generated helper module (`ms_helpers`,
    or `..ms_helpers` inside a package); the helpers it needs are listed in the result's ``helpers``.
    external / external_cells / external_stars: what the file gets from other modules of the
    converted folder (see project.py and names.build_import_table): with them, a file that uses
    torch only through `from .parts import *` is converted as if it had imported torch itself."""
    args = (data, path, rules, param_map, helper_module,
            (external or {}, set(external_cells or ()), list(external_stars or ())))
    try:
        try:
            return _on_big_stack(_convert, args)
        except RecursionError:  # deep nesting (thousands of concatenated strings): again, with room
            return _on_big_stack(_convert, args, recursion_limit=100_000)
    except RecursionError:
        return FileResult(path=path, status="error", error="cannot convert: nesting too deep")
    except Exception as exc:  # a bug in the converter costs this one file, never the run
        return FileResult(path=path, status="error", error=f"internal error: {type(exc).__name__}: {exc}; "
                                                           "file left as is (please report this)")


def _convert(data: bytes, path: str, rules: RuleSet | None, param_map: bool, helper_module: str = MODULE_NAME,
             received=({}, set(), [])) -> FileResult:
    result = FileResult(path=path)
    problem = undecodable(data)
    if problem is not None:
        result.status, result.error = "error", problem
        return result
    external, external_cells, external_stars = received
    if is_generated(data) or (not mentions_torch(data) and not (external or external_cells or external_stars)):
        result.output, result.status = data, "no-torch"
        return result
    rules = rules or default_rules()
    # Python's own parser first: its messages are the clearest, and what it rejects (nesting too
    # deep, among others) never reaches libcst, whose parser can overflow its stack on it
    tree, bad = _python_parse(data)
    if bad is not None:
        result.status, result.error = "error", _describe(bad)
        return result
    # the blank and comment lines that end the file are set aside and put back as they are:
    # libcst loses blank lines there (`x\n\n \n`, `x\n\n  # c\n`)
    body, tail = _split_footer(data)
    try:
        module = cst.parse_module(body)
    except cst.ParserSyntaxError as exc:
        where = re.search(r"error at (\d+):", exc.message)
        result.status, result.error = "error", (
            f"cannot parse line {where.group(1) if where else exc.raw_line}: Python accepts it, the parser "
            f"ms-migrate uses (libcst) does not: {exc.message}")
        return result
    except MemoryError:  # pathological nesting
        result.status, result.error = "error", "cannot parse: out of memory"
        return result
    if not module.has_trailing_newline and body.endswith(b"\r"):
        module = module.with_changes(has_trailing_newline=True)  # libcst drops a final lone CR
    table = build_import_table(module, rules.is_namespace, external, external_cells, external_stars)
    if not table.aliases and not table.star_modules and not table.dotted and not table.external_cells:
        result.output, result.status = data, "no-torch"
        return result
    source = body.decode(module.encoding)  # the text (undecodable files were refused above)
    if source.startswith("\ufeff"):
        source = source[1:]
    printed = module.code
    original = None
    if printed != source:
        # libcst drops some whitespace (`except E :`, `f"{x!r }"`): the lines the conversion
        # leaves alone are put back as they were; anything else is refused, never changed
        if not _same_but_whitespace(source, printed):
            result.status, result.error = "error", "cannot convert: the parser does not reproduce this file " \
                                                   "byte for byte; file left as is (please report this)"
            return result
        original, source = source, printed
    ctx = FileContext(rules=rules, table=table, source=source, helper_module=helper_module)
    new = module.visit(Converter(ctx, convert_methods=not table.mentions_mindspore))
    if not new.body and new.body is not module.body and not new.has_trailing_newline:
        # every statement went (`import torch` + `opt.zero_grad()` without a final newline):
        # the comment lines left had their line breaks, and keep them
        new = new.with_changes(has_trailing_newline=True)
    printed = splice_helpers(new.code, ctx, new.default_indent)
    if original is not None:
        printed = _restore_lines(original, source, printed)
    output = printed.encode(module.encoding) + tail
    bad = _python_syntax_error(output)
    if bad is not None:  # a bug in a rule must never cost the user a parsable file
        result.status = "error"
        result.error = (f"internal error: the conversion did not parse (line {bad.lineno}: {bad.msg}); "
                        "file left as is (please report this)")
        return result
    if ctx.findings:
        # positions come from Python's tree of the input, when that is the text converted
        locate_findings(module, source, ctx.findings, ctx.ordinals, tree if original is None else None)
    result.findings = ctx.findings
    result.helpers = list(ctx.helpers_used)
    result.apis_found, result.apis_translated = ctx.apis_found, ctx.apis_translated
    result.output = output
    result.status = "converted" if output != data else "unchanged"
    if param_map:
        from .param_map import extract
        result.param_map = extract(module, ctx)
    return result


def locate_findings(module: cst.Module, source: str, findings: list[Finding], ordinals: dict,
                    tree: ast.AST | None = None) -> None:
    """Line and column of each finding, without libcst position metadata (which costs about
    as much as converting the file): a torch reference is the n-th occurrence of its spelling,
    and Python's own parser (fast, in C) says where that occurrence is."""
    located = _reference_positions(source, {s for s, _ in ordinals.values()}, tree)
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


def _reference_positions(source: str, spellings: set[str], tree: ast.AST | None = None) -> dict[str, list[tuple[int, int]]]:
    if tree is None:
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


def _on_big_stack(fn, args, recursion_limit: int | None = None):
    """Run ``fn(*args)`` in a thread with a 512 MB stack. libcst recurses once per nesting level,
    in Python and in its native parser: thousands of concatenated strings, or `a and b and ...`
    with thousands of terms (which Python itself accepts), overflow a normal 8 MB stack, and the
    native parser then crashes the process instead of raising. The stack is reserved, not used."""
    import threading

    out: dict = {}
    done = threading.Event()

    def target():
        try:
            out["result"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            out["error"] = exc
        finally:
            done.set()

    limit, size = sys.getrecursionlimit(), threading.stack_size()
    # A thread still in libcst's native code while the interpreter exits (Ctrl-C during a
    # conversion) aborts the process: Ctrl-C waits for the conversion to end (it writes nothing),
    # on an event, not Thread.join (which, interrupted, stops waiting for good; bpo-45274); it is
    # held while the thread starts (threads inherit that, so signals keep going to this one).
    blocked = hasattr(signal, "pthread_sigmask")
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS) if blocked else None
    if recursion_limit:
        sys.setrecursionlimit(max(limit, recursion_limit))
    try:
        threading.stack_size(512 * 1024 * 1024)
        thread = threading.Thread(target=target)
        thread.start()
    except (RuntimeError, ValueError, MemoryError):  # no such thread here: run on this stack
        thread = None
    finally:
        threading.stack_size(size)
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:
        if thread is None:
            return fn(*args)
        try:
            done.wait()
        except BaseException:
            while not done.is_set():
                try:
                    done.wait()
                except KeyboardInterrupt:
                    pass
            raise
        thread.join()
    finally:
        sys.setrecursionlimit(limit)
    if "error" in out:
        raise out["error"]
    return out["result"]


_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _same_but_whitespace(original: str, printed: str) -> bool:
    a, b = original.splitlines(keepends=True), printed.splitlines(keepends=True)
    return len(a) == len(b) and all(x == y or "".join(x.split()) == "".join(y.split()) for x, y in zip(a, b))


def _restore_lines(original: str, printed: str, converted: str) -> str:
    """``converted`` with each line the conversion did not change back as it was in ``original``
    (``printed`` is ``original`` as libcst prints it: the same lines, some whitespace lost)."""
    import difflib

    was, now = printed.splitlines(keepends=True), converted.splitlines(keepends=True)
    orig = original.splitlines(keepends=True)
    out = list(now)
    for a, b, n in difflib.SequenceMatcher(None, was, now, autojunk=False).get_matching_blocks():
        out[b:b + n] = orig[a:a + n]
    return "".join(out)


def _split_footer(data: bytes) -> tuple[bytes, bytes]:
    """(the file up to its last line of code, the blank and comment-only lines after it)."""
    lines = data.splitlines(keepends=True)
    i = len(lines)
    # blank lines, comment lines and lone backslashes (a continuation into nothing, which libcst
    # rejects at the end of a file)
    while i and (lines[i - 1].strip(b" \t\x0c\r\n") in (b"", b"\\") or lines[i - 1].lstrip(b" \t\x0c").startswith(b"#")):
        i -= 1
    if i and i < len(lines) and lines[i - 1].rstrip(b"\r\n").endswith(b"\\"):
        i += 1  # `A\` continues into the next line: libcst needs that line (`A\` ending a file fails)
    if i == len(lines) or not lines[i - 1:i] or not lines[i - 1].endswith((b"\n", b"\r")):
        return data, b""  # nothing after the last line of code (or no line break before it)
    cut = len(data) - sum(map(len, lines[i:]))
    body, tail = data[:cut], data[cut:]
    if (b"#" in tail or b"\\" in tail) and _python_syntax_error(body) is not None:
        return data, b""  # a line starting with # closed a string (`#\"\"\"`): it is code
    return body, tail


def _line_at(data: bytes, offset: int) -> int:
    return len(re.split(rb"\r\n|\r|\n", data[:offset]))


def undecodable(data: bytes) -> str | None:
    """Why these bytes are not Python source text (None when they are): a NUL byte, a bad coding
    declaration, or bytes the declared (or default UTF-8) encoding cannot decode."""
    nul = data.find(b"\x00")
    if nul >= 0:
        return f"binary file, not Python source (NUL byte at line {_line_at(data, nul)})"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if data.startswith(codecs.BOM_UTF8):
            return "cannot decode: a UTF-8 byte order mark with a coding declaration that is not utf-8"
        if "invalid or missing" not in exc.msg:
            return f"cannot decode: {exc.msg} (line 1-2)"
        encoding = "utf-8"  # no declaration and a first line that is not UTF-8: say where
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return (f"cannot decode line {_line_at(data, exc.start)} as {encoding.replace('-sig', '')}: {exc.reason} "
                f"(byte {data[exc.start:exc.start + 1]!r}); declare the file's encoding in a coding comment")
    return None


def _python_syntax_error(data: bytes) -> SyntaxError | None:
    """The error this Python reports for the source, or None if it parses."""
    return _python_parse(data)[1]


def _python_parse(data: bytes) -> tuple[ast.AST | None, SyntaxError | None]:
    """(Python's tree of the source, None), or (None, the error this Python reports for it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and such are not our business
        try:
            return ast.parse(data), None
        except SyntaxError as exc:
            return None, exc
        except (RecursionError, MemoryError):
            return None, SyntaxError("too deeply nested for Python to parse")
        except ValueError as exc:  # NUL bytes (caught before), other source it cannot read
            return None, SyntaxError(str(exc))


def _describe(exc: SyntaxError) -> str:
    where = f" at line {exc.lineno}" + (f":{exc.offset}" if exc.offset else "") if exc.lineno else ""
    return f"syntax error{where}: {exc.msg} (as Python {sys.version_info[0]}.{sys.version_info[1]} reads it)"
