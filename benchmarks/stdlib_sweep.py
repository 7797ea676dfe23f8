"""Reliability sweep: run ms-migrate over a CPython standard library and check nothing breaks.

Two passes per interpreter (default: the one running this script; ``--python EXE`` repeats for
several, e.g. every installed 3.8-3.13):

1. **mirror** - the real command line over a copy of the standard library
   (``python -m migrator COPY -o OUT``), twice (OUT again into OUT2). The standard library has no
   torch, so every file must come out byte-identical: counts lost files (in the input, not in the
   output), changed files, files changed by the second pass, and whether the input copy changed.
2. **torch** - every file that parses under that interpreter's grammar, with torch imports
   inserted at the top (after a shebang/coding line), converted in-process: counts crashes
   (an exception, or the converter's own internal-error net), outputs that do not parse under the
   same interpreter, outputs that change when converted again, and files the converter's parser
   rejected although the interpreter accepts them.

    python benchmarks/stdlib_sweep.py                       # this interpreter, all files
    python benchmarks/stdlib_sweep.py --python "$(pyenv prefix 3.8.18)/bin/python3.8" ...   # any other interpreter
    python benchmarks/stdlib_sweep.py --sample 200 --seed 1 # a random subset (what CI runs)

Exit status 0 when every count that must be zero is zero, 1 otherwise. ``--json FILE`` writes
the numbers and the first examples of each problem.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from migrator.pipeline import SKIP_DIRS, SKIP_SUFFIXES  # noqa: E402

HEADERS = {
    "torch": b"import torch\n",
    "torch+nn+F": b"import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n",
}
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=]")

# Run by the interpreter under test: which of the files named on stdin parse under its grammar.
_PARSE_CHECK = r"""
import ast, json, sys, warnings
warnings.simplefilter("ignore")
out = {}
for p in json.load(sys.stdin):
    try:
        with open(p, "rb") as fh:
            ast.parse(fh.read(), p)
        out[p] = None
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError) as e:
        out[p] = "%s: %s" % (type(e).__name__, e)
json.dump(out, sys.stdout)
"""


def interpreter_info(exe: str) -> tuple[str, str]:
    """(version 'X.Y', standard library folder) of an interpreter."""
    code = "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]); print(sysconfig.get_paths()['stdlib'])"
    out = subprocess.run([exe, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0], out[1]


def stdlib_files(stdlib: str) -> list[str]:
    """Every file of the standard library (relative paths), without site-packages and the folders
    and suffixes the converter skips."""
    files = []
    for dp, dns, fns in os.walk(stdlib):
        dns[:] = sorted(d for d in dns if d not in SKIP_DIRS and d != "site-packages")
        for f in sorted(fns):
            p = os.path.join(dp, f)
            if not f.endswith(SKIP_SUFFIXES) and os.path.isfile(p) and not os.path.islink(p):
                files.append(os.path.relpath(p, stdlib))
    return files


def parses(exe: str, paths: list[str]) -> dict[str, str | None]:
    """path -> None if it parses under ``exe``'s grammar, else the error."""
    out: dict[str, str | None] = {}
    for i in range(0, len(paths), 2000):
        r = subprocess.run([exe, "-c", _PARSE_CHECK], input=json.dumps(paths[i:i + 2000]), capture_output=True,
                           text=True, check=True)
        out.update(json.loads(r.stdout))
    return out


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _tree(root: str) -> dict[str, str]:
    out = {}
    for dp, _, fns in os.walk(root):
        for f in fns:
            p = os.path.join(dp, f)
            out[os.path.relpath(p, root)] = _digest(p)
    return out


def _cli(args: list[str], jobs: int) -> tuple[int, str, float]:
    t = time.time()
    r = subprocess.run([sys.executable, "-m", "migrator", *args, "-q", "-j", str(jobs)], capture_output=True,
                       text=True, cwd=ROOT)
    return r.returncode, r.stderr, time.time() - t


