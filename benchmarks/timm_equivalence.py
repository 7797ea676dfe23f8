#!/usr/bin/env python3
"""timm on MindSpore: convert the timm package with ms-migrate, then, per architecture, build the
torch model with timm and the MindSpore model with the converted package, convert the torch
weights with `ms-migrate ckpt` through the parameter map the conversion wrote, load them
strictly, and compare.

    python benchmarks/timm_equivalence.py TIMM_SRC_DIR [--arch NAME ...] [--out DIR] [--timeout S]

TIMM_SRC_DIR is the folder holding the `timm` package (an unzipped timm wheel, or a clone of
huggingface/pytorch-image-models). The converted package is written to OUT/ms/timm (it keeps the
name `timm`: timm imports itself absolutely, `from timm.layers import ...`), the map to
OUT/map.json. Each architecture runs in three processes (torch, `ms-migrate ckpt`, MindSpore),
each with a timeout; the torch and MindSpore processes each see only their own `timm`.

Per architecture: builds (timm_ms.create_model(name, pretrained=False) in MindSpore), loads
strictly (load_param_into_net(strict_load=True) leaves nothing unloaded or unused), max error of
the eval outputs on a fixed input (pass: within 1e-4 absolute or relative to the output's
scale), and the BatchNorm running statistics after one train-mode forward on the same batch
(same tolerance; or, where they are further apart, MindSpore's statistics at most NOISE times as
far from the float64 ones as torch's own float32 statistics are: float32 rounding grows through a
deep stack of train-mode BatchNorms, each dividing by a batch std, and the row says so). Every tensor torch initialises to a constant (BatchNorm statistics, norm
weights) is randomised first, so a wrong mapping cannot hide.

timm imports torchvision (FrozenBatchNorm2d, transforms), which does not import beside torch
2.13 here: the torch process gets a stub torchvision (FrozenBatchNorm2d as torchvision defines it,
the rest placeholders no benchmarked model uses).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-4
# BatchNorm statistics after a train step further than TOL from torch's pass when MindSpore's are at
# most NOISE times as far from the exact (float64) statistics as torch's own float32 ones (or TOL)
NOISE = 4.0

# name -> create_model kwargs (small inputs and configurations keep each run to seconds)
ARCHS: dict[str, dict] = {
    "resnet18": {}, "resnet10t": {}, "resnet26d": {}, "seresnext26d_32x4d": {}, "resnext26ts": {},
    "efficientnet_b0": {}, "tf_efficientnet_lite0": {}, "mobilenetv3_small_050": {}, "mobilenetv3_large_100": {},
    "mobilenetv2_050": {}, "mnasnet_small": {}, "lcnet_050": {}, "mixnet_s": {}, "tinynet_e": {},
    "convnext_atto": {}, "convnextv2_atto": {}, "regnetx_002": {}, "regnety_002": {},
    "vit_tiny_patch16_224": {"img_size": 32, "patch_size": 8}, "deit_tiny_patch16_224": {"img_size": 32, "patch_size": 8},
    "deit_tiny_distilled_patch16_224": {"img_size": 32, "patch_size": 8},
    "swin_tiny_patch4_window7_224": {"img_size": 56, "window_size": 7, "depths": (1, 1, 1, 1)},
    "mixer_s16_224": {"img_size": 32}, "resmlp_12_224": {"img_size": 32},
    "gmlp_ti16_224": {"img_size": 32},
    "poolformer_s12": {}, "levit_128s": {}, "cait_xxs24_224": {"img_size": 32, "patch_size": 8, "depth": 4},
    "xcit_nano_12_p16_224": {"img_size": 32}, "coat_lite_tiny": {}, "maxvit_nano_rw_256": {"img_size": 64},
    "edgenext_xx_small": {}, "densenet121": {}, "dla34": {}, "ghostnet_100": {}, "rexnet_100": {},
    "repvgg_a0": {}, "cspresnet50": {}, "hardcorenas_a": {}, "ese_vovnet19b_dw": {}, "mobilevit_xxs": {},
    "pvt_v2_b0": {}, "efficientformer_l1": {}, "fastvit_t8": {}, "pit_ti_224": {"img_size": 64},
    "convit_tiny": {"img_size": 32, "patch_size": 8}, "crossvit_tiny_240": {}, "vgg11": {},
}
# input side per architecture (default 64); models with a fixed size need theirs
IMG = {"levit_128s": 224, "coat_lite_tiny": 224, "edgenext_xx_small": 64, "crossvit_tiny_240": 240,
       "efficientformer_l1": 224, "poolformer_s12": 64, "swin_tiny_patch4_window7_224": 56,
       "maxvit_nano_rw_256": 64, "vit_tiny_patch16_224": 32, "deit_tiny_patch16_224": 32,
       "deit_tiny_distilled_patch16_224": 32, "mixer_s16_224": 32, "resmlp_12_224": 32, "gmlp_ti16_224": 32,
       "cait_xxs24_224": 32, "xcit_nano_12_p16_224": 32, "convit_tiny": 32, "mobilevit_xxs": 64}

STUB_TORCHVISION = '''
import sys, types, importlib.abc, importlib.machinery
import torch


class FrozenBatchNorm2d(torch.nn.Module):
    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


import enum
InterpolationMode = enum.Enum("InterpolationMode", "NEAREST NEAREST_EXACT BILINEAR BICUBIC BOX HAMMING LANCZOS")


class _PMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return cls


class _Placeholder(metaclass=_PMeta):
    def __init__(self, *a, **k):
        raise RuntimeError("torchvision stub: not available in this benchmark")


class _Module(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "FrozenBatchNorm2d":
            return FrozenBatchNorm2d
        if name == "InterpolationMode":
            return InterpolationMode
        return _Placeholder


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _Module(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Finder())
'''


def randomize(model, seed=0):
    from migrator.verify import randomize_constants  # what ms-migrate verify does

    randomize_constants(model, seed)


def _kwargs(arch):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in ARCHS.get(arch, {}).items()}


def worker_torch(src, arch, work):
    import numpy as np
    import torch

    exec(STUB_TORCHVISION, {"__name__": "tv_stub"})
    sys.path.insert(0, src)
    import timm

    torch.manual_seed(0)
    m = timm.create_model(arch, pretrained=False, **_kwargs(arch))
    randomize(m)
    m.eval()
    torch.save(m.state_dict(), os.path.join(work, "model.pth"))
    size = IMG.get(arch, 64)
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    np.save(os.path.join(work, "x.npy"), x)
    with torch.no_grad():
        np.save(os.path.join(work, "eval.npy"), m(torch.from_numpy(x)).numpy())
        try:  # the same train step in float64: how far torch's own float32 statistics are from exact
            import copy

            m64 = copy.deepcopy(m).double().train()
            m64(torch.from_numpy(x).double())
            np.savez(os.path.join(work, "after64.npz"), **{k: v.numpy() for k, v in m64.state_dict().items()
                                                           if k.endswith(("running_mean", "running_var"))})
            del m64
        except Exception:  # noqa: BLE001 - a model that does not run in float64: no noise estimate
            pass
        m.train()
        m(torch.from_numpy(x))
    torch.save(m.state_dict(), os.path.join(work, "after.pth"))
    mod = type(m).__module__
    rel = mod.split(".", 1)[1].replace(".", "/") + ".py" if "." in mod else mod + ".py"
    json.dump({"class": f"{rel}:{type(m).__name__}", "params": sum(p.numel() for p in m.parameters())},
              open(os.path.join(work, "torch.json"), "w"))


def worker_ms(ms_root, arch, work, map_path):
    import mindspore
    import numpy as np

    sys.path.insert(0, ms_root)
    import timm as timm_ms

    info = json.load(open(os.path.join(work, "torch.json")))
    result = {"builds": False, "loads": False}
    out = os.path.join(work, "ms.json")

    def save():
        json.dump(result, open(out, "w"))

    m = timm_ms.create_model(arch, pretrained=False, **_kwargs(arch))
    result["builds"] = True
    save()
    params = mindspore.load_checkpoint(os.path.join(work, "model.ckpt"))
    not_loaded, unused = mindspore.load_param_into_net(m, params, strict_load=True)
    if not_loaded or unused:
        result["error"] = f"strict load: not loaded {not_loaded[:3]}{'...' if len(not_loaded) > 3 else ''} " \
                          f"({len(not_loaded)}), unused {unused[:3]} ({len(unused)})"
        save()
        return
    result["loads"] = True
    save()
    x = np.load(os.path.join(work, "x.npy"))
    expected = np.load(os.path.join(work, "eval.npy"))
    m.set_train(False)
    got = m(mindspore.Tensor(x))
    got = got.asnumpy() if hasattr(got, "asnumpy") else np.asarray(got)
    if got.shape != expected.shape:
        result["error"] = f"eval output shape {got.shape}, torch {expected.shape}"
        save()
        return
    err = float(np.max(np.abs(got - expected)))
    scale = float(np.max(np.abs(expected)))
    result["eval_err"] = err
    result["eval_rel"] = err / max(scale, 1e-12)
    # BatchNorm statistics after one train-mode forward on the same batch
    m.set_train(True)
    m(mindspore.Tensor(x))
    from migrator.checkpoint import convert_checkpoint

    plan = convert_checkpoint(os.path.join(work, "after.pth"), os.path.join(work, "after.ckpt"), map_path,
                              model=info["class"], echo=lambda *a: None,
                              ms_model=f"timm.create_model({arch!r}, pretrained=False, **{_kwargs(arch)!r})")
    torch_name = {s.ms_name: s.torch_name for s in plan.steps if s.ms_name and s.torch_name}
    exact = dict(np.load(os.path.join(work, "after64.npz"))) if os.path.exists(os.path.join(work, "after64.npz")) else {}
    after = mindspore.load_checkpoint(os.path.join(work, "after.ckpt"))
    have = {p.name: p for p in m.get_parameters()}

    def err(a, b):
        d = float(np.max(np.abs(a - b))) if a.size else 0.0
        return min(d, d / max(float(np.max(np.abs(a))), 1e-12))

    stat_err = 0.0
    n_stats = 0
    noise = {"ms": 0.0, "torch": 0.0}  # worst distance from the float64 statistics, where over TOL
    for k, v in after.items():
        if "moving_" in k and k in have:
            a, b = v.asnumpy(), have[k].asnumpy()
            e = err(a, b)
            stat_err = max(stat_err, e)
            n_stats += 1
            ref = exact.get(torch_name.get(k, ""))
            if e > TOL and ref is not None:
                noise["ms"] = max(noise["ms"], err(ref, b.astype(np.float64)))
                noise["torch"] = max(noise["torch"], err(ref, a.astype(np.float64)))
    result["stats"] = n_stats
    result["stat_err"] = stat_err
    if exact and stat_err > TOL:
        result["stat_noise"] = noise
    save()


def run(cmd, timeout, cwd, env):
    t = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
        return r.returncode, r.stdout, r.stderr, time.time() - t
    except subprocess.TimeoutExpired:
        return -1, "", f"timeout after {timeout} s", time.time() - t


def first_error(text):
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or "Exception" in ln:
            return ln[:220]
    return (lines[-1] if lines else "")[:220]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("timm_src")
    ap.add_argument("--arch", action="append", help="architecture (repeatable); default: the built-in list")
    ap.add_argument("--out", help="work folder (default: a temporary folder)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--reuse", action="store_true", help="keep an existing conversion in OUT")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results as JSON")
    args = ap.parse_args(argv)
    src = os.path.abspath(args.timm_src)
    if os.path.basename(src) == "timm" and os.path.isfile(os.path.join(src, "__init__.py")):
        src = os.path.dirname(src)
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="timm_ms_"))
    ms_root, map_path = os.path.join(out, "ms"), os.path.join(out, "map.json")
    if args.worker:
        kind, arch = args.worker
        work = os.path.join(out, "archs", arch)
        if kind == "torch":
            worker_torch(src, arch, work)
        else:
            worker_ms(ms_root, arch, work, map_path)
        return 0
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3", PYTHONPATH=ROOT)
    if not (args.reuse and os.path.isfile(map_path)):
        t = time.time()
        code, so, se, _ = run([sys.executable, "-m", "migrator", os.path.join(src, "timm"), "-o",
                               os.path.join(ms_root, "timm"), "--param-map", map_path, "-q"], 3600, out, env)
        print(f"convert: exit {code} in {time.time() - t:.0f} s: {(so + se).strip().splitlines()[-1] if so + se else ''}")
        if code not in (0, 1):
            print(se[-3000:])
            return 2
    rows = []
    for arch in args.arch or list(ARCHS):
        work = os.path.join(out, "archs", arch)
        os.makedirs(work, exist_ok=True)
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        row = {"arch": arch, "builds": False, "loads": False, "err": None, "pass": False, "error": ""}
        me = [sys.executable, os.path.abspath(__file__), src, "--out", out, "--worker"]
        code, so, se, _ = run(me + ["torch", arch], args.timeout, work, env)
        if code != 0:
            row["error"] = "torch: " + first_error(se)
            rows.append(row)
            _print_row(row)
            continue
        info = json.load(open(os.path.join(work, "torch.json")))
        ckpt = [sys.executable, "-m", "migrator", "ckpt", os.path.join(work, "model.pth"), "-o",
                os.path.join(work, "model.ckpt"), "--param-map", map_path, "--model", info["class"]]
        code, so, se, _ = run(ckpt, args.timeout, work, env)
        row["static"] = code == 0
        ckpt_error = ""
        if code != 0:
            bad = [ln.strip() for ln in so.splitlines() if ln.startswith("  ERROR") or ln.startswith("  UNMAPPED")]
            row["static_error"] = f"{len(bad)} unplaced, e.g. {bad[0][:140] if bad else first_error(se)}"
            # the static map cannot place everything: let the converted model, built at run time, decide
            expr = f"timm.create_model({arch!r}, pretrained=False, **{_kwargs(arch)!r})"
            code, so, se, _ = run(ckpt + ["--ms-model", expr, "--ms-path", ms_root], args.timeout, work, env)
            if code != 0:
                bad = [ln.strip() for ln in so.splitlines() if ln.startswith("  ERROR") or ln.startswith("  UNMAPPED")]
                ckpt_error = f"ckpt exit {code}: {len(bad)} tensors unplaced, e.g. {bad[0][:160] if bad else first_error(se)}"
                run(ckpt + ["--partial", "-q"], args.timeout, work, env)  # build anyway: does the model convert?
        code, so, se, _ = run(me + ["ms", arch], args.timeout, work, env)
        res = json.load(open(os.path.join(work, "ms.json"))) if os.path.exists(os.path.join(work, "ms.json")) else {}
        row["builds"], row["loads"] = res.get("builds", False), res.get("loads", False)
        if "eval_err" in res:
            row["err"] = min(res["eval_err"], res["eval_rel"])
            row["stat_err"] = res.get("stat_err")
            row["stats"] = res.get("stats")
        ok_eval = row["err"] is not None and row["err"] <= TOL
        ok_stats = row.get("stat_err") is None or row["stat_err"] <= TOL
        noise = res.get("stat_noise")
        if not ok_stats and noise and noise["ms"] <= NOISE * max(noise["torch"], TOL):
            # float32 rounding, amplified by many train-mode BatchNorms (each divides by a batch
            # std): torch's own float32 statistics are that far from the float64 ones too
            ok_stats = True
            row["stat_note"] = (f"BN statistics {row['stat_err']:.2g} from torch's: float32 noise (from the float64 "
                                f"statistics: torch float32 {noise['torch']:.2g}, MindSpore {noise['ms']:.2g})")
        row["pass"] = bool(ok_eval and ok_stats and row["loads"] and not ckpt_error and code == 0)
        if ckpt_error:
            row["error"] = ckpt_error
        elif code != 0:
            row["error"] = "mindspore: " + first_error(se)
        elif res.get("error"):
            row["error"] = res["error"]
        elif not ok_eval:
            row["error"] = f"eval outputs differ (max error {row['err']:.3g})"
        elif not ok_stats:
            row["error"] = f"BatchNorm statistics differ after a train step ({row['stat_err']:.3g})"
            if noise:
                row["error"] += (f"; from the float64 statistics: torch float32 {noise['torch']:.2g}, "
                                 f"MindSpore {noise['ms']:.2g}")
        elif row.get("stat_note"):
            row["error"] = row["stat_note"]
        row["params"] = info.get("params")
        rows.append(row)
        _print_row(row)
    n = sum(r["pass"] for r in rows)
    print(f"\n{n} of {len(rows)} architectures pass (eval outputs within {TOL} abs or rel, strict load, "
          f"BatchNorm statistics after a train step)")
    print(f"static map alone placed every tensor for {sum(bool(r.get('static')) for r in rows)} of {len(rows)}; "
          "the others were decided by the converted model built at run time (ckpt --ms-model)")
    print("\n| arch | builds | loads strictly | max error | BN stats | names by | pass | first error |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        err = "" if r["err"] is None else f"{r['err']:.2g}"
        stats = "" if r.get("stat_err") is None else (f"{r['stats']} ok" if r["stat_err"] <= TOL else f"{r['stat_err']:.2g}")
        by = "static map" if r.get("static") else "run time" if r.get("static") is False else ""
        print(f"| {r['arch']} | {'yes' if r['builds'] else 'no'} | {'yes' if r['loads'] else 'no'} | {err} | {stats} | "
              f"{by} | {'PASS' if r['pass'] else 'fail'} | {r['error'].replace('|', '/')} |")
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)
    return 0 if n == len(rows) else 1


def _print_row(r):
    err = "-" if r["err"] is None else f"{r['err']:.2g}"
    print(f"{r['arch']:<34} builds={'y' if r['builds'] else 'n'} loads={'y' if r['loads'] else 'n'} err={err:<8} "
          f"static={'y' if r.get('static') else 'n'} {'PASS' if r['pass'] else 'fail'}  {r['error'][:200]}"
          + (f"  [static map: {r['static_error'][:160]}]" if r.get("static_error") else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
