"""Files in, files out: discovering inputs, choosing outputs, converting in parallel, writing safely.

Nothing of the user's is overwritten unless ``--inplace`` is given; every write goes to a
temporary file in the destination folder that is then renamed over the target, so an
interrupted run leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import difflib
import errno
import os
import signal
import stat
import sys
from dataclasses import dataclass

from . import helper_module
from .convert import FileResult, convert_source
from .fileio import write_atomic
from .helper_module import MODULE_NAME
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
    root: str | None = None  # the input folder it was found in (modules are named from there)
    out_root: str | None = None  # the output root, where the generated helper module goes
    target: str | None = None  # where the output goes (also known when nothing is written)
    helper_module: str = MODULE_NAME  # how the converted file spells that module's import


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
            tasks += _walk(p, dest, write)
        else:
            if not inplace and write and os.path.exists(dest) and os.path.samefile(dest, p):
                raise UsageError(f"{p}: the output would overwrite the input; use --inplace to rewrite inputs")
            if inside:
                raise UsageError(f"{dest}: the output is inside the input folder {inside[0]}; choose another -o")
            problem = _not_a_file(p)
            if problem:
                tasks.append(Task(p, None, p, error=problem))
            else:  # the helper module goes beside the output file
                root = os.path.dirname(os.path.abspath(dest))
                tasks.append(Task(p, dest if write else None, p, python=_is_python(p), out_root=root, target=dest,
                                  helper_module=_free_module_name([os.path.join(root, "x")])))
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
    return path.endswith((".py", ".pyi", ".ipynb"))  # notebooks are converted too (migrator/notebook.py)


def _walk(root: str, out_root: str, write: bool = True) -> list[Task]:
    dest_root = out_root if write else None
    tasks: list[Task] = []
    packages: set[str] = set()  # output folders whose input holds an __init__.py
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
        if "__init__.py" in filenames:
            packages.add(os.path.abspath(os.path.join(out_root, os.path.relpath(dirpath, root))))
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
            tasks.append(Task(src, dst, src, python=_is_python(name), root=root,
                              target=os.path.join(out_root, os.path.relpath(src, root))))
    # the helper module at the output root, imported package-relatively where the root is a package
    name = _free_module_name([t.src for t in tasks])
    out_root = os.path.abspath(out_root)
    for t in tasks:
        t.out_root = out_root
        if t.python:
            dst = os.path.join(out_root, os.path.relpath(t.src, root))
            t.helper_module = helper_module.import_spelling(dst, out_root, out_root in packages, packages, name)
    return tasks


def _free_module_name(paths: list[str]) -> str:
    """The helper module's name: `ms_helpers`, unless the user has a file of that name somewhere
    in the tree (never shadowed: `ms_helpers_2`, ...)."""
    folders = {os.path.dirname(p) for p in paths}
    n = 1
    while True:
        name = MODULE_NAME if n == 1 else f"{MODULE_NAME}_{n}"
        if not any(_user_file(os.path.join(f, name + ".py")) for f in folders):
            return name
        n += 1


def _user_file(path: str) -> bool:
    """A file at ``path`` that ms-migrate did not generate."""
    try:
        with open(path, "rb") as fh:
            return not helper_module.is_generated(fh.read(len(helper_module.HEADER)))
    except OSError:
        return False


def run_task(task: Task, keep_output: bool = False, param_map: bool = False, received=None) -> FileResult:
    """Convert or copy one file; errors become part of the result, never exceptions. ``received``:
    what the file gets from the other modules of its folder (project.Received)."""
    try:
        return _run_task(task, keep_output, param_map, received)
    except Exception as exc:  # a bug costs this file, never the run
        return FileResult(path=task.display, status="error", error=f"internal error: {type(exc).__name__}: {exc}")


def _run_task(task: Task, keep_output: bool, param_map: bool, received=None) -> FileResult:
    if task.error:
        return FileResult(path=task.display, status="error", error=task.error)
    if not task.python:
        return _copy(task)
    try:
        with open(task.src, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return FileResult(path=task.display, status="error", error=f"cannot read: {exc.strerror or exc}")
    if task.src.endswith(".ipynb"):
        from .notebook import convert_notebook
        res = convert_notebook(data, task.display, param_map=param_map, helper_module=task.helper_module)
    elif received is None:
        res = convert_source(data, task.display, param_map=param_map, helper_module=task.helper_module)
    else:
        res = convert_source(data, task.display, param_map=param_map, helper_module=task.helper_module,
                             external=received.external, external_cells=received.external_cells,
                             external_stars=received.external_stars)
        from .context import Finding
        res.findings += [Finding("warning", api, reason, line=line, col=col) for line, col, api, reason in received.notes]
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
    task, keep, pmap, received = args
    return run_task(task, keep, pmap, received)


def project_view(tasks: list[Task]) -> dict:
    """src -> project.Received, for the Python files of folder inputs that get torch names or
    model classes from other modules of their folder (see project.py). Single files: nothing."""
    from .project import analyse
    from .rules import default_rules

    by_root: dict[str, list[str]] = {}
    for t in tasks:
        if t.python and t.root is not None and not t.error:
            by_root.setdefault(t.root, []).append(t.src)
    out: dict = {}
    for root, paths in by_root.items():
        if len(paths) > 1:
            try:
                out.update(analyse(root, paths, default_rules()))
            except Exception:  # noqa: BLE001 - a bug in the pre-pass costs the project view, never the run
                pass
    return out


def _check_providers(py: list[Task], results: list[FileResult], view: dict) -> None:
    """A file that gets torch names from a module that could not be converted: its output relies on
    that module's converted names, which are not there; say so on the file."""
    from .context import Finding

    status = {t.src: r for t, r in zip(py, results)}
    for t, r in zip(py, results):
        got = view.get(t.src)
        if got is None or r.status == "error":
            continue
        for p in sorted(got.providers):
            pr = status.get(p)
            if pr is not None and pr.status == "error":
                r.findings.append(Finding("warning", "project", f"gets torch names from {pr.path}, which could not be "
                                                               f"converted ({pr.error}); this file's conversion assumes "
                                                               f"its converted names", line=1, col=1))


