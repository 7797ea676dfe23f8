"""Run real PyTorch training programs twice: the original under torch, the conversion with torch gone.

    python benchmarks/real_programs.py CORPUS_DIR [--list FILE] [--only NAME] [--timeout S]
                                       [--jobs N] [--json OUT]

CORPUS_DIR holds the fetched repositories (one folder per repository, named as in the list file).
The list file (default benchmarks/real_programs.toml) names each program: the repository folder,
the repository-relative path, the arguments that make it small (few epochs, iterations, batches)
and the synthetic data it reads. For each program the runner

1. writes that data into a fresh temp folder (MNIST/FashionMNIST idx files in torchvision's
   layout, CIFAR-10 python batches, a text corpus, an image folder, ...);
2. runs the original under torch from a temp cwd (torchvision does not import beside torch 2.13
   here: benchmarks/real_programs_shim/ puts a data-only torchvision on the original's path,
   datasets/transforms/save_image, and nothing else);
3. converts the program's folder with the ms-migrate CLI into a temp folder;
4. runs the conversion from a fresh temp cwd with the same data, torch and torchvision made
   unimportable (a PYTHONPATH folder whose torch.py/torchvision.py raise ImportError);

and prints a table: program, original ok, converted ok, first error line, losses finite (no
'nan'/'inf' printed by the converted run). Nothing of the programs is copied into this repository.
"""
import argparse
import concurrent.futures
import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHIM = os.path.join(HERE, "real_programs_shim")
CWD_DEPTH = ("w", "x", "y")   # programs run from TMP/w/x/y, so '../../data' lands inside TMP

WORDS = ("the model learns a small language from a text corpus written for the runner and it trains "
         "for a few steps on the cpu while the loss goes down slowly because the data is random").split()


# ---------------------------------------------------------------- synthetic data
def _open(path, mode):
    """open(), gzip'ed when the name ends in .gz"""
    import gzip
    return gzip.open(path, mode) if path.endswith(".gz") else open(path, mode)


def _idx(path, arr):
    with _open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, arr.ndim]))
        for d in arr.shape:
            fh.write(struct.pack(">I", d))
        fh.write(arr.astype(np.uint8).tobytes())


def write_mnist(root, kind="MNIST", n_train=256, n_test=128, seed=0, suffix=""):
    rng = np.random.default_rng(seed)
    for folder in (os.path.join(root, kind, "raw") if kind else root,):  # torchvision's layout, or flat
        os.makedirs(folder, exist_ok=True)
        for split, n in (("train", n_train), ("t10k", n_test)):
            labels = rng.integers(0, 10, n).astype(np.uint8)
            images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
            for i, lab in enumerate(labels):
                images[i, 2 + 2 * lab: 6 + 2 * lab, 4:24] = 255
            _idx(os.path.join(folder, f"{split}-images-idx3-ubyte{suffix}"), images)
            _idx(os.path.join(folder, f"{split}-labels-idx1-ubyte{suffix}"), labels)


def write_cifar10(root, n_train=200, n_test=100, seed=0):
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    per = n_train // 5
    for name, n in [(f"data_batch_{i}", per) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = rng.integers(0, 10, n).tolist()
        data = (rng.random((n, 3 * 32 * 32)) * 255).astype(np.uint8)
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, fh)
    with open(os.path.join(folder, "batches.meta"), "wb") as fh:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, fh)


def write_text(path, lines=200, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with _open(path, "wt") as fh:
        for _ in range(lines):
            fh.write(" ".join(rng.choice(WORDS, int(rng.integers(4, 12)))) + "\n")


def write_images(root, classes=2, per_class=8, size=32, seed=0, ext="png"):
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = os.path.join(root, f"class_{c}") if classes else root
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            arr = (rng.random((size, size, 3)) * 255).astype(np.uint8)
            Image.fromarray(arr).save(os.path.join(folder, f"{i:04d}.{ext}"))
        if not classes:
            break


def write_nanogpt_char(folder, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    chars = sorted(set(" ".join(WORDS)))
    for name, k in (("train.bin", n), ("val.bin", n // 10)):
        rng.integers(0, len(chars), k).astype(np.uint16).tofile(os.path.join(folder, name))
    with open(os.path.join(folder, "meta.pkl"), "wb") as fh:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)),
                     "stoi": {c: i for i, c in enumerate(chars)}}, fh)