def mirror_pass(stdlib: str, files: list[str], work: str, jobs: int) -> dict:
    src, out, out2 = (os.path.join(work, n) for n in ("in", "out", "out2"))
    for rel in files:
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        shutil.copy2(os.path.join(stdlib, rel), os.path.join(src, rel))
    before = _tree(src)
    rc, err, secs = _cli([src, "-o", out, "--report", os.path.join(work, "report.json")], jobs)
    rc2, err2, secs2 = _cli([out, "-o", out2], jobs)
    after, first, second = _tree(src), _tree(out), _tree(out2)
    first.pop("ms_migrate_param_map.json", None)
    second.pop("ms_migrate_param_map.json", None)
    with open(os.path.join(work, "report.json")) as fh:
        errors = sorted(os.path.relpath(f["path"], src) for f in json.load(fh)["files"] if f["status"] == "error")
    lost = sorted(set(before) - set(first))
    changed = sorted(k for k in before if k in first and first[k] != before[k])
    changed2 = sorted(k for k in first if second.get(k) != first[k])
    extra = sorted(set(first) - set(before))
    return {
        "files": len(before), "exit_code": rc, "exit_code_second": rc2, "seconds": round(secs + secs2, 1),
        "errors": errors, "lost": lost, "changed": changed, "changed_second_pass": changed2, "extra": extra,
        "input_changed": after != before,
        "summary": err.strip().splitlines()[-1:] + err2.strip().splitlines()[-1:],
    }


def with_header(data: bytes, header: bytes) -> bytes:
    """``header`` inserted after a BOM, a shebang and a coding line (which must stay on line 1-2)."""
    bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
    body = data[len(bom):]
    lines = body.splitlines(keepends=True)
    keep = 0
    for i, line in enumerate(lines[:2]):
        if (i == 0 and line.startswith(b"#!")) or _COOKIE.match(line):
            keep = i + 1
    head = b"".join(lines[:keep])
    if head and not head.endswith((b"\n", b"\r")):
        head += b"\n"
    return bom + head + header + b"".join(lines[keep:])


def _torch_one(args) -> dict:
    from migrator.convert import convert_source

    path, header_name, out_path = args
    with open(path, "rb") as fh:
        data = with_header(fh.read(), HEADERS[header_name])
    rec = {"path": path, "header": header_name}
    t = time.time()
    try:
        res = convert_source(data, path)
    except BaseException as exc:  # noqa: BLE001 - counting crashes is the point
        rec.update(kind="crash", detail="".join(traceback.format_exception(exc))[-1500:])
        return rec
    rec["seconds"] = time.time() - t
    if res.status == "error":
        internal = (res.error or "").startswith("internal error")
        rec.update(kind="crash" if internal else "rejected", detail=res.error)
        return rec
    with open(out_path, "wb") as fh:
        fh.write(res.output)
    rec.update(out=out_path, status=res.status, findings=len(res.findings))
    try:
        again = convert_source(res.output, path)
    except BaseException as exc:  # noqa: BLE001
        rec.update(kind="crash", detail="second pass: " + "".join(traceback.format_exception(exc))[-1500:])
        return rec
    if again.output != res.output:
        rec.update(kind="not-idempotent", detail=again.error or _first_diff(res.output, again.output or b""))
        return rec
    rec["kind"] = "ok"
    return rec


def _first_diff(a: bytes, b: bytes) -> str:
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: {x[:120]!r} -> {y[:120]!r}"
    return f"length {len(la)} -> {len(lb)} lines"


