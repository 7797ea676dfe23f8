"""Notebooks converted as notebooks, measured (issue 19).

    python benchmarks/notebooks.py NOTEBOOK_OR_DIR... [--run] [--timeout S] [--json OUT]

For each notebook (folders are searched for *.ipynb, checkpoints skipped):

* converts it as ms-migrate does (migrator.notebook.convert_notebook, the engine of
  `ms-migrate nb.ipynb`) and validates the result with nbformat.validate;
* checks that markdown and raw cells, cell ids and metadata, and the notebook's metadata are
  unchanged, and that every IPython line (magics, shell lines, `x = !cmd`, `obj?`) comes back
  verbatim (a `pip install` of torch packages, translated to mindspore, is counted apart);
* exports the same code cells as a .py file (as `jupyter nbconvert --to script` does: IPython
  lines commented out), converts it with convert_source, and compares the share of torch
  references converted in both (a torch reference: a dotted name rooted at a name bound by an
  import of torch, torchvision or torchaudio, counted with Python's ast, the same way for both);
* with --run: executes the converted notebook top to bottom with nbclient in a temporary
  folder, torch made unimportable (a PYTHONPATH folder whose torch/torchvision/torchaudio modules
  raise ImportError), and reports whether it ran to the end (or the cell and error it stopped at).
  The Python modules beside the notebook (a course's `plot_lib.py`) are converted too, with the
  CLI (`python -m migrator SRC -o OUT`), and put on PYTHONPATH, as a user converting the folder
  would have them; the folder's data files are linked into the working folder.

Nothing is written beside the inputs.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from migrator import notebook as nbm  # noqa: E402
from migrator.convert import convert_source  # noqa: E402

ROOTS = ("torch", "torchvision", "torchaudio")
BLOCKER = "raise ImportError('torch is not installed here (ms-migrate notebook benchmark)')\n"


def torch_refs(text: str) -> int:
    """Torch references in a program (see the module docstring)."""
    tree = ast.parse(text)
    bound = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name.split(".")[0] in ROOTS:
                    bound[a.asname or a.name.split(".")[0]] = a.name
        elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0 and n.module.split(".")[0] in ROOTS:
            for a in n.names:
                bound[a.asname or a.name] = f"{n.module}.{a.name}"
    inner = set()
    count = 0
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and id(n) not in inner:
            cur = n
            while isinstance(cur, ast.Attribute):
                inner.add(id(cur.value))
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id in bound:
                count += 1
        elif isinstance(n, ast.Name) and id(n) not in inner and n.id in bound and isinstance(n.ctx, ast.Load):
            count += 1
    return count


def export_script(nb: dict) -> str:
    """The code cells as a .py file, IPython lines commented out (nbconvert --to script)."""
    parts = []
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        text = nbm.cell_source(cell)
        m = nbm.mask_cell(0, text, [0])
        if m.magic is not None:
            body = "".join("# " + line for line in text.splitlines(keepends=True))
        else:
            masked = set(m.lines.values())  # (a cell indented as a whole: dedented, as IPython runs it)
            body = "".join(("# " + line) if line in masked else line for line in m.source.splitlines(keepends=True))
        parts.append("# In[ ]:\n\n" + body + ("\n" if body and not body.endswith("\n") else "") + "\n\n")
    return "".join(parts)


def program_text(nb: dict) -> str:
    """The code cells joined and masked, as the converter sees them (for counting)."""
    loaded = nbm.Notebook(nb, nbm.Layout(), "")
    return nbm.join(loaded).text


def ipython_lines(nb: dict) -> list[list[str]]:
    out = []
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            m = nbm.mask_cell(0, nbm.cell_source(cell), [0])
            out.append([] if m.magic else [line.rstrip("\r\n") for line in m.lines.values()])
    return out


def measure(path: str, run: bool, timeout: int) -> dict:
    import nbformat

    row: dict = {"notebook": path}
    with open(path, "rb") as fh:
        data = fh.read()
    try:  # the file's own JSON layout is reproduced byte for byte (so a diff shows only code)
        loaded = nbm.load(data)
        row["layout_exact"] = loaded.layout.exact and loaded.dump() == data
    except nbm.NotebookError:
        row["layout_exact"] = None
    t = time.perf_counter()
    res = nbm.convert_notebook(data, path)
    row["seconds"] = round(time.perf_counter() - t, 2)
    row["status"] = res.status
    if res.status == "error":
        row["error"] = res.error
        return row
    row["untranslated"] = len([f for f in res.findings if f.kind == "untranslated"])
    again = nbm.convert_notebook(res.output, path)  # converting again: no change
    row["idempotent"] = again.status != "error" and again.output in (None, res.output)
    before, after = json.loads(data), json.loads(res.output)
    try:
        nbformat.validate(nbformat.reads(res.output.decode("utf-8"), as_version=4))
        row["valid"] = True
    except Exception as exc:  # noqa: BLE001 - reported
        row["valid"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    same = len(before["cells"]) == len(after["cells"]) and before.get("metadata") == after.get("metadata")
    for a, b in zip(before["cells"], after["cells"]):
        same &= a.get("cell_type") == b.get("cell_type") and a.get("id") == b.get("id") \
            and a.get("metadata") == b.get("metadata")
        if a.get("cell_type") != "code":
            same &= a == b
    row["structure_kept"] = same
    lost = installs = noted = 0
    for xs, ys in zip(ipython_lines(before), ipython_lines(after)):
        for x in xs:
            note = nbm.translate_install(x)[1]
            if x not in ys:
                if note is not None:
                    installs += 1
                else:
                    lost += 1
            elif note is not None:
                noted += 1  # an install of torch left as is, with a note above it
    row["ipython_lines"] = sum(map(len, ipython_lines(before)))
    row["ipython_lines_changed"] = lost
    row["pip_installs_translated"] = installs
    row["installs_left_with_note"] = noted
    # the share of torch references converted: notebook vs the same code as a .py file
    nb_in, nb_out = torch_refs(program_text(before)), torch_refs(program_text(after))
    script = export_script(before)
    py = convert_source(script.encode("utf-8"), "export.py")
    py_out = torch_refs(py.output.decode("utf-8")) if py.output is not None else None
    py_in = torch_refs(script)
    row["torch_refs"] = nb_in
    row["nb_converted"] = round(100 * (1 - nb_out / nb_in), 1) if nb_in else None
    row["py_converted"] = round(100 * (1 - py_out / py_in), 1) if py_in and py_out is not None else None
    if run:
        row["run"] = execute(res.output, os.path.dirname(os.path.abspath(path)), timeout, res.helpers)
    return row


def execute(data: bytes, origin: str, timeout: int, helpers=()) -> str:
    """Run a converted notebook with nbclient, torch unimportable; 'ok' or where it stopped.
    The helper module the notebook imports is written into its working folder, as the CLI
    writes it beside the converted notebook."""
    from migrator import helper_module

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    with tempfile.TemporaryDirectory(prefix="nb-run-") as tmp:
        block = os.path.join(tmp, "_no_torch")
        os.makedirs(block)
        for name in ROOTS:
            with open(os.path.join(block, name + ".py"), "w") as fh:
                fh.write(BLOCKER)
        lib = _converted_modules(origin, tmp)
        work = lib or os.path.join(tmp, "work")  # the converted modules, and the data linked beside them
        os.makedirs(work, exist_ok=True)
        _link_data(origin, work)
        if helpers:
            path = os.path.join(work, helper_module.MODULE_NAME + ".py")
            old_helpers = helper_module.helpers_in(open(path, "rb").read()) if os.path.exists(path) else []
            with open(path, "w") as fh:  # the converted modules' helpers, and the notebook's
                fh.write(helper_module.module_text(list(dict.fromkeys([*old_helpers, *helpers]))))
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([block] + ([lib] if lib else []) + ([old] if old else []))
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
        os.environ.setdefault("GLOG_v", "3")
        try:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": work}})
            client.execute()
            return "ok"
        except CellExecutionError as exc:
            lines = [l for l in str(exc).splitlines() if l.strip()]
            index = next((i for i, c in enumerate(nb.cells, 1) if c.get("cell_type") == "code"
                          and any(o.get("output_type") == "error" for o in c.get("outputs", []))), "?")
            return f"stopped at cell {index}: {lines[-1][:200] if lines else exc}"
        except Exception as exc:  # noqa: BLE001 - a timeout, a dead kernel
            return f"stopped: {type(exc).__name__}: {str(exc)[:200]}"
        finally:
            if old is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old


def _skip(name: str) -> bool:
    return name.startswith(".") or name in ("__pycache__", "node_modules")


def _converted_modules(origin: str, tmp: str) -> str | None:
    """The .py files under the notebook's folder, converted with the CLI into tmp/lib."""
    src, lib = os.path.join(tmp, "src"), os.path.join(tmp, "lib")
    found = False
    for dp, dns, fns in os.walk(origin):
        dns[:] = [d for d in dns if not _skip(d)]
        for f in fns:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dp, f), origin)
                os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
                shutil.copy2(os.path.join(dp, f), os.path.join(src, rel))
                found = True
    if not found:
        return None
    subprocess.run([sys.executable, "-m", "migrator", src, "-o", lib, "-q"], capture_output=True, timeout=600)
    return lib


