"""``ms-migrate check``: a linter for torch left behind, fit for pre-commit and CI.

Two kinds of files, told apart per file:

* **PyTorch code** (imports torch, no MindSpore, no markers): the converter runs in memory
  (nothing is written) and every use it would leave untranslated is a finding: an API with no
  rule (MSM001), one whose rule says it has no MindSpore counterpart (MSM002), or a use of a
  translatable API that cannot be translated in that form (MSM003). The same engine decides, so
  ``check`` and ``convert`` never disagree.
* **Converted code** (imports MindSpore, or carries ``# ms-migrate: untranslated`` markers):
  markers left (MSM101), torch references (MSM102) and torch imports (MSM103). A reference on a
  statement whose marker already names it is reported once, by the marker.

Start-up is kept light: libcst is imported only for files that mention torch or carry a marker,
the converter only for PyTorch files, positions are computed only for files with findings, and
the rules come from a cache (see ``cached_rules``) keyed by the rule files' sizes and times.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

MARKER_PREFIX = "# ms-migrate: untranslated"  # = migrator.context.MARKER_PREFIX (a test keeps them equal)
_MARKER_RE = re.compile(r"#\s*ms-migrate:\s*untranslated\s+([^\s:]+)\s*:?\s*(.*)$")
_SUPPRESS_RE = re.compile(r"#\s*ms-migrate:\s*ignore(?:\[([^\]]*)\])?")
PY_SUFFIXES = (".py", ".pyi", ".ipynb")  # notebooks: migrator/notebook.py


@dataclass(frozen=True)
class Code:
    code: str
    name: str  # SARIF rule name
    level: str  # SARIF level: error | warning | note
    default: bool  # selected unless --select says otherwise
    summary: str


CODES: dict[str, Code] = {c.code: c for c in [
    Code("MSM001", "unknown-torch-api", "error", True,
         "PyTorch code: a torch API ms-migrate has no translation for (no rule)"),
    Code("MSM002", "untranslatable-torch-api", "error", True,
         "PyTorch code: a torch API ms-migrate knows has no MindSpore counterpart (its rule is `unsupported`; the reason is given)"),
    Code("MSM003", "untranslatable-torch-use", "error", True,
         "PyTorch code: a translatable torch API used in a form ms-migrate cannot translate (an argument value, a use without a call...; the reason is given)"),
    Code("MSM004", "conversion-note", "note", False,
         "PyTorch code: translated with a caveat worth checking by hand (not selected by default)"),
    Code("MSM101", "untranslated-marker", "error", True,
         "converted code: an `# ms-migrate: untranslated` marker is still there"),
    Code("MSM102", "torch-reference", "error", True,
         "converted code: a torch reference (the message says whether ms-migrate can translate it)"),
    Code("MSM103", "torch-import", "error", True,
         "converted code: an import of torch, torchvision or torchaudio"),
    Code("E001", "unreadable-file", "error", True,
         "the file cannot be read or decoded (missing, permissions, bad encoding)"),
    Code("E002", "syntax-error", "error", True,
         "the file is not valid Python"),
    Code("E003", "internal-error", "error", True,
         "ms-migrate failed on this file (a bug: please report it)"),
]}
ERROR_CODES = frozenset(c for c in CODES if c.startswith("E"))


@dataclass
class Finding:
    path: str
    line: int
    col: int
    code: str
    message: str
    api: str | None = None
    cell: int | None = None  # a notebook's cell (from 1, over all cells, as ruff counts); line/col are in it

    @property
    def is_error(self) -> bool:
        return self.code in ERROR_CODES

    def text(self) -> str:
        cell = f"cell {self.cell}:" if self.cell else ""
        return f"{self.path}:{cell}{self.line}:{self.col}: {self.code} {self.message}"

    def to_json(self) -> dict:
        return {"path": self.path, **({"cell": self.cell} if self.cell else {}), "line": self.line, "col": self.col,
                "code": self.code, "message": self.message, **({"api": self.api} if self.api else {})}


class SelectionError(ValueError):
    """A --select/--ignore entry that names no code."""


def expand_codes(entries) -> set[str]:
    """Codes named by comma-separated entries; an entry is a code, a prefix of codes, or ALL."""
    out: set[str] = set()
    for entry in entries or ():
        for token in str(entry).split(","):
            token = token.strip().upper()
            if not token:
                continue
            hit = set(CODES) if token == "ALL" else {c for c in CODES if c.startswith(token)}
            if not hit:
                raise SelectionError(f"{token!r} is not a check code (see `ms-migrate check --codes`)")
            out |= hit
    return out


def selected_codes(select=None, ignore=None) -> set[str]:
    chosen = expand_codes(select) if select else {c for c, v in CODES.items() if v.default}
    return (chosen - expand_codes(ignore)) | ERROR_CODES  # errors are always reported


# ---- one file ------------------------------------------------------------------------------

def check_file(path: str, display: str | None = None, rules=None) -> list[Finding]:
    display = display or path
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return [Finding(display, 1, 1, "E001", f"cannot read: {exc.strerror or exc}")]
    if path.endswith(".ipynb"):
        from .notebook import check_notebook
        try:
            return check_notebook(data, display, rules)
        except Exception as exc:  # a bug must cost one file, not the run
            return [Finding(display, 1, 1, "E003", f"internal error: {type(exc).__name__}: {exc}")]
    return check_source(data, display, rules)


def check_source(data: bytes, path: str = "<string>", rules=None) -> list[Finding]:
    """Findings for one file's bytes, suppressions applied (selection is the caller's). Never raises."""
    try:
        findings = _check(data, path, rules)
    except RecursionError:
        return [Finding(path, 1, 1, "E002", "cannot parse: nesting too deep")]
    except Exception as exc:  # a bug must cost one file, not the run
        return [Finding(path, 1, 1, "E003", f"internal error: {type(exc).__name__}: {exc}")]
    if findings and not findings[0].is_error and b"ms-migrate" in data:
        findings = _suppress(findings, data)
    return findings


def _check(data: bytes, path: str, rules) -> list[Finding]:
    from .helper_module import is_generated

    if is_generated(data):  # the helper module a conversion wrote: not the user's code
        return []
    has_marker = b"ms-migrate: untranslated" in data
    if b"torch" not in data and not has_marker:
        return _syntax_only(data, path)  # no libcst needed
    import libcst as cst

    try:
        module = cst.parse_module(data)
    except cst.ParserSyntaxError as exc:
        return [_syntax_error(data, path, exc)]
    except (UnicodeDecodeError, LookupError) as exc:
        return [Finding(path, 1, 1, "E001", f"cannot decode: {exc}")]
    from .names import build_import_table

    table = build_import_table(module, rules.is_namespace if rules is not None else None)
    markers = _markers(module.code) if has_marker else []
    if table.mentions_mindspore or markers:
        findings = _check_converted(module, table, markers, path, rules)
    elif table.aliases or table.star_modules:
        findings = _check_pytorch(module, table, path, rules)
    else:
        return []
    findings.sort(key=lambda f: (f.line, f.col, f.code))
    return findings


def _syntax_only(data: bytes, path: str) -> list[Finding]:
    try:
        compile(data, path, "exec", 0x400, dont_inherit=True)  # ast.PyCF_ONLY_AST: parse, no bytecode
    except SyntaxError as exc:
        return [Finding(path, exc.lineno or 1, exc.offset or 1, "E002", f"syntax error: {exc.msg}")]
    except (UnicodeDecodeError, ValueError) as exc:  # bad encoding, NUL bytes
        return [Finding(path, 1, 1, "E001", f"cannot decode: {exc}")]
    return []


def _syntax_error(data: bytes, path: str, exc) -> Finding:
    """Python's own message where it has one (clearer than the libcst parser's)."""
    py = _syntax_only(data, path)
    if py:
        return py[0]
    return Finding(path, exc.raw_line, exc.raw_column + 1, "E002", f"cannot parse: {exc.message}")


_RULES = None


def _rules(rules=None):
    global _RULES
    if rules is not None:
        return rules
    if _RULES is None:
        from .rules import cached_rules

        _RULES = cached_rules()
    return _RULES


def _check_pytorch(module, table, path: str, rules) -> list[Finding]:
    """Run the converter in memory; its untranslated findings are the answer."""
    from .context import FileContext
    from .convert import locate_findings
    from .transformer import Converter

    rules = _rules(rules)
    source = module.code
    ctx = FileContext(rules=rules, table=table, source=source)
    module.visit(Converter(ctx, convert_methods=True))
    if not ctx.findings:
        return []
    locate_findings(module, source, ctx.findings, ctx.ordinals)
    out: list[Finding] = []
    seen = set()
    for f in ctx.findings:
        if f.kind == "untranslated":
            rule = rules.get(f.api)
            if rule is None:
                code, msg = "MSM001", f"{f.api}: no MindSpore translation known to ms-migrate"
            elif not rule.translated:
                code, msg = "MSM002", f"{f.api} has no MindSpore counterpart: {f.reason}"
            else:
                code, msg = "MSM003", f"{f.api} cannot be translated here: {f.reason}"
        else:
            code, msg = "MSM004", f"{f.api}: {f.reason}"
        key = (f.line, f.col, code, f.api)
        if key not in seen:
            seen.add(key)
            out.append(Finding(path, f.line or 1, f.col or 1, code, msg, f.api))
    return out


def _markers(text: str) -> list[tuple[int, int, str, str]]:
    """(line, col, api, reason) of each marker comment."""
    out = []
    for line, col, comment in _comments(text):
        m = _MARKER_RE.match(comment)
        if m:
            reason = _SUPPRESS_RE.sub("", m.group(2)).strip()
            out.append((line, col + 1, m.group(1), reason))
    return out


def _comments(text: str):
    """(line, col, text) of every comment: tokenize, so '#' inside strings is not one."""
    import io
    import tokenize

    try:
        return [(t.start[0], t.start[1], t.string) for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):  # libcst parsed it, so this is unexpected: scan lines
        return [(i, m.start(), m.group(0)) for i, l in enumerate(text.splitlines(), 1)
                for m in [re.search(r"#.*", l)] if m]


def _check_converted(module, table, markers, path: str, rules) -> list[Finding]:
    out = [Finding(path, line, col, "MSM101", f"untranslated marker left: {api}: {reason}" if reason
                   else f"untranslated marker left: {api}", api)
           for line, col, api, reason in markers]
    visitor = _torch_refs_visitor(table, _rules(rules) if table.star_modules else None)
    module.visit(visitor)
    if not visitor.refs and not visitor.imports:
        return out
    from libcst.metadata import MetadataWrapper, PositionProvider

    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    rules = _rules(rules)
    for node, text in visitor.imports:
        pos = positions[node].start
        out.append(Finding(path, pos.line, pos.column + 1, "MSM103", f"torch imported in converted code: {text}"))
    for node, q in visitor.refs:
        pos = positions[node].start
        rule = rules.get(q)
        if q in ("torch", "torchvision", "torchaudio"):
            how = "the package itself"
        elif rule is None:
            how = "no MindSpore translation known to ms-migrate"
        elif not rule.translated:
            how = f"no MindSpore counterpart: {rule.unsupported}"
        else:
            how = "ms-migrate translates it: port it by hand or re-run ms-migrate on this file"
        out.append(Finding(path, pos.line, pos.column + 1, "MSM102", f"torch reference in converted code: {q} ({how})", q))
    return out


def _make_visitor_class():
    import libcst as cst

    from .names import TORCH_ROOTS, dotted_name, module_name

    class TorchRefs(cst.CSTVisitor):
        """Torch imports and references (outermost name chains) in converted code."""

        def __init__(self, table, rules):
            super().__init__()
            self.table, self.rules = table, rules
            self.refs: list[tuple[cst.CSTNode, str]] = []
            self.imports: list[tuple[cst.CSTNode, str]] = []
            self._skip = 0  # inside a name that is not a reference (attribute, keyword, parameter)
            self._covered: list[set[str]] = []  # per enclosing statement: apis its markers name

        def on_visit(self, node) -> bool:
            if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                self._covered.append({m.group(1) for l in node.leading_lines if l.comment is not None
                                      for m in [_MARKER_RE.match(l.comment.value)] if m})
            return super().on_visit(node)

        def on_leave(self, original_node) -> None:
            super().on_leave(original_node)
            if isinstance(original_node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                self._covered.pop()

        def _ref(self, node, q: str) -> None:
            if not (self._covered and q in self._covered[-1]):
                self.refs.append((node, q))

        def visit_Import(self, node) -> bool:
            names = [module_name(a.name) for a in node.names]
            torch = [n for n in names if n.split(".", 1)[0] in TORCH_ROOTS]
            if torch:
                self.imports.append((node, "import " + ", ".join(torch)))
            return False

        def visit_ImportFrom(self, node) -> bool:
            mod = module_name(node.module)
            if not node.relative and mod.split(".", 1)[0] in TORCH_ROOTS:
                self.imports.append((node, f"from {mod} import ..."))
            return False

        def visit_Attribute(self, node) -> bool:
            if self._skip:
                return True
            q = self.table.resolve(node)
            if q is not None:
                self._ref(node, q)
                return False
            return True

        def visit_Name(self, node) -> None:
            if self._skip:
                return
            q = self.table.aliases.get(node.value)
            if q is None and self.rules is not None:
                q = next((f"{m}.{node.value}" for m in self.table.star_modules
                          if self.rules.get(f"{m}.{node.value}") is not None), None)
            if q is not None:
                self._ref(node, q)

        def visit_AssignTarget(self, node) -> bool:
            return not isinstance(node.target, cst.Name)  # `F = torch.nn.functional`: F is not a use

        def _enter(self, node) -> None:
            self._skip += 1

        def _exit(self, node) -> None:
            self._skip -= 1

        visit_Attribute_attr = visit_Arg_keyword = visit_Param_name = _enter
        visit_FunctionDef_name = visit_ClassDef_name = _enter
        leave_Attribute_attr = leave_Arg_keyword = leave_Param_name = _exit
        leave_FunctionDef_name = leave_ClassDef_name = _exit

    return TorchRefs


_VISITOR = None


def _torch_refs_visitor(table, rules):
    """The visitor class is built on first use, so importing this module does not import libcst."""
    global _VISITOR
    if _VISITOR is None:
        _VISITOR = _make_visitor_class()
    return _VISITOR(table, rules)


def _suppress(findings: list[Finding], data: bytes) -> list[Finding]:
    """Drop findings whose line carries ``# ms-migrate: ignore[CODE,...]`` (or a bare ``ignore``)."""
    text = data.decode("utf-8", "replace")
    by_line: dict[int, set[str] | None] = {}
    for line, _, comment in _comments(text):
        for m in _SUPPRESS_RE.finditer(comment):
            if m.group(1) is None:
                by_line[line] = None  # every code
            elif by_line.get(line, set()) is not None:
                by_line.setdefault(line, set()).update(c.strip().upper() for c in m.group(1).split(",") if c.strip())
    if not by_line:
        return findings
    out = []
    for f in findings:
        if f.line in by_line and (by_line[f.line] is None or f.code in by_line[f.line]):
            continue
        out.append(f)
    return out