def write_data(cwd, specs, src_dir):
    for spec in specs:
        kind = spec["kind"]
        where = os.path.normpath(os.path.join(cwd, spec.get("root", spec.get("path", "."))))
        if kind in ("mnist", "fashion_mnist"):
            write_mnist(where, "MNIST" if kind == "mnist" else "FashionMNIST",
                        spec.get("n_train", 256), spec.get("n_test", 128))
        elif kind == "mnist_flat":   # the idx files directly in root
            write_mnist(where, "", spec.get("n_train", 256), spec.get("n_test", 128), suffix=spec.get("suffix", ""))
        elif kind == "cifar10":
            write_cifar10(where, spec.get("n_train", 200), spec.get("n_test", 100))
        elif kind == "text":
            write_text(where, spec.get("lines", 200))
        elif kind == "images":
            write_images(where, spec.get("classes", 2), spec.get("per_class", 8), spec.get("size", 32),
                         ext=spec.get("ext", "png"))
        elif kind == "nanogpt_char":
            write_nanogpt_char(where)
        elif kind == "file":
            os.makedirs(os.path.dirname(where), exist_ok=True)
            with _open(where, "wt") as fh:
                fh.write(spec["content"] * spec.get("repeat", 1))
        elif kind == "dir":   # a folder the program writes into
            os.makedirs(where, exist_ok=True)
        elif kind == "copy":   # a file of the program's folder (the converted one for the conversion)
            shutil.copy(os.path.join(src_dir, spec["src"]), where)
        elif kind == "csv":   # numeric rows: `cols` float columns, the last one 0/1
            rng = np.random.default_rng(0)
            os.makedirs(os.path.dirname(where), exist_ok=True)
            rows = rng.random((spec.get("rows", 100), spec["cols"])) * 2 - 1
            rows[:, -1] = rows[:, -1] > 0
            with _open(where, "wt") as fh:
                np.savetxt(fh, rows, delimiter=",", fmt="%.4f")
        else:
            raise ValueError(f"unknown data kind {kind!r}")


# ---------------------------------------------------------------- running
BLOCKER = '''raise ImportError("{0} is not available: this program was converted to MindSpore")\n'''


def _blocker_dir(tmp):
    d = os.path.join(tmp, "_no_torch")
    os.makedirs(d, exist_ok=True)
    for mod in ("torch", "torchvision", "torchaudio", "torchtext"):
        with open(os.path.join(d, mod + ".py"), "w") as fh:
            fh.write(BLOCKER.format(mod))
    return d


def _env(extra_path):
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="", ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3",
               PYTHONHASHSEED="0", OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join(p for p in extra_path if p)
    return env