def _has_python(path: str) -> bool:
    return any(f.endswith(".py") for _, dns, fns in os.walk(path) for f in fns)


def _link_data(origin: str, work: str) -> None:
    """The notebook's data files and folders linked into its working folder (folders holding
    Python modules are recreated, their modules being the converted ones)."""
    for name in os.listdir(origin):
        full, dest = os.path.join(origin, name), os.path.join(work, name)
        if _skip(name) or name.endswith((".py", ".ipynb")) or os.path.lexists(dest) and not os.path.isdir(dest):
            continue
        if os.path.isdir(full) and _has_python(full):
            os.makedirs(dest, exist_ok=True)
            _link_data(full, dest)
        elif not os.path.lexists(dest):
            os.symlink(full, dest)


def find(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            for dp, dns, fns in os.walk(p):
                dns[:] = sorted(d for d in dns if d != ".ipynb_checkpoints" and not d.startswith("."))
                out += [os.path.join(dp, f) for f in sorted(fns) if f.endswith(".ipynb")]
        else:
            out.append(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--run", action="store_true", help="execute each converted notebook (nbclient, torch unimportable)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per cell with --run")
    ap.add_argument("--json", help="write the rows as JSON here")
    args = ap.parse_args()
    rows = []
    for path in find(args.paths):
        row = measure(path, args.run, args.timeout)
        rows.append(row)
        gap = (abs(row["nb_converted"] - row["py_converted"])
               if row.get("nb_converted") is not None and row.get("py_converted") is not None else None)
        print(f"{path}: {row['status']}" + ("" if row["status"] == "error" else
              f" valid={row['valid']} structure_kept={row['structure_kept']} "
              f"ipython_lines={row['ipython_lines']} changed={row['ipython_lines_changed']} "
              f"pip_translated={row['pip_installs_translated']} torch_refs={row['torch_refs']} "
              f"converted nb={row['nb_converted']}% py={row['py_converted']}% gap={gap} "
              f"untranslated={row['untranslated']} idempotent={row['idempotent']} {row['seconds']}s") +
              (f" error={row['error']}" if row.get("error") else "") +
              (f" run={row['run']}" if "run" in row else ""), flush=True)
    ok = [r for r in rows if r["status"] != "error"]
    gaps = [abs(r["nb_converted"] - r["py_converted"]) for r in ok
            if r.get("nb_converted") is not None and r.get("py_converted") is not None]
    print(f"notebooks: {len(rows)}, converted without error: {len(ok)}, valid: "
          f"{sum(r.get('valid') is True for r in ok)}, structure kept: {sum(bool(r.get('structure_kept')) for r in ok)}, "
          f"IPython lines changed: {sum(r.get('ipython_lines_changed', 0) for r in ok)} of "
          f"{sum(r.get('ipython_lines', 0) for r in ok)} (torch installs translated: "
          f"{sum(r.get('pip_installs_translated', 0) for r in ok)}, left with a note: "
          f"{sum(r.get('installs_left_with_note', 0) for r in ok)}), layout reproduced byte for byte: "
          f"{sum(r.get('layout_exact') is True for r in rows)} of {len(rows)}, "
          f"unchanged by a second conversion: {sum(r.get('idempotent') is True for r in ok)} of {len(ok)}, largest gap nb vs py: {max(gaps, default=0):.1f} points"
          + (f", ran to the end: {sum(r.get('run') == 'ok' for r in rows)} of {len(rows)}" if args.run else ""))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