def torch_pass(exe: str, stdlib: str, files: list[str], work: str, jobs: int, headers: list[str]) -> dict:
    py = [os.path.join(stdlib, f) for f in files if f.endswith(".py")]
    t0 = time.time()
    ok_grammar = parses(exe, py)
    valid = [p for p in py if ok_grammar[p] is None]
    outdir = os.path.join(work, "torch_out")
    os.makedirs(outdir, exist_ok=True)
    tasks = [(p, h, os.path.join(outdir, f"{i}_{j}.py")) for i, p in enumerate(valid) for j, h in enumerate(headers)]
    if jobs <= 1:  # in this process: a fork from a process that runs MindSpore threads can hang
        recs = [_torch_one(t) for t in tasks]
    else:
        with mp.get_context("fork").Pool(jobs) as pool:
            recs = list(pool.imap_unordered(_torch_one, tasks, chunksize=4))
    converted = [r for r in recs if r.get("out")]
    bad_parse = parses(exe, [r["out"] for r in converted])
    for r in converted:
        if bad_parse[r["out"]] is not None and r["kind"] == "ok":
            r.update(kind="unparsable", detail=bad_parse[r["out"]])
    by = {}
    for r in recs:
        by.setdefault(r["kind"], []).append(r)
    return {
        "python_files": len(py), "valid_under_grammar": len(valid), "conversions": len(recs),
        "converted": sum(1 for r in converted if r.get("status") == "converted"),
        "crashes": len(by.get("crash", [])), "unparsable": len(by.get("unparsable", [])),
        "not_idempotent": len(by.get("not-idempotent", [])), "rejected_by_parser": len(by.get("rejected", [])),
        "findings": sum(r.get("findings", 0) for r in recs),
        "seconds": round(time.time() - t0, 1),
        "examples": {k: [{"path": r["path"], "header": r["header"], "detail": r.get("detail")} for r in v[:10]]
                     for k, v in by.items() if k != "ok"},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter whose grammar and standard library to use "
                                                      "(repeatable; default: this one)")
    ap.add_argument("--sample", type=int, default=0, help="only N random Python files (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--headers", default=",".join(HEADERS), help=f"torch headers to insert ({', '.join(HEADERS)})")
    ap.add_argument("--skip-mirror", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    headers = [h for h in args.headers.split(",") if h]
    results, failed = {}, False
    for exe in args.python or [sys.executable]:
        version, stdlib = interpreter_info(exe)
        files = stdlib_files(stdlib)
        if args.sample:
            rng = random.Random(args.seed)
            py = [f for f in files if f.endswith(".py")]
            files = sorted(rng.sample(py, min(args.sample, len(py))))
        res = {"python": version, "stdlib": stdlib}
        with tempfile.TemporaryDirectory(prefix="ms-migrate-sweep-") as work:
            if not args.skip_mirror:
                m = res["mirror"] = mirror_pass(stdlib, files, work, args.jobs)
                # errors are right only for files this Python cannot read either (bad-encoding test data)
                wrong = [f for f, e in parses(exe, [os.path.join(stdlib, f) for f in m["errors"]]).items() if e is None]
                m["errors_on_valid_files"] = wrong
                print(f"[{version}] mirror: {m['files']} files, {len(m['lost'])} lost, {len(m['changed'])} changed, "
                      f"{len(m['changed_second_pass'])} changed by a second pass, input changed: "
                      f"{m['input_changed']}; {len(m['errors'])} reported as not Python source "
                      f"({len(wrong)} of them valid); exit {m['exit_code']}/{m['exit_code_second']}, {m['seconds']}s",
                      flush=True)
                for e in m["errors"][:5]:
                    print(f"    reported: {e}")
                failed |= bool(m["lost"] or m["changed"] or m["changed_second_pass"] or m["extra"] or wrong
                               or m["input_changed"] or m["exit_code"] not in (0, 2) or m["exit_code_second"] != m["exit_code"])
            if not args.skip_torch:
                t = res["torch"] = torch_pass(exe, stdlib, files, work, args.jobs, headers)
                print(f"[{version}] torch: {t['valid_under_grammar']}/{t['python_files']} files parse under "
                      f"{version}; {t['conversions']} conversions ({', '.join(headers)}), {t['converted']} changed; "
                      f"{t['crashes']} crashes, {t['unparsable']} unparsable outputs, {t['not_idempotent']} not "
                      f"idempotent, {t['rejected_by_parser']} rejected by the parser; {t['seconds']}s", flush=True)
                for kind, ex in t["examples"].items():
                    for e in ex[:3]:
                        print(f"    {kind}: {e['path']} [{e['header']}]: {str(e['detail'])[-300:]}")
                failed |= bool(t["crashes"] or t["unparsable"] or t["not_idempotent"] or t["rejected_by_parser"])
        results[version] = res
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
