"""`ms-migrate verify` on the models of pytorch/examples: one run per model, its verdict and time.

    python benchmarks/verify_examples.py /path/to/pytorch/examples [--only NAME ...]

Prints a Markdown table (example, command, exit status, verdict, seconds). pytorch/examples is
not part of this repository; fetch it yourself. Each run converts the example folder into a
temporary folder, then builds and compares both models (see README, "Verifying a conversion").
"""
import argparse
import os
import subprocess
import sys
import time

TV = ["--stub", "torchvision"]
# (name, folder, model, inputs, extra options)
CASES = [
    ("mnist Net", "mnist", "main:Net()", ["float:2x1x28x28"], TV),
    ("vae VAE", "vae", "main:VAE()", ["float:2x1x28x28"], TV),
    ("vae VAE, classes in a module (1)", "@vae", "models:VAE()", ["float:2x1x28x28"], TV),
    ("dcgan Generator", "dcgan", "main:Generator(0)", ["float:2x100x1x1"], TV),
    ("dcgan Generator, classes in a module (1)", "@dcgan", "models:Generator(0)", ["float:2x100x1x1"], TV + ["--train"]),
    ("dcgan Discriminator, classes in a module (1)", "@dcgan", "models:Discriminator(0)", ["float:2x3x64x64"],
     TV + ["--train"]),
    ("word_language_model RNNModel LSTM", "word_language_model", "model:RNNModel('LSTM', 30, 8, 8, 2)",
     ["int:0-30:5x2", "float:2x2x8,float:2x2x8"], ["--train"]),
    ("word_language_model RNNModel GRU", "word_language_model", "model:RNNModel('GRU', 30, 8, 8, 2)",
     ["int:0-30:5x2", "float:2x2x8"], []),
    ("word_language_model RNNModel tied", "word_language_model",
     "model:RNNModel('RNN_TANH', 30, 8, 8, 2, 0.5, True)", ["int:0-30:5x2", "float:2x2x8"], []),
    ("word_language_model TransformerModel", "word_language_model", "model:TransformerModel(30, 16, 2, 32, 2)",
     ["int:0-30:5x2"], []),
    ("super_resolution Net", "super_resolution", "model:Net(3)", ["float:1x1x8x8"], ["--train"]),
    ("fast_neural_style TransformerNet", "fast_neural_style/neural_style", "transformer_net:TransformerNet()",
     ["float:1x3x16x16"], ["--train"]),
    ("siamese_network SiameseNetwork", "siamese_network", "main:SiameseNetwork()",
     ["float:2x1x28x28", "float:2x1x28x28"], TV),
    ("mnist_rnn Net", "mnist_rnn", "main:Net()", ["float:2x28x28"], TV),
    ("time_sequence_prediction Sequence (float64)", "time_sequence_prediction", "train:Sequence().double()",
     ["float64:3x6"], ["--stub", "matplotlib", "--ms-model", "ms_cast_parameters(Sequence(), mindspore.float64)"]),
    ("regression fc", "regression", "main:fc", ["float:4x4"], []),
    ("gat GAT", "gat", "main:GAT(8, 4, 2, 3, True, 0.0)", ["float:5x8", "float:5x5"], ["--stub", "requests"]),
    ("gcn GCN", "gcn", "main:GCN(8, 4, 3, True, 0.0)", ["float:5x8", "float:5x5"], ["--stub", "requests"]),
]


# (1) The script builds its datasets (dcgan: parses required arguments and trains) when imported,
# so its model cannot be imported as it is; as a user would, the benchmark moves the model classes
# into a module of their own (the file's imports, the globals they read, the classes; nothing else
# changed) and verifies that module. "@name" names such a folder; the table shows it as NAME-models.
EXTRACT = {
    "vae": ("vae/main.py", ["VAE"], ""),
    "dcgan": ("dcgan/main.py", ["Generator", "Discriminator"], "nc, nz, ngf, ndf = 3, 100, 64, 64\n"),
}


def extracted(examples, name, dest):
    import ast

    file, classes, prelude = EXTRACT[name]
    with open(os.path.join(examples, file)) as fh:
        text = fh.read()
    tree = ast.parse(text)
    parts = [ast.get_source_segment(text, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    parts.append(prelude)
    parts += [ast.get_source_segment(text, n) for n in tree.body if isinstance(n, ast.ClassDef) and n.name in classes]
    folder = os.path.join(dest, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "models.py"), "w") as fh:
        fh.write("\n\n".join(parts) + "\n")
    return folder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("examples")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", GLOG_v="3")
    import tempfile

    tmp = tempfile.mkdtemp(prefix="verify-examples-")
    print("| model | command (in pytorch/examples) | exit | verdict | seconds |")
    print("|---|---|---|---|---|")
    for name, folder, model, inputs, extra in CASES:
        if args.only and not any(o in name for o in args.only):
            continue
        shown_folder = folder
        if folder.startswith("@"):
            folder = extracted(args.examples, folder[1:], tmp)
            shown_folder = f"{folder[len(tmp) + 1:]}-models"
        cmd = ["verify", folder, "--model", model, *[a for i in inputs for a in ("--input", i)], *extra]
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "migrator", *cmd], capture_output=True, text=True,
                           cwd=args.examples, env=env)
        dt = time.perf_counter() - t0
        lines = (r.stdout + r.stderr).strip().splitlines()
        verdict = next((ln for ln in reversed(lines) if ln.startswith("verdict:")), lines[-1] if lines else "")
        first = next((ln for ln in lines if ln.startswith("first diverging")), "")
        text = verdict + (f"; {first}" if first else "")
        cmd[1] = shown_folder
        shown = " ".join((f'"{c}"' if "'" in c else f"'{c}'") if any(ch in c for ch in " (),'") else c
                         for c in cmd)
        print(f"| {name} | `ms-migrate {shown}` | {r.returncode} | {text.replace('|', '/')[:400]} | {dt:.1f} |",
              flush=True)
        if os.environ.get("VERBOSE"):
            print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