def run(tasks: list[Task], jobs: int = 0, keep_output: bool = False, progress: bool = False,
        param_map: bool = False) -> Report:
    report = Report()
    py = [t for t in tasks if t.python or t.error]
    other = [t for t in tasks if not t.python and not t.error]
    jobs = jobs or os.cpu_count() or 1
    view = project_view(py) if any(t.root is not None for t in py) else {}
    work = [(t, keep_output, param_map, view.get(t.src)) for t in py]
    bar = _Progress(len(work)) if progress and len(work) > 1 else None
    if jobs > 1 and len(work) >= 4:
        _run_parallel(work, jobs, report, bar)
    else:
        for w in work:
            report.files.append(_run_one(w))
            bar and bar.step()
    bar and bar.done()
    if view:
        _check_providers(py, report.files[-len(py):] if py else [], view)
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


# ---- the generated helper modules ---------------------------------------------------------------------
def helper_files(tasks: list[Task], report: Report) -> list[tuple[str, bytes, bytes | None]]:
    """(path, content, what is there now or None) of each helper module the converted files
    import, and of the forwarding modules below the root, for the files that import it by name.
    A module already there from an earlier conversion keeps its helpers (a file converted
    earlier may use them); a file of the user's is never written over (the name was chosen free)."""
    py = [t for t in tasks if t.python or t.error]
    per_root: dict[tuple[str, str], list[str]] = {}
    forward: dict[tuple[str, str], set[str]] = {}
    for t, res in zip(py, report.files):
        if not res.helpers or t.out_root is None or res.status == "error":
            continue
        name = t.helper_module.lstrip(".")
        key = (t.out_root, name)
        per_root.setdefault(key, [])
        per_root[key] += [h for h in res.helpers if h not in per_root[key]]
        folder = os.path.dirname(os.path.abspath(t.dst or t.target))
        if not t.helper_module.startswith(".") and folder != t.out_root:
            forward.setdefault(key, set()).add(folder)
    out = []
    for (root, name), helpers in per_root.items():
        path = os.path.join(root, name + ".py")
        old = _read(path)
        if old is not None and helper_module.is_generated(old):
            helpers = helpers + [h for h in helper_module.helpers_in(old) if h not in helpers]
        text = helper_module.module_text(helpers).encode()
        out.append((path, text, old))
        for folder in sorted(forward.get((root, name), ())):
            stub = os.path.join(folder, name + ".py")
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            out.append((stub, helper_module.forwarding_text(rel).encode(), _read(stub)))
    return [(p, t, o) for p, t, o in out if o != t and (o is None or helper_module.is_generated(o))]


def write_generated(files: list[tuple[str, bytes, bytes | None]], report: Report) -> list[str]:
    """Write the helper modules (helper_files); returns the paths written. One that cannot be
    written is an error of the run (the files importing it would not run), never skipped quietly."""
    done = []
    for path, text, _ in files:
        try:
            write_atomic(path, text)
            done.append(path)
        except OSError as exc:
            report.files.append(FileResult(path=path, status="error", error=(
                f"cannot write the generated helper module: {exc.strerror or exc}; the converted files "
                "that import it do not run until it is written (convert again)")))
    return done


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    if path.endswith(".ipynb"):  # a diff per changed cell, not of the JSON
        from .notebook import cell_diff
        return cell_diff(path, before, after)
    a = before.decode("utf-8", "replace").splitlines(keepends=True)
    b = after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=f"a/{path}", tofile=f"b/{path}"))
