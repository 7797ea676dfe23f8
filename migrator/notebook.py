"""Jupyter notebooks (``.ipynb``): converted and checked as notebooks.

The code cells of a notebook are one program, as the kernel runs them: a later cell sees the
imports and models of earlier ones. They are joined into one Python text with a separator
statement between cells (``__ms_migrate_cell__(N)``, which the converter leaves alone), IPython
syntax masked by placeholder statements, converted by ``convert.convert_source`` (the engine
``.py`` files go through), and split back into the same cells. Then:

* markdown and raw cells, cell ids and metadata, the notebook's metadata (kernel included) are
  kept as they are; the file is written in its own JSON layout (indentation, key order, ASCII
  escapes, trailing newline), so a diff of the file shows only the code that changed;
* a code cell whose source changed loses its outputs and execution count (they were torch's);
  the others keep theirs;
* IPython lines (``%magic``, ``!cmd``, ``x = !cmd``, ``obj?``) come back verbatim, except a
  ``pip install`` of torch packages, which becomes an install of ``mindspore`` (or stays, with a
  note, when it names PyTorch's own package index); a cell magic that is Python (``%%time``)
  has its first line masked, ``%%writefile x.py`` cells are converted as a file of their own,
  other cell magics (``%%bash``...) are not Python and stay as they are (a note when they
  mention torch);
* findings carry the cell (numbered from 1 over all cells, as ruff does) and the line and
  column in that cell.

This module never imports torch, mindspore or nbformat: the JSON is read and written with
``json``.
"""
from __future__ import annotations

import ast
import difflib
import json
import re
from dataclasses import dataclass, field


SEP = "__ms_migrate_cell__"
MASK = "__ms_migrate_ipython__"
_SEP_RE = re.compile(rf"^{SEP}\((\d+)\)\r?\n", re.M)
_MASK_RE = re.compile(rf"^([ \t]*){MASK}\((\d+)\)[ \t]*(\r?\n|$)", re.M)
# cell magics whose body is Python run by the kernel
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "pypy", "python", "python3"}
_ASSIGN_MAGIC = re.compile(r"^[ \t]*[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]")
_HELP = re.compile(r"^[ \t]*(\?{1,2}[\w.*]+|[\w.*]+(\([^)]*\))?\?{1,2})[ \t]*$")  # `obj?`, `??obj`, `torch.*Tensor?`
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")


class NotebookError(ValueError):
    """A file that is not a notebook ms-migrate can read; the message says why."""


@dataclass
class NotebookFinding:
    """A conversion finding (context.Finding's fields) in a notebook: ``line`` and ``col`` are
    within cell ``cell`` (from 1). Its own class, so that ``check`` on a notebook without torch
    does not import libcst."""

    kind: str
    api: str
    reason: str
    node: object = None
    line: int = 0
    col: int = 0
    cell: int | None = None


@dataclass
class Layout:
    """How a notebook's JSON was written, to write it back the same way."""

    indent: int | str | None = 1
    separators: tuple[str, str] = (",", ": ")
    ensure_ascii: bool = False
    trailer: str = "\n"
    exact: bool = True  # False: the file's layout could not be reproduced exactly (hand-edited whitespace):
    # its indentation, key order and trailing newline are kept, the rest is json.dumps's

    def dumps(self, nb: dict) -> str:
        return json.dumps(nb, indent=self.indent, separators=self.separators, ensure_ascii=self.ensure_ascii) + self.trailer


@dataclass
class Notebook:
    nb: dict
    layout: Layout
    text: str  # the file's text
    bom: bool = False

    @property
    def cells(self) -> list[dict]:
        return self.nb["cells"]

    def dump(self) -> bytes:
        return (("\ufeff" if self.bom else "") + self.layout.dumps(self.nb)).encode("utf-8")


