"""``ms-migrate verify``: does the converted MindSpore model compute what the torch model computed?

The torch tree (SRC) and the converted tree (OUT) have the same module names, so each side runs
in its own process (``python -m migrator.verify torch|mindspore JOBDIR``): the tree's root goes on
``sys.path`` and the module is imported by its dotted name, as the project itself would import it.
The two sides exchange files in a temporary folder:

- ``job.json``: what to build (module, expression, seed, parameter map, flags);
- ``inputs.npz``: the inputs, drawn once from the seed in the parent;
- ``ckpt.npz`` (torch side): the torch model's state_dict converted through the parameter map,
  exactly as ``ms-migrate ckpt`` converts it (``checkpoint.plan_conversion`` and its transforms);
  ``proj.npz``: the fixed random projection whose gradients are compared;
- ``torch.npz``/``torch.json`` and ``mindspore.npz``/``mindspore.json``: outputs, gradients,
  statistics after a train-mode forward, and every submodule's inputs and outputs (forward hooks).

The parent compares them with numpy. A value is within tolerance when its max abs error is at
most ``atol + rtol * scale``, the scale being the max abs value of the torch side.
torch and mindspore are imported only in the two child processes.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

INSTALL_HINT = ('ms-migrate verify runs both frameworks: pip install "ms-migrate[frameworks]" '
                '(or: pip install torch==2.13.0 mindspore "numpy<2")')
MAP_NAME = "ms_migrate_param_map.json"


class CannotCompare(Exception):
    """verify could not compare (exit 2); the message says why."""


# ---- inputs -----------------------------------------------------------------------------------
_DTYPES = {"float": np.float32, "float32": np.float32, "float64": np.float64, "double": np.float64,
           "int": np.int64, "long": np.int64, "int64": np.int64, "int32": np.int32, "bool": np.bool_}


def parse_input(spec: str) -> dict:
    """``float:2x3x32x32``, ``int:0-64:2x16`` (low-high, high excluded), ``bool:4x4``; a shape of
    ``scalar`` (or empty) is a 0-d value."""
    parts = spec.split(":")
    kind = parts[0].strip().lower()
    if kind not in _DTYPES or len(parts) not in (2, 3):
        raise ValueError(f"--input {spec!r}: expected float:SHAPE, int:LOW-HIGH:SHAPE or bool:SHAPE "
                         f"(kinds: {', '.join(sorted(_DTYPES))})")
    low = high = None
    if len(parts) == 3:
        m = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", parts[1])
        if not m or kind in ("bool",):
            raise ValueError(f"--input {spec!r}: the range is LOW-HIGH (integers), for int kinds only")
        low, high = int(m.group(1)), int(m.group(2))
        if high <= low:
            raise ValueError(f"--input {spec!r}: empty range {low}-{high}")
    shape_text = parts[-1].strip()
    try:
        shape = tuple(int(d) for d in shape_text.split("x")) if shape_text not in ("", "scalar") else ()
    except ValueError:
        raise ValueError(f"--input {spec!r}: the shape is sizes joined by x, e.g. 2x3x32x32") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"--input {spec!r}: negative size")
    return {"kind": kind, "dtype": np.dtype(_DTYPES[kind]).name, "shape": shape, "low": low, "high": high,
            "spec": spec}


def parse_inputs(spec: str):
    """One positional input: a spec, or several joined by commas (a tuple, e.g. an LSTM's (h, c))."""
    parts = [p for p in spec.split(",")]
    if len(parts) == 1:
        return parse_input(spec)
    return [parse_input(p.strip()) for p in parts]


def make_inputs(specs: list, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        if isinstance(s, list):
            out.append(tuple(_draw(rng, x) for x in s))
        else:
            out.append(_draw(rng, s))
    return out


def _draw(rng, s):
    dt = np.dtype(s["dtype"])
    if dt.kind == "f":
        a = rng.standard_normal(s["shape"]).astype(dt)
    elif dt.kind == "b":
        a = rng.random(s["shape"]) < 0.5
    else:
        lo, hi = (s["low"], s["high"]) if s["low"] is not None else (0, 10)
        a = rng.integers(lo, hi, size=s["shape"]).astype(dt)
    return np.asarray(a)


# ---- comparing ----------------------------------------------------------------------------------
def measure(t, m) -> tuple[float, float, str | None]:
    """(max abs error, scale, problem). scale = max |torch value|."""
    t = np.asarray(t)
    m = np.asarray(m)
    if t.shape != m.shape:
        return float("inf"), 0.0, f"shape {tuple(t.shape)} vs {tuple(m.shape)}"
    if t.size == 0:
        return 0.0, 0.0, None
    tf = t.astype(np.float64)
    mf = m.astype(np.float64)
    both_nan = np.isnan(tf) & np.isnan(mf)
    with np.errstate(invalid="ignore"):
        d = np.abs(tf - mf)
    d = np.where(both_nan, 0.0, d)
    d = np.where(np.isnan(d), np.inf, d)
    fin = np.abs(tf[np.isfinite(tf)])
    scale = float(fin.max()) if fin.size else 0.0
    return float(d.max()), scale, None


def within(err: float, scale: float, atol: float, rtol: float) -> bool:
    return err <= atol + rtol * scale


# ---- the parent --------------------------------------------------------------------------------
def _frameworks_missing() -> list[str]:
    return [n for n in ("torch", "mindspore") if importlib.util.find_spec(n) is None]


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
    env.setdefault("GLOG_v", "3")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # the child must import this ms-migrate, wherever it is installed
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _convert(src: str, dest: str, map_path: str) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-m", "migrator", src, "-o", dest, "-q", "--param-map", map_path],
                       capture_output=True, text=True, env=_env())
    return r.returncode, (r.stderr or "").strip()


def _run_side(side: str, job: str, timeout: float | None) -> dict:
    try:
        r = subprocess.run([sys.executable, "-m", "migrator.verify", side, job], capture_output=True, text=True,
                           cwd=job, env=_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CannotCompare(f"the {side} side did not finish within {timeout:.0f} s") from None
    res_path = os.path.join(job, f"{side}.json")
    if os.path.exists(res_path):
        with open(res_path) as fh:
            res = json.load(fh)
        if not res.get("ok"):
            raise CannotCompare(res["reason"])
        res["stderr"] = r.stderr
        return res
    tail = "\n".join((r.stderr or r.stdout or "").strip().splitlines()[-6:])
    raise CannotCompare(f"the {side} side stopped without a result (exit {r.returncode}):\n{tail}")


def run(src: str, model: str, inputs: list[str], out: str | None = None, atol: float = 1e-5, rtol: float = 1e-4,
        seed: int = 0, train: bool = False, report: str | None = None, stubs: tuple = (),
        echo=print, timeout: float | None = None, ms_model: str | None = None) -> int:
    """The command. Returns the exit status (0 same, 1 differs, 2 could not compare)."""
    t0 = time.perf_counter()
    rep: dict = {"src": src, "model": model, "inputs": list(inputs), "seed": seed, "atol": atol, "rtol": rtol,
                 "train": train, "notes": []}
    tmp = tempfile.mkdtemp(prefix="ms-migrate-verify-")
    try:
        code = _run(src, model, inputs, out, atol, rtol, seed, train, stubs, echo, timeout, rep, tmp, ms_model)
    except CannotCompare as exc:
        code = 2
        rep["reason"] = str(exc)
        echo(f"verdict: COULD NOT COMPARE: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rep["exit_code"] = code
    rep["seconds"] = round(time.perf_counter() - t0, 2)
    if report:
        with open(report, "w") as fh:
            json.dump(rep, fh, indent=1, default=str)
    return code


def _split_model(src: str, model: str) -> tuple[str, str]:
    if ":" in model and re.fullmatch(r"[\w.]+", model.split(":", 1)[0].strip()):
        mod, expr = model.split(":", 1)
        return mod.strip(), expr.strip()
    if os.path.isfile(src):
        return os.path.splitext(os.path.basename(src))[0], model.strip()
    raise CannotCompare(f"--model {model!r}: expected MODULE:EXPR, e.g. models.resnet:ResNet18()")


def _empty_map(tmp: str) -> str:
    path = os.path.join(tmp, "empty_" + MAP_NAME)
    with open(path, "w") as fh:
        json.dump({"schema": "ms-migrate/param-map", "version": 1, "classes": {}, "layers": {}}, fh)
    return path


def _run(src, model, inputs, out, atol, rtol, seed, train, stubs, echo, timeout, rep, tmp, ms_model=None) -> int:
    missing = _frameworks_missing()
    if missing:
        raise CannotCompare(f"{' and '.join(missing)} not installed. {INSTALL_HINT}")
    if not os.path.exists(src):
        raise CannotCompare(f"{src}: no such file or folder")
    module, expr = _split_model(src, model)
    try:
        specs = [parse_inputs(s) for s in inputs]
    except ValueError as exc:
        raise CannotCompare(str(exc)) from None
    src_is_file = os.path.isfile(src)
    ms_module = None
    src_root = os.path.dirname(os.path.abspath(src)) if src_is_file else os.path.abspath(src)

    # the converted tree: made now, or used as it is
    if out is None or not os.path.exists(out):
        out_root = os.path.join(tmp, "out") if out is None else os.path.abspath(out)
        map_path = os.path.join(out_root, MAP_NAME)
        os.makedirs(out_root, exist_ok=True)
        dest = os.path.join(out_root, os.path.basename(src)) if src_is_file else out_root
        rc, err = _convert(src, dest, map_path)
        rep["converted"] = "now" + ("" if out is None else f" into {out}")
        echo(f"ms-migrate verify: converted {src} -> {out or 'a temporary folder'} (ms-migrate exit {rc})")
        if rc == 2:
            rep["notes"].append(f"conversion: {err.splitlines()[-1] if err else 'exit 2'}")
        if not os.path.exists(map_path):
            # no model class in SRC (the model may be a torch layer): the layer rules place its names
            map_path = _empty_map(tmp)
    else:
        out_root = os.path.abspath(out)
        if os.path.isfile(out_root):  # ms-migrate model.py wrote model_mindspore.py: that module
            out_root = os.path.dirname(out_root)
            if src_is_file:
                ms_module = os.path.splitext(os.path.basename(out))[0]
        map_path = os.path.join(out_root, MAP_NAME)
        rep["converted"] = "used as it is"
        echo(f"ms-migrate verify: {out} exists: verifying it as it is")
        if not os.path.exists(map_path):
            # the map comes from SRC; the code from OUT
            scratch = os.path.join(tmp, "map_out")
            os.makedirs(scratch)
            map_path = os.path.join(tmp, MAP_NAME)
            rc, err = _convert(src, os.path.join(scratch, os.path.basename(src)) if src_is_file else scratch, map_path)
            if not os.path.exists(map_path):
                map_path = _empty_map(tmp)
            else:
                rep["notes"].append(f"{out} has no {MAP_NAME}: the parameter map was made from {src}")

    job = os.path.join(tmp, "job")
    os.makedirs(job)
    arrays = make_inputs(specs, seed)
    flat_in = {}
    for i, a in enumerate(arrays):
        if isinstance(a, tuple):
            flat_in.update({f"x{i}_{j}": b for j, b in enumerate(a)})
        else:
            flat_in[f"x{i}"] = a
    np.savez(os.path.join(job, "inputs.npz"), **flat_in)
    cfg = {"shown": {"torch": src, "mindspore": out or "the converted tree"},
           "module": module, "ms_module": ms_module, "expr": expr, "ms_expr": ms_model, "seed": seed, "atol": atol, "rtol": rtol, "map": map_path, "train": train, "stubs": list(stubs),
           "roots": {"torch": src_root, "mindspore": out_root}, "n_inputs": [len(a) if isinstance(a, tuple) else None for a in arrays],
           "specs": list(inputs),
           "package": os.path.basename(src_root) if not src_is_file and os.path.exists(
               os.path.join(src_root, "__init__.py")) and os.path.basename(src_root).isidentifier() else None}
    with open(os.path.join(job, "job.json"), "w") as fh:
        json.dump(cfg, fh)

    t1 = time.perf_counter()
    tres = _run_side("torch", job, timeout)
    t2 = time.perf_counter()
    mres = _run_side("mindspore", job, timeout)
    t3 = time.perf_counter()
    rep["seconds_torch"], rep["seconds_mindspore"] = round(t2 - t1, 2), round(t3 - t2, 2)
    rep["classes"] = {"torch": tres["cls"], "mindspore": mres["cls"]}
    rep["notes"] += tres.get("notes", []) + mres.get("notes", [])
    echo(f"ms-migrate verify: {module}:{expr}{f' (MindSpore: {ms_model})' if ms_model else ''}  torch "
         f"{tres['cls']} -> MindSpore {mres['cls']}; "
         f"seed {seed}, atol {atol:g}, rtol {rtol:g}")
    echo(f"  loaded {mres['loaded']} tensors strictly (nothing missing, nothing unused); {tres['n_params']} "
         f"torch parameters, {tres['n_state']} state_dict tensors")
    for note in rep["notes"]:
        echo(f"  note: {note}")
    T = dict(np.load(os.path.join(job, "torch.npz")))
    M = dict(np.load(os.path.join(job, "mindspore.npz")))
    return _compare(tres, mres, T, M, atol, rtol, train, echo, rep)


NOISE_FACTOR = 4


def _row(kind, name, t, m, atol, rtol, extra=None, noise=None):
    """One compared value. ``noise``: torch's own float32 error on it (against float64); the
    MindSpore value may differ from torch's by NOISE_FACTOR times that on top of the tolerance."""
    if m is None:
        return {"kind": kind, "name": name, "err": None, "scale": None, "ok": False,
                "problem": "no counterpart on the MindSpore side", **(extra or {})}
    err, scale, problem = measure(t, m)
    ok = problem is None and (within(err, scale, atol, rtol) or
                              (noise is not None and err <= atol + rtol * scale + NOISE_FACTOR * noise))
    row = {"kind": kind, "name": name, "err": err, "scale": scale, "ok": ok, "problem": problem,
           "shape": list(np.shape(t)), **(extra or {})}
    if noise is not None:
        row["torch_float32_error"] = noise
        if ok and not within(err, scale, atol, rtol):
            row["note"] = f"within {NOISE_FACTOR}x torch's own float32 error ({_fmt(noise)})"
    return row


def _group_grads(rows: list) -> list:
    groups: dict[str, list] = {}
    for r in rows:
        top = r["torch_name"].split(".")[0] if "." in r["torch_name"] else "(root)"
        groups.setdefault(top, []).append(r)
    out = []
    for top, rs in groups.items():
        worst = max(rs, key=lambda r: (not r["ok"], (r["err"] if r["err"] is not None else float("inf"))
                                       / max(r["scale"] or 0, 1e-30)))
        name = f"grad {top}.*" if top != "(root)" else "grad (root parameters)"
        noted = [r for r in rs if r.get("note")]
        out.append({"kind": "grad", "name": f"{name} ({len(rs)})", "err": worst["err"], "scale": worst["scale"],
                    "ok": all(r["ok"] for r in rs), "problem": worst["problem"],
                    "worst": worst["torch_name"],
                    "note": f"{noted[0]['torch_name']}: {noted[0]['note']}" if noted else None})
    return out


def _fmt(v):
    return "-" if v is None else ("inf" if v == float("inf") else f"{v:.3g}")


def _compare(tres, mres, T, M, atol, rtol, train, echo, rep) -> int:
    rows = []
    noise = tres.get("noise") or {}
    if "error" in noise:
        rep["notes"].append(f"no float64 reference (the torch model does not run in float64: {noise['error']})")
        noise = {}
    random_eval = tres.get("random_eval") or mres.get("random_eval")
    mout = set(mres["outputs"])
    for lab in tres["outputs"]:
        rows.append(_row("output", lab, T[f"o:{lab}"], M.get(f"o:{lab}") if lab in mout else None, atol, rtol,
                         noise=noise.get(f"o:{lab}")))
    extra_ms = [lab for lab in mres["outputs"] if lab not in set(tres["outputs"])]
    for lab in extra_ms:
        rows.append({"kind": "output", "name": lab, "err": None, "scale": None, "ok": False,
                     "problem": "only on the MindSpore side"})
    if random_eval:
        both = tres.get("random_eval") and mres.get("random_eval")
        who = "torch and MindSpore models are" if both else \
            ("torch model is" if tres.get("random_eval") else "MindSpore model is")
        shapes_ok = all(r["problem"] is None or not r["problem"].startswith("shape") for r in rows) and \
            not any(r["err"] is None for r in rows)
        for r in rows:
            r["ok"] = None if r["problem"] is None else False
        rep["rows"] = rows
        echo(f"  the {who} random in eval mode (two forwards of one input differ beyond the tolerance): values "
             "cannot be compared, only shapes")
        for r in rows:
            echo(f"  {r['name']:<34} shape {tuple(r.get('shape', ())) if r.get('shape') is not None else '-'}"
                 f"  {r['problem'] or 'same shape'}")
        raise CannotCompare(f"the {who} random in eval mode; output shapes "
                            f"{'agree' if shapes_ok else 'DIFFER'}")
    grad_rows = []
    if mres.get("grad_error"):
        rows.append({"kind": "grad", "name": f"gradients ({len(tres['grads'])})", "err": None, "scale": None,
                     "ok": False, "problem": f"MindSpore cannot differentiate the model: {mres['grad_error']}"})
    for tn, mn in ({} if mres.get("grad_error") else tres["grads"]).items():
        key = f"g:{mn}"
        grad_rows.append(_row("grad", mn, T[f"g:{tn}"], M.get(key) if key in M else None, atol, rtol,
                              {"torch_name": tn}, noise=noise.get(f"g:{tn}")))
    rows += _group_grads(grad_rows)
    if train:
        trandom = tres.get("random_train") or mres.get("random_train")
        for lab in tres["train_outputs"]:
            key = f"t:{lab}"
            r = _row("train output", f"train {lab}", T[key], M.get(key) if key in M else None, atol, rtol)
            if trandom and r["problem"] is None:
                r["ok"], r["problem"] = True, "random in train mode (dropout?): shape compared only"
            rows.append(r)
        stat_rows = [_row("train state", mn, T[f"s:{mn}"], M.get(f"s:{mn}") if f"s:{mn}" in M else None,
                          atol, rtol, {"torch_name": tn}) for tn, mn in tres["state_after"].items()]
        if stat_rows:
            worst = max(stat_rows, key=lambda r: (not r["ok"], r["err"] or 0))
            rows.append({"kind": "train state", "name": f"running statistics ({len(stat_rows)})", "err": worst["err"],
                         "scale": worst["scale"], "ok": all(r["ok"] for r in stat_rows), "problem": worst["problem"],
                         "worst": worst["torch_name"]})
        rep["train_state"] = stat_rows
    rep["rows"] = rows
    rep["grads"] = grad_rows
    echo(f"  {'compared':<38} {'max abs err':>11} {'scale':>9} {'rel err':>9}  result")
    for r in rows:
        rel = None if r["err"] is None or not r["scale"] else r["err"] / r["scale"]
        res = "ok" if r["ok"] else "DIFFERS"
        if r.get("problem"):
            res += f" ({r['problem']})"
        if not r["ok"] and r.get("worst"):
            res += f", worst {r['worst']}"
        if r["ok"] and r.get("note"):
            res += f" ({r['note']})"
        echo(f"  {r['name'][:38]:<38} {_fmt(r['err']):>11} {_fmt(r['scale']):>9} {_fmt(rel):>9}  {res}")
    bad = [r for r in rows if not r["ok"]]
    if not bad:
        rep["verdict"] = "same"
        echo(f"verdict: SAME: {len(rows)} checks within tolerance (max abs error <= {atol:g} + {rtol:g} x scale"
             f"{f', or {NOISE_FACTOR} x torch float32 error' if any(r.get('note') for r in rows) else ''})")
        return 0
    loc = localise(tres, mres, T, M, atol, rtol)
    rep["localisation"] = loc
    echo(loc["line"])
    rep["verdict"] = "differs"
    echo(f"verdict: DIFFERS: {len(bad)} of {len(rows)} checks beyond tolerance "
         f"(max abs error > {atol:g} + {rtol:g} x scale): {', '.join(r['name'] for r in bad[:4])}"
         f"{' ...' if len(bad) > 4 else ''}")
    return 1


def localise(tres, mres, T, M, atol, rtol) -> dict:
    """The first submodule, in the order torch finishes them, whose output differs beyond tolerance
    while its inputs agree."""
    ms_calls = {(h["path"], h["call"]): h for h in mres["hooks"]}
    compared = 0
    first_diff = None
    seen: list = []  # (path, call, inputs agree, output agrees) in torch's finishing order
    for h in tres["hooks"]:
        mh = ms_calls.get((h["path"], h["call"]))
        if mh is None:
            continue
        compared += 1
        m_in = set(mh["inputs"])
        inputs_agree = True
        for j, lab in enumerate(h["inputs"]):
            if lab not in m_in:
                inputs_agree = False
                break
            err, scale, problem = measure(T[f"h{h['i']}i{j}"], M[f"h{mh['i']}i{mh['inputs'].index(lab)}"])
            if problem or not within(err, scale, atol, rtol):
                inputs_agree = False
                break
        m_out = mh["outputs"]
        worst = None
        for j, lab in enumerate(h["outputs"]):
            if lab not in m_out:
                worst = (float("inf"), 0.0, f"output {lab} missing on the MindSpore side")
                break
            err, scale, problem = measure(T[f"h{h['i']}o{j}"], M[f"h{mh['i']}o{m_out.index(lab)}"])
            if problem or not within(err, scale, atol, rtol):
                if worst is None or err > worst[0]:
                    worst = (err, scale, problem)
        seen.append((h["path"], h["call"], inputs_agree, worst is None))
        if worst is None:
            continue
        where = h["path"] or "(the model itself)"
        if h["call"]:
            where += f" (call {h['call'] + 1})"
        info = {"path": h["path"], "call": h["call"], "torch_class": h["cls"], "mindspore_class": mh["cls"],
                "max_abs_error": worst[0], "scale": worst[1], "problem": worst[2]}
        if first_diff is None:
            first_diff = info
        if inputs_agree:
            extra = f" ({worst[2]})" if worst[2] else ""
            info["line"] = (f"first diverging submodule: {where} ({h['cls']} -> {mh['cls']}): "
                            f"max abs error {_fmt(worst[0])}, scale {_fmt(worst[1])}{extra}")
            between = _between(seen, h["path"])
            if between:
                info["between"] = between
                code = f"{h['cls']}.forward -> {mh['cls']}.construct"
                info["line"] += (f"\n  inside it, {between[1]} gets a different input after {between[0]}'s output "
                                 f"agreed: the difference arises in the code between them ({code})" if between[0] else
                                 f"\n  inside it, {between[1]} gets a different input and no submodule before it "
                                 f"differs: the difference arises in the code before it ({code})")
            info["submodules_compared"] = compared
            return info
    if first_diff is not None:
        return {**first_diff, "line": "first diverging submodule: none whose inputs agree; the first output that "
                f"differs is {first_diff['path'] or '(the model itself)'} ({first_diff['torch_class']} -> "
                f"{first_diff['mindspore_class']}), max abs error {_fmt(first_diff['max_abs_error'])}",
                "submodules_compared": compared}
    return {"line": f"first diverging submodule: none: every one of the {compared} submodules matched by path agrees "
                    "in the forward (the difference is in the gradients or the train step)",
            "submodules_compared": compared}


def _between(seen: list, path: str):
    """Within the module at ``path`` (whose own inputs agree), the first submodule whose input
    differs and the last one before it whose output agreed: the module's own code between them
    (functional calls, arithmetic) is where the difference comes from."""
    prefix = path + "." if path else ""
    inside = [x for x in seen if x[0] != path and x[0].startswith(prefix)]
    last_ok = None
    for p, call, in_ok, out_ok in inside:
        if not in_ok:
            return last_ok, p
        if out_ok:
            last_ok = p
    return None


# ---- the children --------------------------------------------------------------------------------
class _Stub:
    """Stands for an unavailable module the model does not need (--stub)."""

    def __init__(self, name):
        self.__name__ = name
        self.__path__ = []

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self.__name__}.{attr}")

    def __call__(self, *a, **k):
        return _Stub(self.__name__ + "()")

    def __mro_entries__(self, bases):
        return (object,)

    def __len__(self):  # a one-item dataset, if a script builds a DataLoader at import
        return 1

    def __getitem__(self, i):
        if isinstance(i, int) and i >= 1:
            raise IndexError(i)
        return _Stub(f"{self.__name__}[{i!r}]")


class _StubFinder:
    def __init__(self, names):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == n or fullname.startswith(n + ".") for n in self.names):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return _Stub(spec.name)

    def exec_module(self, module):
        pass


def _flatten(obj, label, is_tensor, to_np, out):
    if is_tensor(obj):
        out.append((label, to_np(obj)))
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            _flatten(v, f"{label}[{i}]", is_tensor, to_np, out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{label}[{k!r}]", is_tensor, to_np, out)
    elif isinstance(obj, (bool, int, float, np.ndarray, np.number)):
        out.append((label, np.asarray(obj)))
    elif obj is None:
        pass
    elif hasattr(obj, "_fields") or hasattr(obj, "__dataclass_fields__"):
        for k in getattr(obj, "_fields", None) or obj.__dataclass_fields__:
            _flatten(getattr(obj, k), f"{label}.{k}", is_tensor, to_np, out)


def _leaves(obj, label, is_tensor, out):
    """The tensors of a nested output, with their labels (no conversion)."""
    if is_tensor(obj):
        out.append((label, obj))
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            _leaves(v, f"{label}[{i}]", is_tensor, out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _leaves(v, f"{label}[{k!r}]", is_tensor, out)
    elif hasattr(obj, "_fields"):
        for k in obj._fields:
            _leaves(getattr(obj, k), f"{label}.{k}", is_tensor, out)


def _same(a: list, b: list, cfg: dict) -> bool:
    """Two runs of one model on one input agree within the tolerance (kernels with and without
    autograd may differ in the last bits, an LSTM's do)."""
    if [x[0] for x in a] != [x[0] for x in b]:
        return False
    for x, y in zip(a, b):
        err, scale, problem = measure(x[1], y[1])
        if problem or not within(err, scale, cfg["atol"], cfg["rtol"]):
            return False
    return True


class _Child:
    def __init__(self, side, job):
        self.side, self.job = side, job
        with open(os.path.join(job, "job.json")) as fh:
            self.cfg = json.load(fh)
        self.arrays: dict = {}
        self.res: dict = {"ok": True, "notes": []}

    def fail(self, reason):
        self.res = {"ok": False, "reason": reason}
        self.write()
        sys.exit(0)

    def write(self):
        if self.res.get("ok"):
            np.savez(os.path.join(self.job, f"{self.side}.npz"), **self.arrays)
        with open(os.path.join(self.job, f"{self.side}.json"), "w") as fh:
            json.dump(self.res, fh, default=str)

    def build(self, label):
        """Import the module from the tree (its root first on sys.path) and evaluate the expression."""
        import random

        cfg = self.cfg
        if cfg["stubs"]:
            sys.meta_path.insert(0, _StubFinder(cfg["stubs"]))
        root = cfg["roots"][self.side]
        module = cfg.get("ms_module") if self.side == "mindspore" and cfg.get("ms_module") else cfg["module"]
        _TREE_ROOTS[:] = [root]
        sys.path.insert(0, root)
        if cfg.get("package"):
            # the tree is a package: import it under its own name (the torch folder's name) so
            # that its relative and absolute imports work on both sides
            pkg = cfg["package"]
            link_dir = os.path.join(self.job, f"{self.side}_path")
            os.makedirs(link_dir, exist_ok=True)
            link = os.path.join(link_dir, pkg)
            if not os.path.exists(link):
                os.symlink(root, link, target_is_directory=True)
            sys.path.insert(0, link_dir)
            if module != pkg and not module.startswith(pkg + "."):
                module = f"{pkg}.{module}"
        # the module is imported, not run: a script that parses its arguments at import time sees none
        sys.argv = [os.path.join(root, *module.split(".")) + ".py"]
        random.seed(cfg["seed"])
        np.random.seed(cfg["seed"])
        try:
            mod = importlib.import_module(module)
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is the reason
            self.fail(f"the {label} tree: cannot import {module} from {cfg['shown'][self.side]}: {_exc(exc)}")
        expr = cfg["expr"] if self.side == "torch" or not cfg.get("ms_expr") else cfg["ms_expr"]
        try:
            return eval(expr, vars(mod))  # noqa: S307 - the user's own expression
        except BaseException as exc:  # noqa: BLE001
            self.fail(f"the {label} tree: {cfg['module']}:{expr} raised {_exc(exc)}")

    def inputs(self, convert):
        """The inputs as the framework's tensors (a tuple input stays a tuple)."""
        with np.load(os.path.join(self.job, "inputs.npz")) as z:
            return [convert(z[f"x{i}"]) if n is None else tuple(convert(z[f"x{i}_{j}"]) for j in range(n))
                    for i, n in enumerate(self.cfg["n_inputs"])]


def _exc(exc) -> str:
    """The exception in one line, with the innermost line of the user's tree it passed through."""
    import traceback

    roots = [os.path.realpath(p) + os.sep for p in _TREE_ROOTS]
    where = ""
    for fr in reversed(traceback.extract_tb(exc.__traceback__)):
        if any(os.path.realpath(fr.filename).startswith(r) for r in roots):
            where = f" ({os.path.relpath(os.path.realpath(fr.filename), roots[0])}:{fr.lineno})"
            break
    if isinstance(exc, SystemExit):
        return (f"SystemExit({exc.code}){where}: the module exits when imported (a script parsing required "
                "arguments?); verify imports it without arguments: move the model into a module of its own")
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0][:300] if msg else ''}{where}"


_TREE_ROOTS: list = []


def _class_key(model, root: str, pmap) -> str | None:
    from .checkpoint import LAYER_ROOT

    cls = type(model)
    if cls.__module__.startswith("torch.nn."):  # the model is a torch layer (fc = nn.Linear(4, 1))
        return f"{LAYER_ROOT}torch.nn.{cls.__name__}"
    f = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if f:
        rel = os.path.relpath(os.path.abspath(f), root).replace(os.sep, "/")
        key = f"{rel}:{cls.__qualname__}"
        if key in pmap.classes:
            return key
    try:
        return pmap.find_class(cls.__name__)
    except Exception:  # noqa: BLE001 - then the names decide (infer_root)
        return None


def _hook_recorder(hooks: list, arrays: dict, is_t, to_np):
    """hook_for(path): a forward hook, torch's or MindSpore's (both call it with the module, its
    inputs and its output), that records each call's flattened inputs and outputs in ``arrays``
    and a row in ``hooks`` (path, call count, class)."""
    def hook_for(path):
        def hook(mod, inp, out):
            n = sum(1 for h in hooks if h["path"] == path)
            i = len(hooks)
            fi, fo = [], []
            _flatten(inp, "in", is_t, to_np, fi)
            _flatten(out, "out", is_t, to_np, fo)
            for j, (_, a) in enumerate(fi):
                arrays[f"h{i}i{j}"] = a
            for j, (_, a) in enumerate(fo):
                arrays[f"h{i}o{j}"] = a
            hooks.append({"i": i, "path": path, "call": n, "cls": type(mod).__name__,
                          "inputs": [x[0] for x in fi], "outputs": [x[0] for x in fo]})
        return hook
    return hook_for


def torch_side(job: str) -> None:
    c = _Child("torch", job)
    try:
        import torch
    except ImportError as exc:
        c.fail(f"torch does not import ({exc}). {INSTALL_HINT}")
    from .checkpoint import CheckpointError, ParamMap, apply_ops, plan_conversion
    from .param_map import load

    torch.manual_seed(c.cfg["seed"])
    model = c.build("torch")
    if not isinstance(model, torch.nn.Module):
        c.fail(f"--model {c.cfg['expr']}: gives a {type(model).__name__}, not a torch.nn.Module")
    c.res["cls"] = type(model).__name__
    randomize_constants(model, c.cfg["seed"])
    pmap = ParamMap(load(c.cfg["map"]))
    key = _class_key(model, c.cfg["roots"]["torch"], pmap)
    try:
        plan = plan_conversion(dict(model.state_dict()), pmap, key)
    except (CheckpointError, ValueError) as exc:
        c.fail(f"the parameter map cannot convert the state_dict: {exc}")
    if plan.errors:
        c.fail("the parameter map cannot convert these tensors: " +
               "; ".join(f"{s.torch_name}: {s.reason}" for s in plan.errors[:10]))
    steps = {s.torch_name: s for s in plan.steps if s.torch_name is not None}

    def to_np(t):
        t = t.detach()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.cpu().numpy()

    def ms_value(s, value):
        a = to_np(value) if isinstance(value, torch.Tensor) else value
        if s.transform:
            a = np.ascontiguousarray(apply_ops(a, pmap.transforms[s.transform]["forward"]))
        return a

    state = plan.state
    ckpt = {}
    for s in plan.steps:
        if s.action in ("kept", "renamed", "transformed"):
            ckpt[s.ms_name] = ms_value(s, state[s.torch_name])
        elif s.action == "filled":
            ckpt[s.ms_name] = (np.ones if s.fill == "ones" else np.zeros)(s.ms_shape, np.float32)
    np.savez(os.path.join(job, "ckpt.npz"), **ckpt)
    c.res["n_state"] = len(state)
    c.res["notes"] += [f"parameter map: {n}" for n in plan.notes]

    xs = c.inputs(torch.from_numpy)
    is_t = lambda o: isinstance(o, torch.Tensor)  # noqa: E731
    hooks, handles = [], []
    arrays = c.arrays

    hook_for = _hook_recorder(hooks, arrays, is_t, to_np)

    for path, m in model.named_modules():
        handles.append(m.register_forward_hook(hook_for(path)))
    model.eval()
    model.zero_grad(set_to_none=True)
    try:
        out = model(*xs)
    except BaseException as exc:  # noqa: BLE001
        c.fail(f"the torch model rejects the input ({', '.join(c.cfg.get('specs', []))}): {_exc(exc)}")
    for h in handles:
        h.remove()
    flat = []
    _flatten(out, "out", is_t, to_np, flat)
    if not flat:
        c.fail("the torch model returns no tensor")
    for lab, a in flat:
        arrays[f"o:{lab}"] = a
    c.res["outputs"] = [lab for lab, _ in flat]
    c.res["hooks"] = hooks
    # a fixed random projection of the float outputs; its gradients w.r.t. every parameter
    rng = np.random.default_rng(c.cfg["seed"] + 1)
    leaves = []
    _leaves(out, "out", is_t, leaves)
    proj = {}
    loss = None
    for lab, t in leaves:
        if t.is_floating_point() and t.requires_grad:
            r = rng.standard_normal(tuple(t.shape)).astype(np.float32)
            proj[lab] = r
            term = (t * torch.from_numpy(r).to(t.dtype)).sum()
            loss = term if loss is None else loss + term
    np.savez(os.path.join(job, "proj.npz"), **proj)
    grads = {}
    if loss is not None:
        loss.backward()
        for n, p in model.named_parameters():
            s = steps.get(n)
            if not p.requires_grad or s is None or s.action not in ("kept", "renamed", "transformed"):
                continue
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            arrays[f"g:{n}"] = ms_value(s, g)
            grads[n] = s.ms_name
    c.res["grads"] = grads
    c.res["n_params"] = sum(1 for _ in model.parameters())
    c.res["noise"] = _float64_noise(model, xs, proj, flat, steps, grads, arrays, ms_value, to_np, is_t)
    with torch.no_grad():
        again = []
        _flatten(model(*xs), "out", is_t, to_np, again)
    c.res["random_eval"] = not _same(flat, again, c.cfg)
    if c.cfg["train"]:
        model.train()
        with torch.no_grad():
            t_out = model(*xs)
            sd = model.state_dict()
            params = {n for n, _ in model.named_parameters()}
            after = {}
            for n, v in sd.items():
                s = steps.get(n)
                if n in params or s is None or s.action not in ("kept", "renamed", "transformed"):
                    continue
                arrays[f"s:{s.ms_name}"] = ms_value(s, v)
                after[n] = s.ms_name
            tf = []
            _flatten(t_out, "out", is_t, to_np, tf)
            t2 = []
            _flatten(model(*xs), "out", is_t, to_np, t2)
        for lab, a in tf:
            arrays[f"t:{lab}"] = a
        c.res["train_outputs"] = [lab for lab, _ in tf]
        c.res["state_after"] = after
        c.res["random_train"] = not _same(tf, t2, c.cfg)
    c.write()


def _float64_noise(model, xs, proj, flat, steps, grads, arrays, ms_value, to_np, is_t) -> dict:
    """torch's own float32 error: the same forward and backward in float64 (a copy of the model),
    max |float32 - float64| per output and per gradient. A gradient that is zero in exact
    arithmetic (a conv bias before an InstanceNorm) is float32 rounding noise on both sides; this
    says how large that noise is. Empty when the model does not run in float64."""
    import copy

    import torch

    try:
        m64 = copy.deepcopy(model).double()
        m64.zero_grad(set_to_none=True)
        cast = lambda t: t.double() if t.is_floating_point() else t  # noqa: E731
        x64 = [tuple(cast(y) for y in x) if isinstance(x, tuple) else cast(x) for x in xs]
        out = m64(*x64)
        leaves = []
        _leaves(out, "out", is_t, leaves)
        loss = None
        for lab, t in leaves:
            if lab in proj:
                term = (t * torch.from_numpy(proj[lab]).double()).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
    except Exception as exc:  # noqa: BLE001 - a model that fixes float32 somewhere inside
        return {"error": _exc(exc)}
    noise = {}
    f64 = []
    _flatten(out, "out", is_t, to_np, f64)
    ref = dict(flat)
    for lab, a in f64:
        if lab in ref and np.shape(ref[lab]) == np.shape(a) and np.asarray(a).dtype.kind == "f":
            noise[f"o:{lab}"] = measure(a, ref[lab])[0]
    params = dict(m64.named_parameters())
    for n in grads:
        g = params[n].grad if params[n].grad is not None else torch.zeros_like(params[n])
        noise[f"g:{n}"] = measure(ms_value(steps[n], g), arrays[f"g:{n}"])[0]
    return noise


def randomize_constants(model, seed=0):
    """Random values for every floating tensor torch initialises to a constant (BatchNorm
    statistics, norm weights and biases, PReLU slopes): a wrong mapping or normalisation cannot
    hide behind 0/1. Weights keep the model's own seeded initialisation."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point() or t.numel() == 0 or (t.numel() > 1 and t.min() != t.max()):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.5)


def mindspore_side(job: str) -> None:
    c = _Child("mindspore", job)
    try:
        import mindspore
    except ImportError as exc:
        c.fail(f"mindspore does not import ({exc}). {INSTALL_HINT}")
    mindspore.set_seed(c.cfg["seed"])
    net = c.build("MindSpore")
    if not isinstance(net, mindspore.nn.Cell):
        c.fail(f"--model {c.cfg['expr']}: gives a {type(net).__name__} in the converted tree, not a mindspore.nn.Cell")
    c.res["cls"] = type(net).__name__
    with np.load(os.path.join(job, "ckpt.npz")) as z:
        params = {n: mindspore.Parameter(mindspore.Tensor(z[n]), name=n) for n in z.files}
    try:
        not_loaded, unused = mindspore.load_param_into_net(net, params, strict_load=True)
    except BaseException as exc:  # noqa: BLE001 - a shape mismatch raises
        c.fail(f"strict load failed: {_exc(exc)}")
    if not_loaded or unused:
        parts = []
        if not_loaded:
            parts.append(f"MindSpore parameters the converted checkpoint does not hold: {', '.join(not_loaded)}")
        if unused:
            parts.append(f"converted tensors the MindSpore model has no parameter for: {', '.join(unused)}")
        c.fail("strict load failed: " + "; ".join(parts))
    c.res["loaded"] = len(params)
    Tensor = mindspore.Tensor
    is_t = lambda o: isinstance(o, Tensor)  # noqa: E731
    to_np = lambda t: t.asnumpy()  # noqa: E731
    xs = c.inputs(Tensor)
    hooks, handles = [], []
    arrays = c.arrays

    hook_for = _hook_recorder(hooks, arrays, is_t, to_np)

    for path, cell in net.cells_and_names():
        try:
            handles.append(cell.register_forward_hook(hook_for(path)))
        except Exception:  # noqa: BLE001 - a cell that refuses hooks is not compared
            pass
    net.set_train(False)
    try:
        out = net(*xs)
    except BaseException as exc:  # noqa: BLE001
        c.fail(f"the MindSpore model rejects the input: {_exc(exc)}")
    for h in handles:
        try:
            h.remove()
        except Exception:  # noqa: BLE001
            pass
    flat = []
    _flatten(out, "out", is_t, to_np, flat)
    for lab, a in flat:
        arrays[f"o:{lab}"] = a
    c.res["outputs"] = [lab for lab, _ in flat]
    c.res["hooks"] = hooks
    with np.load(os.path.join(job, "proj.npz")) as z:
        proj = {k: z[k] for k in z.files}
    weights = net.trainable_params()
    if proj and weights:
        def fn(*inputs):
            leaves = []
            _leaves(net(*inputs), "out", is_t, leaves)
            total = None
            for lab, t in leaves:
                if lab in proj and tuple(t.shape) == proj[lab].shape:
                    term = (t * Tensor(proj[lab]).astype(t.dtype)).sum()
                    total = term if total is None else total + term
            return total

        try:
            gs = mindspore.grad(fn, grad_position=None, weights=weights)(*xs)
            for p, g in zip(weights, gs):
                c.arrays[f"g:{p.name}"] = g.asnumpy()
        except BaseException as exc:  # noqa: BLE001
            c.res["grad_error"] = _exc(exc)
    again = []
    _flatten(net(*xs), "out", is_t, to_np, again)
    c.res["random_eval"] = not _same(flat, again, c.cfg)
    if c.cfg["train"]:
        net.set_train(True)
        try:
            t_out = net(*xs)
        except BaseException as exc:  # noqa: BLE001
            c.fail(f"the MindSpore model fails in train mode: {_exc(exc)}")
        for p in net.get_parameters():
            c.arrays[f"s:{p.name}"] = p.asnumpy()
        tf, t2 = [], []
        _flatten(t_out, "out", is_t, to_np, tf)
        _flatten(net(*xs), "out", is_t, to_np, t2)
        for lab, a in tf:
            c.arrays[f"t:{lab}"] = a
        c.res["random_train"] = not _same(tf, t2, c.cfg)
    c.write()


if __name__ == "__main__":
    side, job_dir = sys.argv[1], sys.argv[2]
    (torch_side if side == "torch" else mindspore_side)(job_dir)
