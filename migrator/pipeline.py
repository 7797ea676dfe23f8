"""Files in, files out: discovering inputs, choosing outputs, converting in parallel, writing safely.

Nothing of the user's is overwritten unless ``--inplace`` is given; every write goes to a
temporary file in the destination folder that is then renamed over the target, so an
interrupted run leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import contextlib
import difflib
import errno
import os
import shutil
import signal
import stat
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
    folders = [p for p in paths if os.path.isdir(p)]
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
        inside = [f for f in folders if _inside(dest, f)] if not inplace and write else []
        if os.path.isdir(p):
            if inside:
                raise UsageError(f"{dest}: the output folder is inside the input folder {inside[0]}; choose another -o")
            tasks += _walk(p, dest if write else None)
        else:
            if not inplace and write and os.path.exists(dest) and os.path.samefile(dest, p):
                raise UsageError(f"{p}: the output would overwrite the input; use --inplace to rewrite inputs")
            if inside:
                raise UsageError(f"{dest}: the output is inside the input folder {inside[0]}; choose another -o")
            problem = _not_a_file(p)
            tasks.append(Task(p, None, p, error=problem) if problem else
                         Task(p, dest if write else None, p, python=_is_python(p)))
    if out and len(paths) > 1 and write:
        if os.path.exists(out) and not os.path.isdir(out):
            raise UsageError(f"{out}: not a folder; with several inputs -o names a folder")
        os.makedirs(out, exist_ok=True)
    return _one_writer_per_output(tasks)


def _one_writer_per_output(tasks: list[Task]) -> list[Task]:
    """Two inputs mapped to one output (`a/m.py b/m.py -o out`): the second is refused, never
    written over the first; the same input named twice is converted once."""
    seen: dict[str, str] = {}
    out = []
    for t in tasks:
        key = os.path.abspath(t.dst) if t.dst else None
        if key in seen:
            if os.path.realpath(seen[key]) == os.path.realpath(t.src):
                continue
            t = Task(t.src, None, t.display, error=f"its output {t.dst} is also the output of {seen[key]}; not written")
        elif key:
            seen[key] = t.src
        out.append(t)
    return out


def _not_a_file(path: str) -> str | None:
    """Why ``path`` cannot be read as a file (None if it can): reading a fifo or a device would
    block or never end, a symbolic link may loop or point nowhere."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop, not followed"
        if os.path.islink(path):
            return f"broken symbolic link (to {os.readlink(path)})"
        return f"cannot read: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a fifo, socket or device), skipped"
    return None


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _walk(root: str, dest_root: str | None) -> list[Task]:
    tasks: list[Task] = []
    inplace = dest_root is not None and os.path.abspath(dest_root) == os.path.abspath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=lambda e: tasks.append(
            Task(e.filename, None, e.filename, error=f"cannot read folder: {e.strerror}"))):
        links = sorted(d for d in dirnames if d not in SKIP_DIRS and os.path.islink(os.path.join(dirpath, d)))
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and d not in links)
        for d in links:  # never followed: a link can loop, or lead out of the tree
            link = os.path.join(dirpath, d)
            target = os.path.realpath(link)
            why = "symbolic link loop" if _inside(dirpath, target) else "symbolic link to a folder"
            tasks.append(Task(link, None, link, error=f"{why} (to {target}), not followed; convert "
                                                      f"its target separately if it needs converting"))
        for name in sorted(filenames):
            if name.endswith(SKIP_SUFFIXES):
                continue
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, root)
            dst = os.path.join(dest_root, rel) if dest_root else None
            problem = _not_a_file(src)
            if problem:
                tasks.append(Task(src, None, src, error=problem))
                continue
            if inplace and os.path.islink(src):  # its target is rewritten as itself, if in the folder
                if not _inside(src, root):  # (_inside resolves the link)
                    tasks.append(Task(src, None, src, error=f"symbolic link to {os.path.realpath(src)}, outside "
                                                            f"{root}: not rewritten in place"))
                continue
            tasks.append(Task(src, dst, src, python=_is_python(name)))
    return tasks


