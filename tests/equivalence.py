"""Equivalence harness: run a torch program and its ms-migrate conversion on the same inputs and
the same weights, and compare what they compute.

Tolerance (stated once, used everywhere unless a test says otherwise): for floating-point
results, max |torch - mindspore| <= atol + rtol * scale, scale = max |torch result| (at least 1),
rtol = 1e-5, atol = 1e-6. Integer and boolean results must be equal; shapes must be equal; dtypes
must be equal unless a rule's example says ``check_dtype = false`` (e.g. int32 indices).
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")  # MindSpore CPU convolutions: see README
os.environ.setdefault("GLOG_v", "3")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from migrator.convert import convert_source  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6
PRELUDE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport numpy as np\n"


# ---- inputs ----------------------------------------------------------------------------------
def make_inputs(spec: dict[str, str] | None, seed: int = 0) -> dict[str, np.ndarray]:
    """Evaluate input specs such as ``randn(2, 3)`` or ``randint(0, 5, (4,))`` with a seeded RNG."""
    rng = np.random.default_rng(seed)
    env = {
        "randn": lambda *s: rng.standard_normal(s).astype(np.float32),
        "rand": lambda *s: rng.random(s).astype(np.float32),
        "randint": lambda lo, hi, s: rng.integers(lo, hi, s).astype(np.int64),
        "arange": lambda *a: np.arange(*a).astype(np.float32),
        "np": np,
    }
    return {k: np.asarray(eval(v, env)) for k, v in (spec or {}).items()}


# ---- conversion --------------------------------------------------------------------------------
@dataclass
class Converted:
    torch_code: str
    ms_code: str
    findings: list
    helpers: list  # the runtime helpers ms_code imports from the generated module

    def write(self, path) -> None:
        """The converted program as a file, with the helper module it imports beside it (for a
        run in another process; in this one, conftest puts every helper on sys.path)."""
        from migrator import helper_module

        path = os.fspath(path)
        with open(path, "w") as fh:
            fh.write(self.ms_code)
        if self.helpers:
            with open(os.path.join(os.path.dirname(path), helper_module.MODULE_NAME + ".py"), "w") as fh:
                fh.write(helper_module.module_text(self.helpers))


def imports_torch(code: str) -> bool:
    """Whether converted code still imports torch (`from ms_helpers import torch_zeros` does not)."""
    import re

    return re.search(r"(?m)^\s*(import|from) torch(vision)?\b", code) is not None


def convert(torch_code: str, path: str = "<example>") -> Converted:
    res = convert_source(torch_code.encode(), path)
    assert res.status != "error", f"{path}: {res.error}"
    return Converted(torch_code, res.output.decode(), res.findings, res.helpers)


def convert_program(folder, source: str, name: str = "prog") -> tuple[dict, dict]:
    """Write a torch program as <folder>/<name>.py, convert it with the CLI (`python -m migrator`)
    into <name>_ms.py, check nothing is left untranslated, and run both: (torch globals, MindSpore
    globals). The converted file is also what a script run would execute."""
    import runpy
    import subprocess

    src, out = os.path.join(folder, f"{name}.py"), os.path.join(folder, f"{name}_ms.py")
    with open(src, "w") as f:
        f.write(source)
    r = subprocess.run([sys.executable, "-m", "migrator", src, "-o", out, "-q"], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stdout + r.stderr
    with open(out) as f:
        text = f.read()
    assert not imports_torch(text) and "ms-migrate: untranslated" not in text, text
    return runpy.run_path(src), runpy.run_path(out, run_name=f"{name}_ms")


def example_program(setup: str | None, expr: str, input_names) -> str:
    body = (setup or "").rstrip()
    return (PRELUDE + body + "\n\n\ndef __example__(" + ", ".join(input_names) + "):\n    return "
            + expr + "\n")


# ---- execution ---------------------------------------------------------------------------------
def run_torch(code: str, inputs: dict[str, np.ndarray], train: bool = False, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    ns: dict = {"__name__": "__torch_example__"}
    exec(compile(code, "<torch>", "exec"), ns)
    for m in _modules(ns, torch.nn.Module):
        m.train(train)
    args = {k: torch.from_numpy(np.array(v)) for k, v in inputs.items()}
    return ns, args


def run_mindspore(code: str, inputs: dict[str, np.ndarray], train: bool = False, seed: int = 0):
    import mindspore

    mindspore.set_seed(seed)
    ns: dict = {"__name__": "__ms_example__"}
    exec(compile(code, "<mindspore>", "exec"), ns)
    for m in _modules(ns, mindspore.nn.Cell):
        m.set_train(train)
    args = {k: mindspore.Tensor(np.array(v)) for k, v in inputs.items()}
    return ns, args


def _modules(ns: dict, cls) -> list:
    return [v for k, v in ns.items() if isinstance(v, cls) and not k.startswith("__")]


def copy_weights(torch_ns: dict, ms_ns: dict) -> int:
    """Copy every torch module's parameters and buffers into the MindSpore cell of the same name,
    through the same name map the checkpoint converter uses. Returns the number copied."""
    import torch

    n = 0
    for name, value in torch_ns.items():
        if name.startswith("__") or not isinstance(value, torch.nn.Module):
            continue
        cell = ms_ns[name]
        n += load_torch_state(value, cell)
    return n


def load_torch_state(module, cell) -> int:
    """Put a torch module's state into the converted cell (strict: every name must match)."""
    import mindspore

    from migrator.checkpoint import torch_module_fills, torch_module_name_map

    names = torch_module_name_map(module)
    targets = dict(cell.parameters_and_names())
    state = module.state_dict()
    done = set()
    for tname, tensor in state.items():
        if tname not in names:
            raise AssertionError(f"no MindSpore name for torch {tname}")
        entry = names[tname]
        if entry is None:
            continue  # dropped (num_batches_tracked)
        ms_name, transform = entry
        value = tensor.detach().cpu().numpy()
        if transform == "conv1d_weight":
            value = value[:, :, None, :]
        assert ms_name in targets, f"torch {tname} -> {ms_name}: no such MindSpore parameter ({sorted(targets)})"
        p = targets[ms_name]
        assert tuple(p.shape) == value.shape, f"{ms_name}: shape {tuple(p.shape)} vs torch {value.shape}"
        p.set_data(mindspore.Tensor(value, dtype=p.dtype))
        done.add(ms_name)
    fills = torch_module_fills(module)
    for name, fill in fills.items():
        if name in targets and name not in done:
            p = targets[name]
            p.set_data(mindspore.Tensor(np.full(tuple(p.shape), 1.0 if fill == "ones" else 0.0), dtype=p.dtype))
            done.add(name)
    missing = set(targets) - done
    assert not missing, f"MindSpore parameters not set from torch: {sorted(missing)}"
    return len(done)


