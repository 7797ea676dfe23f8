"""Files in, files out: discovering inputs, choosing outputs, converting in parallel, writing safely.

Nothing of the user's is overwritten unless ``--inplace`` is given; every write goes to a
temporary file in the destination folder that is then renamed over the target, so an
interrupted run leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import difflib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

from .convert import FileResult, convert_source
from .report import Report

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".tox", ".venv", "venv",
             ".ipynb_checkpoints", "node_modules"}
SKIP_SUFFIXES = (".pyc", ".pyo")


class UsageError(Exception):
    """Bad command-line input: reported in one line, nothing written."""


@dataclass
class Task:
    src: str
    dst: str | None  # None: do not write (diff / check)
    display: str
    python: bool = True
    error: str | None = None  # discovered before conversion (unreadable, loop...)


def default_output(path: str) -> str:
    """Where a run without -o writes: beside the input, `X_mindspore.py` or `D_mindspore/`."""
    path = os.path.normpath(path)
    if os.path.isdir(path):
        return path + "_mindspore"
    root, ext = os.path.splitext(path)
    return f"{root}_mindspore{ext or '.py'}"


def _inside(child: str, parent: str) -> bool:
    child, parent = os.path.realpath(child), os.path.realpath(parent)
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def plan(paths: list[str], out: str | None, inplace: bool, write: bool) -> list[Task]:
    tasks: list[Task] = []
    if out and len(paths) > 1:
        os.makedirs(out, exist_ok=True) if write else None
    for p in paths:
        if not os.path.lexists(p):
            tasks.append(Task(p, None, p, error="no such file or directory"))
            continue
        if inplace:
            dest = p
        elif out is None:
            dest = default_output(p)
        elif len(paths) > 1:
            dest = os.path.join(out, os.path.basename(os.path.normpath(p)))
        elif os.path.isdir(p) or out.endswith(os.sep) or os.path.isdir(out):
            dest = out if os.path.isdir(p) else os.path.join(out, os.path.basename(p))
        else:
            dest = out
        if os.path.isdir(p):
            if not inplace and write and _inside(dest, p):
                raise UsageError(f"{dest}: the output folder is inside the input folder {p}; choose another -o")
            tasks += _walk(p, dest if write else None)
        else:
            if not inplace and write and os.path.exists(dest) and os.path.samefile(dest, p):
                raise UsageError(f"{p}: the output would overwrite the input; use --inplace to rewrite inputs")
            tasks.append(Task(p, dest if write else None, p, python=_is_python(p)))
    return tasks


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _walk(root: str, dest_root: str | None) -> list[Task]:
    tasks: list[Task] = []
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=lambda e: tasks.append(
            Task(e.filename, None, e.filename, error=f"cannot read folder: {e.strerror}"))):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not _link_loop(os.path.join(dirpath, d), seen))
        for name in sorted(filenames):
            if name.endswith(SKIP_SUFFIXES):
                continue
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, root)
            dst = os.path.join(dest_root, rel) if dest_root else None
            if os.path.islink(src) and not os.path.exists(src):
                tasks.append(Task(src, None, src, error="broken symbolic link"))
                continue
            tasks.append(Task(src, dst, src, python=_is_python(name)))
    return tasks


def _link_loop(path: str, seen: set) -> bool:
    """Symbolic links to folders are not followed (os.walk), so they cannot loop; a link is
    mirrored as a plain file copy only if it points to a file."""
    return os.path.islink(path)


def write_atomic(path: str, data: bytes, mode_from: str | None = None) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ms-migrate-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode_from is not None:
            shutil.copymode(mode_from, tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def run_task(task: Task, keep_output: bool = False, param_map: bool = False) -> FileResult:
    """Convert or copy one file; errors become part of the result, never exceptions."""
    if task.error:
        return FileResult(path=task.display, status="error", error=task.error)
    try:
        with open(task.src, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return FileResult(path=task.display, status="error", error=f"cannot read: {exc.strerror or exc}")
    if not task.python:
        res = FileResult(path=task.display, status="copied", output=data)
    else:
        res = convert_source(data, task.display, param_map=param_map)
    if task.dst is not None and res.output is not None:
        if task.dst != task.src or res.output != data:
            try:
                write_atomic(task.dst, res.output, mode_from=task.src)
            except OSError as exc:
                res.status, res.error = "error", f"cannot write {task.dst}: {exc.strerror or exc}"
        res.out_path = task.dst
    if res.status == "error" and task.dst is not None and task.dst != task.src and res.output is None:
        # keep the mirror complete: a file that could not be converted is copied as it is
        try:
            write_atomic(task.dst, data, mode_from=task.src)
            res.out_path = task.dst
        except OSError:
            pass
    if not keep_output:
        res.output = None
    return res


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _run_indexed(item):
    i, args = item
    return i, _run_one(args)


def _run_one(args):
    task, keep, pmap = args
    return run_task(task, keep, pmap)


def run(tasks: list[Task], jobs: int = 0, keep_output: bool = False, progress: bool = False,
        param_map: bool = False) -> Report:
    report = Report()
    py = [t for t in tasks if t.python or t.error]
    other = [t for t in tasks if not t.python and not t.error]
    jobs = jobs or os.cpu_count() or 1
    work = [(t, keep_output, param_map) for t in py]
    bar = _Progress(len(work)) if progress and len(work) > 1 else None
    if jobs > 1 and len(work) >= 4:
        import multiprocessing as mp

        from .rules import default_rules
        default_rules()  # loaded once here; forked workers share it

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        # biggest files first, one at a time, so no worker is left with a long tail; results
        # are put back in input order, so the report does not depend on scheduling
        order = sorted(range(len(work)), key=lambda i: -_size(work[i][0].src))
        results: list = [None] * len(work)
        with ctx.Pool(min(jobs, len(work))) as pool:
            for i, res in pool.imap_unordered(_run_indexed, [(i, work[i]) for i in order], chunksize=1):
                results[i] = res
                bar and bar.step()
        report.files.extend(results)
    else:
        for w in work:
            report.files.append(_run_one(w))
            bar and bar.step()
    bar and bar.done()
    for t in other:
        res = run_task(t)
        if res.status == "error":
            report.files.append(res)
        else:
            report.copied += 1
    return report


class _Progress:
    def __init__(self, total: int):
        self.total, self.n = total, 0

    def step(self) -> None:
        self.n += 1
        if self.n == self.total or self.n % max(1, self.total // 100) == 0:
            width = 30
            filled = width * self.n // self.total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total} files")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r" + " " * 60 + "\r")
        sys.stderr.flush()


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    a = before.decode("utf-8", "replace").splitlines(keepends=True)
    b = after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=f"a/{path}", tofile=f"b/{path}"))