# ---- many files ------------------------------------------------------------------------------

def iter_files(paths):
    """(path to open, path to show) for each input; folders give their .py/.pyi/.ipynb files, sorted."""
    for p in paths:
        if os.path.isdir(p):
            from .pipeline import SKIP_DIRS

            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                for name in sorted(filenames):
                    if name.endswith(PY_SUFFIXES):
                        full = os.path.join(dirpath, name)
                        yield full, full
        else:
            yield p, p


def check_paths(paths, select=None, ignore=None, rules=None) -> tuple[list[Finding], int]:
    """Findings of the selected codes over all inputs, and how many files were checked."""
    codes = selected_codes(select, ignore)
    findings: list[Finding] = []
    n = 0
    for path, display in iter_files(paths):
        n += 1
        findings += [f for f in check_file(path, display, rules) if f.code in codes]
    return findings, n


def exit_code(findings: list[Finding]) -> int:
    if any(f.is_error for f in findings):
        return 2
    return 1 if findings else 0


# ---- output ----------------------------------------------------------------------------------

def render_text(findings: list[Finding]) -> str:
    return "".join(f.text() + "\n" for f in findings)


def summary_line(findings: list[Finding], n_files: int) -> str:
    errors = sum(f.is_error for f in findings)
    rest = len(findings) - errors
    files = len({f.path for f in findings})
    if not findings:
        return f"ms-migrate check: {n_files} file{'s' * (n_files != 1)} checked, no findings"
    parts = [f"{rest} finding{'s' * (rest != 1)}"] + ([f"{errors} error{'s' * (errors != 1)}"] if errors else [])
    return f"ms-migrate check: {' and '.join(parts)} in {files} of {n_files} file{'s' * (n_files != 1)}"