_DEFERRED = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def _signals_deferred():
    """Ctrl-C (or a kill) during a write takes effect once the write is whole or undone."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: the try/except below still cleans up
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_atomic(path: str, data: bytes | None, mode_from: str | None = None, copy_from=None) -> None:
    """Write ``data`` (or stream the open file ``copy_from``) through a temporary file in the same
    folder renamed over ``path``: the target is either the old file or the new one, and no
    temporary file is left, even on Ctrl-C. Signals wait until a write in memory is done; a
    streamed copy (any size: it runs in the main process) is undone by the exception instead."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if copy_from is None:
        # one deferred region from the temporary file's creation to its rename: a worker's SIGTERM
        # (default action: die at once) arriving between the two would leave the file behind
        with _signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=".ms-migrate-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                if mode_from is not None:
                    shutil.copymode(mode_from, tmp)
                os.replace(tmp, path)
            except BaseException:
                _unlink_quietly(tmp)
                raise
        return
    tmp = None
    try:
        with _signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=".ms-migrate-", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(copy_from, fh, 1 << 20)
        if mode_from is not None:
            shutil.copymode(mode_from, tmp)
        with _signals_deferred():
            os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with _signals_deferred():
                _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def run_task(task: Task, keep_output: bool = False, param_map: bool = False) -> FileResult:
    """Convert or copy one file; errors become part of the result, never exceptions."""
    try:
        return _run_task(task, keep_output, param_map)
    except Exception as exc:  # a bug costs this file, never the run
        return FileResult(path=task.display, status="error", error=f"internal error: {type(exc).__name__}: {exc}")


def _run_task(task: Task, keep_output: bool, param_map: bool) -> FileResult:
    if task.error:
        return FileResult(path=task.display, status="error", error=task.error)
    if not task.python:
        return _copy(task)
    try:
        with open(task.src, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return FileResult(path=task.display, status="error", error=f"cannot read: {exc.strerror or exc}")
    res = convert_source(data, task.display, param_map=param_map)
    if task.dst is not None and res.output is not None:
        if task.dst != task.src or res.output != data:
            # --inplace through a symbolic link rewrites the file it points to, not the link
            dst = os.path.realpath(task.dst) if task.dst == task.src else task.dst
            try:
                write_atomic(dst, res.output, mode_from=task.src)
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


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the main process alone handles it, and stops
    # the workers (SIGTERM, which waits for a write in progress to finish; see write_atomic)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _copy(task: Task) -> FileResult:
    """A file mirrored as it is, streamed (data files can be large)."""
    res = FileResult(path=task.display, status="copied")
    if task.dst is None or task.dst == task.src:
        return res
    try:
        src = open(task.src, "rb")
    except OSError as exc:
        return FileResult(path=task.display, status="error", error=f"cannot read: {exc.strerror or exc}")
    with src:
        try:
            write_atomic(task.dst, None, mode_from=task.src, copy_from=src)
            res.out_path = task.dst
        except OSError as exc:
            res.status, res.error = "error", f"cannot write {task.dst}: {exc.strerror or exc}"
    return res


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


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
        _run_parallel(work, jobs, report, bar)
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


def _run_parallel(work: list, jobs: int, report: Report, bar) -> None:
    """Convert in worker processes: biggest files first, one at a time, so no worker is left with
    a long tail; results are put back in input order, so the report does not depend on
    scheduling. A worker that dies (a crash in native code, the out-of-memory killer) breaks the
    pool: the files not done are then converted one process each, so the one that kills its
    process is named and the others still convert. Ctrl-C stops the workers at once (see
    write_atomic for why that never leaves a partial file)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from .rules import default_rules
    default_rules()  # loaded once here; forked workers share it

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    order = sorted(range(len(work)), key=lambda i: -_size(work[i][0].src))
    results: list = [None] * len(work)
    pool = ProcessPoolExecutor(min(jobs, len(work)), mp_context=ctx, initializer=_worker_init)
    try:
        futures = {pool.submit(_run_one, work[i]): i for i in order}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            bar and bar.step()
    except BrokenProcessPool:
        _stop(pool)
        for i in order:
            if results[i] is None:
                results[i] = _run_alone(work[i], ctx)
                bar and bar.step()
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()
    report.files.extend(results)


def _stop(pool) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()  # SIGTERM: a write in progress completes first
    for proc in procs:
        proc.join()


def _run_alone(w, ctx) -> FileResult:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init) as one:
        try:
            return one.submit(_run_one, w).result()
        except BrokenProcessPool:
            pass
    task = w[0]
    res = _copy(task)  # mirrored as it is
    res.status, res.error = "error", "the converter process died on this file (a crash in native code, or " \
                                     "out of memory); file left as is (please report this)"
    return res


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