def _first_error(stderr, stdout):
    lines = [ln.rstrip() for ln in (stderr or "").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b", ln) or "Segmentation fault" in ln:
            return ln[:160]
    return lines[-1][:160] if lines else ""


def _run(cmd, cwd, env, timeout):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (
            e.stdout or ""), f"timeout after {timeout}s"
    return {"ok": rc == 0, "rc": rc, "seconds": round(time.time() - t0, 1), "stdout": out[-4000:],
            "stderr": err[-4000:], "error": "" if rc == 0 else (
                f"timeout after {timeout}s" if rc == "timeout" else
                (f"signal {-rc}" if isinstance(rc, int) and rc < 0 else _first_error(err, out)))}


def _finite(stdout):
    return not re.search(r"(?<![\w.])-?(nan|inf)(?![\w])", stdout or "", re.IGNORECASE)


def load_originals(path):
    """Original results of an earlier run: its --json, or its progress log (stderr lines
    `[i/n] NAME: original ok|FAIL...`)."""
    with open(path) as fh:
        text = fh.read()
    if path.endswith(".json"):
        return {r["name"]: r["original"] for r in json.loads(text)}
    out = {}
    for m in re.finditer(r"^\[\d+/\d+\] (.+?): original (ok|FAIL)", text, re.M):
        out[m.group(1)] = {"ok": m.group(2) == "ok", "error": "" if m.group(2) == "ok" else "failed (earlier run)",
                           "reused": True}
    return out


def run_program(prog, corpus, timeout, keep=False, original=None):
    src = os.path.join(corpus, prog["repo"], prog["path"])
    name = prog["name"]
    if not os.path.exists(src):
        return {"name": name, "repo": prog["repo"], "original": {"ok": False, "error": "missing: " + prog["path"]},
                "converted": {"ok": False, "error": "not run"}, "finite": None}
    tmp = tempfile.mkdtemp(prefix="realprog_")
    args = [str(a) for a in prog.get("args", [])]
    data = prog.get("data", [])
    res = {"name": name, "repo": prog["repo"], "path": prog["path"]}
    try:
        # 1. the original, from TMP/orig/w/x/y
        cwd = os.path.join(tmp, "orig", *CWD_DEPTH)
        os.makedirs(cwd)
        write_data(cwd, data, os.path.dirname(src))
        res["original"] = original or _run([sys.executable, src] + args, cwd, _env([SHIM]), timeout)
        if not res["original"]["ok"]:  # only programs whose original runs are measured
            res["converted"], res["finite"] = {"ok": False, "error": "not run (the original fails)"}, None
            return res
        # 2. convert the program's folder with the CLI
        out_dir = os.path.join(tmp, "converted")
        conv = subprocess.run([sys.executable, "-m", "migrator", "convert", os.path.dirname(src), "-o", out_dir],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
        res["convert_rc"] = conv.returncode
        target = os.path.join(out_dir, os.path.basename(src))
        if not os.path.exists(target):
            res["converted"] = {"ok": False, "error": "conversion failed: " + _first_error(conv.stderr, conv.stdout)}
        else:
            untranslated = sum(1 for ln in open(target, encoding="utf-8") if "ms-migrate: untranslated" in ln)
            res["untranslated_markers"] = untranslated
            # 3. the conversion, from TMP/conv/w/x/y with the same data and torch unimportable
            cwd = os.path.join(tmp, "conv", *CWD_DEPTH)
            os.makedirs(cwd)
            write_data(cwd, data, out_dir)
            res["converted"] = _run([sys.executable, target] + args, cwd, _env([_blocker_dir(tmp), out_dir]), timeout)
        res["finite"] = _finite(res["converted"].get("stdout")) if res["converted"]["ok"] else None
    finally:
        if keep:
            res["tmp"] = tmp
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def load_list(path):
    with open(path, "rb") as fh:
        progs = tomllib.load(fh)["program"]
    for p in progs:
        p.setdefault("name", p["repo"] + "/" + p["path"])
    return progs


def print_table(results):
    w = max(len(r["name"]) for r in results)
    print(f"{'program':<{w}}  orig  conv  finite  first error")
    for r in results:
        o, c = r["original"], r["converted"]
        err = c.get("error", "") if o.get("ok") else "original: " + o.get("error", "")
        fin = "-" if r.get("finite") is None else ("yes" if r["finite"] else "NO")
        print(f"{r['name']:<{w}}  {'ok' if o.get('ok') else 'FAIL':<4}  {'ok' if c.get('ok') else 'FAIL':<4}  "
              f"{fin:<6}  {err}")
    base = [r for r in results if r["original"].get("ok")]
    both = [r for r in base if r["converted"].get("ok") and r.get("finite")]
    share = 100.0 * len(both) / len(base) if base else 0.0
    print(f"\n{len(results)} programs from {len({r['repo'] for r in results})} repositories; "
          f"original runs: {len(base)}; converted runs to the end with finite losses: {len(both)} "
          f"({share:.1f}% of those whose original runs)")


def markdown_from_log(path, list_file):
    """The docs table (program, repo, original ok, converted ok, first error) from a run's progress
    log (its stderr), for a run that was stopped before it wrote --json."""
    repos = {p["name"]: p["repo"] for p in load_list(list_file)}
    rows, base, both = [], 0, 0
    pat = r"^\[\d+/\d+\] (.+?): original (ok|FAIL), converted (ok|FAIL)(?:: (.*))?$"
    for m in re.finditer(pat, open(path).read(), re.M):
        name, orig, conv, err = m.group(1), m.group(2) == "ok", m.group(3) == "ok", (m.group(4) or "")
        base += orig
        both += orig and conv
        err = "" if conv else ("(original fails)" if not orig else err.replace("|", "\\|")[:110])
        rows.append(f"| {name.split('/', 1)[1]} | {repos.get(name, '?')} | {'ok' if orig else 'FAIL'} | "
                    f"{'ok' if conv else ('-' if not orig else 'FAIL')} | {err} |")
    head = ["| program | repo | original | converted | first error |", "|---|---|---|---|---|"]
    share = 100.0 * both / base if base else 0.0
    return "\n".join(head + rows) + (f"\n\n{len(rows)} programs; original runs: {base}; converted runs to the end: "
                                    f"{both} ({share:.1f}%)\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="folder holding the fetched repositories")
    ap.add_argument("--list", default=os.path.join(HERE, "real_programs.toml"))
    ap.add_argument("--only", action="append", help="run only programs whose name contains this (repeatable)")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--json", help="write the full results (with stdout/stderr tails) here")
    ap.add_argument("--originals-from", help="reuse the original runs of an earlier run (its --json or its "
                    "stderr progress log) instead of running the originals again")
    ap.add_argument("--keep", action="store_true", help="keep the temp folders (their paths are in the json)")
    ap.add_argument("--markdown-from", metavar="LOG", help="print the docs table from a run's progress log and exit")
    a = ap.parse_args(argv)
    if a.markdown_from:
        print(markdown_from_log(a.markdown_from, a.list))
        return 0
    progs = load_list(a.list)
    if a.only:
        progs = [p for p in progs if any(o in p["name"] for o in a.only)]
    with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as ex:
        def job(p):  # the earlier run's log is read when the program starts (that run may still be going)
            original = load_originals(a.originals_from).get(p["name"]) if a.originals_from else None
            return run_program(p, a.corpus, a.timeout, a.keep, original)
        futs = [ex.submit(job, p) for p in progs]
        results = []
        for p, f in zip(progs, futs):
            r = f.result()
            results.append(r)
            if a.json:  # written as it goes: a stopped run keeps what it measured
                with open(a.json, "w") as fh:
                    json.dump(results, fh, indent=1)
            print(f"[{len(results)}/{len(progs)}] {r['name']}: original "
                  f"{'ok' if r['original'].get('ok') else 'FAIL'}, converted "
                  f"{'ok' if r['converted'].get('ok') else 'FAIL: ' + r['converted'].get('error', '')}",
                  file=sys.stderr, flush=True)
    print_table(results)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