# ---- comparison --------------------------------------------------------------------------------
def to_numpy(x):
    mod = type(x).__module__
    if mod.startswith("torch"):
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        if isinstance(x, torch.Size):
            return tuple(x)
    if mod.startswith("mindspore"):
        import mindspore

        if isinstance(x, mindspore.Tensor):
            return x.asnumpy()
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return x


def compare(t, m, rtol=RTOL, atol=ATOL, check_dtype=True, shape_only=False, where="result") -> list[str]:
    """Differences between a torch result and a MindSpore result (empty when they agree)."""
    t, m = to_numpy(t), to_numpy(m)
    return _compare(t, m, rtol, atol, check_dtype, shape_only, where)


def _compare(t, m, rtol, atol, check_dtype, shape_only, where) -> list[str]:
    if isinstance(t, np.ndarray) or isinstance(m, np.ndarray):
        t, m = np.asarray(t), np.asarray(m)
        if t.shape != m.shape:
            return [f"{where}: shape {m.shape} != torch {t.shape}"]
        if check_dtype and t.dtype != m.dtype:
            return [f"{where}: dtype {m.dtype} != torch {t.dtype}"]
        if shape_only:
            return []
        if t.dtype.kind == "c" or m.dtype.kind == "c":  # real and imaginary parts, side by side
            t, m = np.stack([t.real, t.imag], -1), np.stack([m.real, m.imag], -1)
        if t.dtype.kind in "fc" or m.dtype.kind in "fc":
            tf, mf = t.astype(np.float64), m.astype(np.float64)
            if not np.array_equal(np.isnan(tf), np.isnan(mf)):
                return [f"{where}: NaN positions differ"]
            if not np.array_equal(np.isinf(tf), np.isinf(mf)) or not np.array_equal(tf[np.isinf(tf)], mf[np.isinf(mf)]):
                return [f"{where}: infinities differ"]  # (inf - inf is NaN, which no tolerance catches)
            ok = np.isfinite(tf)
            if not ok.any():
                return []
            err = float(np.max(np.abs(tf[ok] - mf[ok]))) if tf[ok].size else 0.0
            scale = max(1.0, float(np.max(np.abs(tf[ok]))) if tf[ok].size else 1.0)
            if err > atol + rtol * scale:
                return [f"{where}: max abs error {err:.3g} > {atol + rtol * scale:.3g} (scale {scale:.3g})"]
            return []
        if not np.array_equal(t, m):
            return [f"{where}: values differ: mindspore {m.ravel()[:6]} torch {t.ravel()[:6]}"]
        return []
    if isinstance(t, (list, tuple)) and isinstance(m, (list, tuple)):
        if len(t) != len(m):
            return [f"{where}: length {len(m)} != torch {len(t)}"]
        out = []
        for i, (a, b) in enumerate(zip(t, m)):
            out += _compare(a, b, rtol, atol, check_dtype, shape_only, f"{where}[{i}]")
        return out
    if isinstance(t, dict) and isinstance(m, dict):
        if set(t) != set(m):
            return [f"{where}: keys {sorted(m)} != torch {sorted(t)}"]
        return [d for k in t for d in _compare(t[k], m[k], rtol, atol, check_dtype, shape_only, f"{where}[{k!r}]")]
    if isinstance(t, float) or isinstance(m, float):
        if not isinstance(m, (int, float)) or isinstance(m, bool) != isinstance(t, bool):
            return [f"{where}: {type(m).__name__} {m!r} != torch {type(t).__name__} {t!r}"]
        if shape_only:
            return []
        if math.isnan(t) or math.isnan(m) or math.isinf(t) or math.isinf(m):
            same = (math.isnan(t) and math.isnan(m)) or t == m
            return [] if same else [f"{where}: {m!r} != torch {t!r}"]
        if abs(t - m) > atol + rtol * max(1.0, abs(t)):
            return [f"{where}: {m!r} != torch {t!r}"]
        return []
    if type(t) is not type(m) and not (isinstance(t, (int, np.integer)) and isinstance(m, (int, np.integer))):
        return [f"{where}: {type(m).__name__} {m!r} != torch {type(t).__name__} {t!r}"]
    if t != m:
        return [f"{where}: {m!r} != torch {t!r}"]
    return []