def render_json(findings: list[Finding], n_files: int) -> str:
    import json

    from . import __version__

    doc = {
        "tool": "ms-migrate",
        "version": __version__,
        "summary": {"files": n_files, "findings": sum(not f.is_error for f in findings),
                    "errors": sum(f.is_error for f in findings), "exit_code": exit_code(findings)},
        "findings": [f.to_json() for f in findings],
    }
    return json.dumps(doc, indent=2) + "\n"


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _artifact_uri(path: str) -> dict:
    from pathlib import Path
    from urllib.parse import quote

    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    rel = os.path.normpath(path).replace(os.sep, "/")
    if rel.startswith("../"):
        return {"uri": Path(os.path.abspath(path)).as_uri()}
    return {"uri": quote(rel), "uriBaseId": "%SRCROOT%"}


def render_sarif(findings: list[Finding], n_files: int) -> str:
    """SARIF 2.1.0, as GitHub code scanning reads it: one run, the codes as rules, paths relative
    to the working directory (%SRCROOT%), 1-based lines and columns counted in code points."""
    import json
    from pathlib import Path

    from . import __version__

    order = list(CODES)
    rules = [{
        "id": c.code,
        "name": c.name,
        "shortDescription": {"text": c.summary},
        "fullDescription": {"text": c.summary},
        "help": {"text": f"{c.code}: {c.summary}. Suppress it on one line with `# ms-migrate: ignore[{c.code}]` "
                         "(README.md, section 'Check mode and pre-commit')."},
        "defaultConfiguration": {"level": c.level, "enabled": c.default},
    } for c in CODES.values()]
    results = []
    for f in findings:
        location = {"artifactLocation": _artifact_uri(f.path)}
        if f.cell:  # a notebook: the file's lines are JSON, the position is named in the message
            message = f"cell {f.cell}, line {f.line}, column {f.col}: {f.message}"
        else:
            message = f.message
            location["region"] = {"startLine": max(1, f.line), "startColumn": max(1, f.col)}
        results.append({
            "ruleId": f.code,
            "ruleIndex": order.index(f.code),
            "level": CODES[f.code].level,
            "message": {"text": message},
            "locations": [{"physicalLocation": location}],
        })
    run = {
        "tool": {"driver": {"name": "ms-migrate", "version": __version__, "semanticVersion": __version__,
                            "rules": rules}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": not any(f.is_error for f in findings)}],
        "results": results,
    }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"


def codes_table() -> str:
    lines = [f"{'code':7} {'default':8} summary"]
    for c in CODES.values():
        lines.append(f"{c.code:7} {'on' if c.default else 'off':8} {c.summary}")
    return "\n".join(lines) + "\n"


def main(paths, fmt: str = "text", select=None, ignore=None, output: str | None = None) -> int:
    """The command: print the report, return the exit status."""
    findings, n = check_paths(paths, select, ignore)
    if fmt == "json":
        doc = render_json(findings, n)
    elif fmt == "sarif":
        doc = render_sarif(findings, n)
    else:
        doc = render_text(findings)
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(doc)
        except OSError as exc:
            sys.stderr.write(f"ms-migrate check: cannot write {output}: {exc.strerror or exc}\n")
            return 2
    else:
        sys.stdout.write(doc)
    if fmt == "text" or output:
        sys.stderr.write(summary_line(findings, n) + "\n")
    return exit_code(findings)