def load(data: bytes) -> Notebook:
    """Parse a notebook's bytes; NotebookError says why they are not a notebook (version 4+)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"not a notebook: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    bom = text.startswith("\ufeff")
    if bom:
        text = text[1:]
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not a notebook: invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise NotebookError("not a notebook: JSON nested too deep") from None
    if not isinstance(nb, dict):
        raise NotebookError("not a notebook: the JSON is not an object")
    version = nb.get("nbformat")
    if not isinstance(version, int):
        raise NotebookError("not a notebook: no \"nbformat\" version number")
    if version < 4:
        raise NotebookError(f"notebook format {version} is not supported (4 or later is; upgrade it with "
                            f"`jupyter nbconvert --to notebook --nbformat 4`)")
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise NotebookError("not a notebook: no list of \"cells\"")
    for i, c in enumerate(cells, 1):
        src = c.get("source", "")
        if not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src))):
            raise NotebookError(f"cell {i}: \"source\" is neither a string nor a list of strings")
    return Notebook(nb, detect_layout(nb, text), text, bom)


def detect_layout(nb: dict, text: str) -> Layout:
    """The json.dumps arguments that reproduce ``text`` byte for byte (exact=False if none do)."""
    body = text.rstrip()
    trailer = text[len(body):]
    m = re.match(r"\{\r?\n([ \t]*)\"", body)
    indent: int | str | None
    if m:
        ws = m.group(1)
        indent = len(ws) if set(ws) <= {" "} else ws
    else:
        indent = None
    if indent is None:
        seps = [(", ", ": "), (",", ":"), (",", ": ")]
    else:
        seps = [(",", ": "), (",", ":")]
    for sep in seps:
        for ascii_ in (False, True):
            layout = Layout(indent, sep, ascii_, trailer)
            if layout.dumps(nb) == text:
                return layout
    return Layout(1 if indent is None else indent, (",", ": "), False, trailer or "\n", exact=False)


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    if isinstance(cell.get("source"), list):
        cell["source"] = text.splitlines(keepends=True)
    else:
        cell["source"] = text


# ---- IPython syntax --------------------------------------------------------------------------

@dataclass
class Masked:
    """One code cell as Python: IPython lines replaced by ``MASK(k)`` statements."""

    index: int  # position among all cells (0-based)
    text: str  # the cell's source
    python: str = ""  # the masked source, ending with a newline
    added_newline: bool = False
    lines: dict[int, str] = field(default_factory=dict)  # k -> original line (with its line break)
    magic: str | None = None  # a cell magic that is not Python (%%bash ...): not converted
    error: str | None = None
    dedent: str = ""  # the indentation of a cell's first line, removed from every line (as IPython does)
    source: str = ""  # the cell's source as the kernel runs it (dedented)

    def col(self, line: int, col: int) -> int:
        """A column in the dedented source, as a column in the cell."""
        lines = self.text.splitlines()
        if self.dedent and 0 < line <= len(lines) and lines[line - 1].startswith(self.dedent):
            return col + len(self.dedent)
        return col

    def reindent(self, text: str) -> str:
        if not self.dedent:
            return text
        return "".join(self.dedent + l if l.strip() else l for l in text.splitlines(keepends=True))

    @property
    def number(self) -> int:
        return self.index + 1


def _ipython_line(line: str) -> bool:
    s = line.lstrip(" \t")
    if s.startswith(("%", "!")):
        return True
    return bool(_ASSIGN_MAGIC.match(line) or _HELP.match(line.rstrip("\r\n")))


def mask_cell(index: int, text: str, counter: list[int]) -> Masked:
    m = Masked(index, text)
    lines = text.splitlines(keepends=True)
    first = lines[0].lstrip(" \t") if lines else ""
    cell_magic = re.match(r"%%(\w+)", first)
    if cell_magic and cell_magic.group(1) not in PYTHON_CELL_MAGICS:
        m.magic = cell_magic.group(1)
        return m
    prefix = re.match(r"[ \t]*", lines[0]).group(0) if lines and lines[0].strip() else ""
    if prefix and not _parses(text):  # IPython runs a cell without its first line's indentation
        lines = [l[len(prefix):] if l.startswith(prefix) else l for l in lines]
        text, m.dedent = "".join(lines), prefix
    m.source = text
    if not cell_magic and _parses(text):
        out = lines
    else:
        out = list(lines)
        cont = False
        for i, line in enumerate(lines):
            if (i == 0 and cell_magic) or cont or _ipython_line(line):
                k = counter[0]
                counter[0] += 1
                m.lines[k] = line
                indent = line[:len(line) - len(line.lstrip(" \t"))] if not cont else ""
                eol = line[len(line.rstrip("\r\n")):]
                out[i] = f"{indent}{MASK}({k})" + (eol or "\n")
                cont = line.rstrip("\r\n").endswith("\\")
    python = "".join(out)
    if python and not python.endswith("\n"):
        python += "\n"
        m.added_newline = True
    m.python = python
    problem = _syntax_error(python)
    if problem is not None:
        line, col, msg = problem
        m.error = (f"cell {m.number}, line {line}, column {m.col(line, col)}: not valid Python, even with its IPython "
                   f"lines set aside: {msg}")
    return m


def _parses(text: str) -> bool:
    return _syntax_error(text) is None


def _syntax_error(text: str):
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc.lineno or 1, exc.offset or 1, exc.msg
    except (ValueError, RecursionError, MemoryError) as exc:
        return 1, 1, str(exc) or type(exc).__name__
    return None


def unmask(text: str, lines: dict[int, str], notes: list[tuple[str, str, str]]) -> str:
    """Put the IPython lines back (an install of torch packages translated, with a note)."""
    def put(match: re.Match) -> str:
        original = lines.get(int(match.group(2)))
        if original is None:
            return match.group(0)
        new, note = translate_install(original)
        if note is not None:
            notes.append(note)
            if note[0] == "warning" and new == original:
                indent = original[:len(original) - len(original.lstrip(" \t"))]
                comment = f"{indent}# ms-migrate: note {note[1]}: {note[2]}"
                before = match.string[:match.start()].splitlines()
                if before and before[-1] == comment:
                    return original  # converted before: the note is there
                return comment + "\n" + original
        return new
    return _MASK_RE.sub(put, text)


_INSTALL = re.compile(r"^([ \t]*[!%][ \t]*(?:pip3?|python3? -m pip|uv pip)[ \t]+install\b)(.*?)(\r?\n)?$", re.S)
_OPTION_WITH_VALUE = {"-r", "--requirement", "-c", "--constraint", "-f", "--find-links", "-i", "--index-url",
                      "--extra-index-url", "-e", "--editable", "-t", "--target", "--prefix", "--root",
                      "--python-version", "--platform", "--implementation", "--abi", "--trusted-host"}


def translate_install(line: str) -> tuple[str, tuple[str, str, str] | None]:
    """``!pip install torch torchvision`` -> ``!pip install mindspore``; (line, note or None)."""
    m = _INSTALL.match(line)
    if not m:
        if re.match(r"^[ \t]*[!%]", line) and re.search(r"\b(conda|mamba|micromamba|pip3?)\b.*\binstall\b", line) \
                and re.search(r"\b(py)?torch(vision|audio)?\b", line):
            return line, ("warning", "install", "installs PyTorch packages in a way ms-migrate does not translate: "
                                                "left as is; install mindspore instead")
        return line, None
    head, rest, eol = m.group(1), m.group(2), m.group(3) or ""
    comment = re.search(r"(^|\s)#", rest)  # a shell comment: its words are not packages
    if comment:
        rest, eol = rest[:comment.start()], rest[comment.start():] + eol
    tokens = re.split(r"(\s+)", rest)
    torch_pkgs, keep, skip_next = [], [], False
    for tok in tokens:
        if skip_next and tok.strip():
            skip_next = False
            keep.append(tok)
            continue
        name = re.match(r"[A-Za-z0-9_.\-]+", tok)
        if tok.startswith("-"):
            skip_next = tok in _OPTION_WITH_VALUE
            keep.append(tok)
        elif name and name.group(0).lower().replace("_", "-") in TORCH_PACKAGES:
            torch_pkgs.append(tok)
            keep.append(None)
        else:
            keep.append(tok)
    if not torch_pkgs:
        return line, None
    if "pytorch.org" in rest:
        return line, ("warning", "pip install", "installs torch from PyTorch's package index: left as is; "
                                                "install mindspore instead")
    out, placed = [], "mindspore" in rest.split()
    for tok in keep:
        if tok is None:
            if not placed:
                out.append("mindspore")
                placed = True
            elif out and not out[-1].strip():
                out.pop()  # the space before a package dropped
            continue
        out.append(tok)
    new = head + "".join(out) + eol
    return new, ("translated", "pip install", f"{', '.join(torch_pkgs)} -> mindspore")


# ---- joining cells ---------------------------------------------------------------------------

@dataclass
class Program:
    """The code cells of a notebook as one Python text."""

    cells: list[Masked]  # the code cells joined, in order
    others: list[Masked]  # code cells not joined (not Python: %%bash...; or %%writefile)
    text: str
    starts: list[int]  # line (1-based) in ``text`` where each joined cell starts
    errors: list[Masked]

    def where(self, line: int) -> tuple[Masked, int] | None:
        """(cell, line in cell) of a line of ``text``."""
        found = None
        for cell, start in zip(self.cells, self.starts):
            if start <= line:
                found = (cell, line - start + 1)
        return found


def join(notebook: Notebook) -> Program:
    counter = [0]
    joined, others, errors, parts, starts = [], [], [], [], []
    line = 1
    for i, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        m = mask_cell(i, cell_source(cell), counter)
        if m.magic is not None:
            others.append(m)
            continue
        if m.error is not None:
            errors.append(m)
            continue
        if joined:
            parts.append(f"{SEP}({i})\n")
            line += 1
        joined.append(m)
        starts.append(line)
        parts.append(m.python)
        line += m.python.count("\n")
    return Program(joined, others, "".join(parts), starts, errors)


def split(text: str, program: Program) -> list[str] | None:
    """The converted text cut back into cells (None if the separators did not survive)."""
    pieces = _SEP_RE.split(text)
    first, rest = pieces[0], pieces[1:]
    ids = [int(x) for x in rest[0::2]]
    if ids != [c.index for c in program.cells[1:]]:
        return None
    return [first, *rest[1::2]]


# ---- conversion ------------------------------------------------------------------------------

def convert_notebook(data: bytes, path: str = "<notebook>", rules=None, param_map: bool = False,
                     helper_module: str = "ms_helpers"):
    """Convert a notebook's bytes. Never raises; an unconvertible notebook is an error result
    (nothing is written for it). ``helper_module``: as for convert_source (the runtime helpers
    the cells use are imported from the generated module beside the notebook's tree)."""
    from .convert import FileResult

    try:
        return _convert_notebook(data, path, rules, param_map, helper_module)
    except RecursionError:
        return FileResult(path=path, status="error", error="cannot convert: nesting too deep")
    except Exception as exc:  # a bug costs this notebook, never the run
        return FileResult(path=path, status="error", error=f"internal error: {type(exc).__name__}: {exc}; "
                                                           "notebook left as is (please report this)")


def _convert_notebook(data: bytes, path: str, rules, param_map: bool, helper_module: str = "ms_helpers"):
    from .convert import FileResult, convert_source

    result = FileResult(path=path)
    try:
        notebook = load(data)
    except NotebookError as exc:
        result.status, result.error = "error", str(exc)
        return result
    program = join(notebook)
    if program.errors:
        result.status, result.error = "error", "; ".join(m.error for m in program.errors)
        return result
    findings: list[NotebookFinding] = []
    new_sources: dict[int, str] = {}
    if "torch" in program.text or any(m.lines for m in program.cells):
        res = convert_source(program.text.encode("utf-8"), path, rules, param_map=param_map,
                             helper_module=helper_module)
        if res.status == "error":
            result.status, result.error = "error", _cellify(res.error or "", program)
            return result
        result.apis_found, result.apis_translated = res.apis_found, res.apis_translated
        result.param_map = res.param_map
        result.helpers = list(res.helpers)
        for f in res.findings:
            findings.append(_located(f, program))
        converted = res.output.decode("utf-8") if res.output is not None else program.text
        pieces = split(converted, program)
        if pieces is None:
            result.status = "error"
            result.error = "internal error: the cell boundaries did not survive the conversion; notebook left as is " \
                           "(please report this)"
            return result
        for m, piece in zip(program.cells, pieces):
            if m.added_newline:  # the cell ended without a line break (blank lines added at its end go too)
                piece = piece.rstrip("\n")
            notes: list[tuple[str, str, str]] = []
            piece = unmask(piece, m.lines, notes)
            done: set[int] = set()
            for kind, api, reason in notes:
                line = _line_of_install(m, done)
                findings.append(NotebookFinding("warning", api, reason, None, line, 1, cell=m.number))
                if kind == "translated":
                    result.apis_found += 1
                    result.apis_translated += 1
            if piece != m.source:
                new_sources[m.index] = m.reindent(piece)
    for m in program.others:
        _convert_magic_cell(m, rules, result, findings, new_sources, helper_module)
    cells = notebook.cells
    for i, text in new_sources.items():
        cell = cells[i]
        _set_source(cell, text)
        if "outputs" in cell:
            cell["outputs"] = []
        if "execution_count" in cell:
            cell["execution_count"] = None
    findings.sort(key=lambda f: (f.cell or 0, f.line, f.col))
    result.findings = findings
    if not new_sources:
        result.output = data
        result.status = "unchanged" if "torch" in program.text else "no-torch"
        return result
    if not notebook.layout.exact:
        findings.append(NotebookFinding("warning", "notebook", "its JSON layout could not be reproduced byte for byte "
                                        "(hand-edited whitespace?): its indentation and key order are kept, other "
                                        "whitespace between JSON values may change", None, 1, 1, cell=None))
    result.output = notebook.dump()
    result.status = "converted"
    return result


def _line_of_install(m: Masked, done: set) -> int:
    """The line of the cell's next install line naming torch (each note gets its own)."""
    for i, line in enumerate(m.text.splitlines(), 1):
        if i not in done and translate_install(line)[1] is not None:
            done.add(i)
            return i
    return 1


def _located(f, program: Program) -> NotebookFinding:
    where = program.where(f.line) if f.line else None
    if where is None:
        return NotebookFinding(f.kind, f.api, f.reason, None, f.line, f.col, cell=None)
    return NotebookFinding(f.kind, f.api, f.reason, None, where[1], where[0].col(where[1], f.col), cell=where[0].number)


def _cellify(message: str, program: Program) -> str:
    """An error about line L of the joined program, told as cell N, line L'."""
    def repl(match: re.Match) -> str:
        where = program.where(int(match.group(2)))
        return f"cell {where[0].number}, {match.group(1)} {where[1]}" if where else match.group(0)
    return re.sub(r"\b(line) (\d+)", repl, message, count=1)


def _convert_magic_cell(m: Masked, rules, result, findings: list, new_sources: dict,
                        helper_module: str = "ms_helpers") -> None:
    """A cell magic that is not Python: ``%%writefile x.py`` is converted as its own file; the
    others are left as they are (with a note when they mention torch)."""
    from .convert import convert_source

    if "torch" not in m.text:
        return
    first, _, body = m.text.partition("\n")
    target = first.split()[-1] if len(first.split()) > 1 else ""
    if m.magic == "writefile" and target.endswith(".py"):
        res = convert_source(body.encode("utf-8"), target, rules, helper_module=helper_module)
        if res.status == "error":
            findings.append(NotebookFinding("warning", "%%writefile", f"{target} not converted: {res.error}",
                                            None, 1, 1, cell=m.number))
            return
        result.apis_found += res.apis_found
        result.apis_translated += res.apis_translated
        for f in res.findings:
            findings.append(NotebookFinding(f.kind, f.api, f.reason, None, f.line + 1, f.col, cell=m.number))
        new = first + "\n" + res.output.decode("utf-8")
        result.helpers += [h for h in res.helpers if h not in result.helpers]
        if new != m.text:
            new_sources[m.index] = new
        return
    findings.append(NotebookFinding("warning", f"%%{m.magic}", "a cell magic that is not Python: the cell is left "
                                    "as it is (it mentions torch: port it by hand)", None, 1, 1, cell=m.number))


# ---- diffs -----------------------------------------------------------------------------------

def cell_diff(path: str, before: bytes, after: bytes) -> str:
    """A unified diff per changed cell, each named ``PATH:cell N`` (as ruff --diff does)."""
    try:
        a, b = load(before).cells, load(after).cells
    except NotebookError:
        return ""
    out = []
    for i, (x, y) in enumerate(zip(a, b), 1):
        sa, sb = cell_source(x), cell_source(y)
        if sa != sb:
            out.append("".join(difflib.unified_diff(_lines(sa), _lines(sb), fromfile=f"a/{path}:cell {i}",
                                                    tofile=f"b/{path}:cell {i}")))
    return "".join(out)


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of cell\n"
    return lines


# ---- check -----------------------------------------------------------------------------------

def check_notebook(data: bytes, path: str, rules=None) -> list:
    """``ms-migrate check`` on a notebook: check.Finding objects with their cell set."""
    from .check import Finding as CheckFinding, check_source

    try:
        notebook = load(data)
    except NotebookError as exc:
        return [CheckFinding(path, 1, 1, "E001", str(exc))]
    program = join(notebook)
    out = []
    for m in program.errors:
        where = _syntax_error(m.python) or (1, 1, "")
        out.append(CheckFinding(path, where[0], m.col(where[0], where[1]), "E002",
                                f"not valid Python, even with its IPython lines set aside: {where[2]}", cell=m.number))
    found = check_source(program.text.encode("utf-8"), path, rules) if program.cells else []
    for f in found:
        where = program.where(f.line)
        if where is not None:
            f.cell, f.line, f.col = where[0].number, where[1], where[0].col(where[1], f.col)
        out.append(f)
    for m in program.others:
        first, _, body = m.text.partition("\n")
        if m.magic == "writefile" and first.split()[-1].endswith(".py") and "torch" in body:
            for f in check_source(body.encode("utf-8"), path, rules):
                f.cell, f.line = m.number, f.line + 1
                out.append(f)
    out.sort(key=lambda f: (f.cell or 0, f.line, f.col, f.code))
    return out