# ---- one example end to end --------------------------------------------------------------------
def check_example(setup: str | None, expr: str, inputs: dict | None = None, train: bool = False,
                  rtol: float = RTOL, atol: float = ATOL, check_dtype: bool = True, compare_mode: str = "values",
                  seed: int = 0, label: str = "example") -> Converted:
    data = make_inputs(inputs, seed)
    code = example_program(setup, expr, list(data))
    conv = convert(code, label)
    untranslated = [f for f in conv.findings if f.kind == "untranslated"]
    assert not untranslated, f"{label}: untranslated after conversion: {[(f.api, f.reason) for f in untranslated]}\n{conv.ms_code}"
    assert not imports_torch(conv.ms_code), f"{label}: the conversion still imports torch\n{conv.ms_code}"
    tns, targs = run_torch(code, data, train, seed)
    mns, margs = run_mindspore(conv.ms_code, data, train, seed)
    copy_weights(tns, mns)
    t_out = tns["__example__"](**targs)
    try:
        m_out = mns["__example__"](**margs)
        diffs = compare(t_out, m_out, rtol, atol, check_dtype, compare_mode == "shape")
    except Exception as exc:  # show the converted code with the failure
        raise AssertionError(f"{label}: the MindSpore conversion failed: {type(exc).__name__}: {exc}\n--- converted ---\n{conv.ms_code}") from exc
    assert not diffs, f"{label}: " + "; ".join(diffs) + f"\n--- converted ---\n{conv.ms_code}"
    return conv
