"""The ``ms-migrate`` command line.

``ms-migrate PATH...`` is ``ms-migrate convert PATH...``. Heavy modules (torch, mindspore) are
imported only by ``ms-migrate ckpt``; the converter and ``check`` need libcst and click only.
"""
from __future__ import annotations

import json
import os
import sys

import click

from . import __version__

EPILOG = """\b
Exit status: 0 everything translated; 1 converted, but untranslated torch APIs remain
(each marked in the output with '# ms-migrate: untranslated ...'); 2 some input could not
be processed (named on stderr; the rest was still converted) or bad usage; 130 interrupted.
"""


class _DefaultToConvert(click.Group):
    """Lets `ms-migrate model.py` mean `ms-migrate convert model.py`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["convert", *args]
        elif not args:
            args = ["--help"]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToConvert, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="ms-migrate")
def main() -> None:
    """ms-migrate: convert PyTorch programs into MindSpore programs.

    \b
      ms-migrate train.py                 writes train_mindspore.py beside it
      ms-migrate src/ -o src_ms/          mirrors a folder (non-Python files copied)
      ms-migrate check src/               lint for torch APIs left or untranslatable
      ms-migrate ckpt model.pth -o model.ckpt --param-map map.json
      ms-migrate verify src/ --model models:Net() --input float:2x3x32x32   compare both models
      ms-migrate rules --json             every mapping rule
    """


@main.command(epilog=EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out", type=click.Path(), help="Output file or folder. Default: X_mindspore.py / D_mindspore/ beside each input.")
@click.option("--inplace", is_flag=True, help="Rewrite the input files themselves (the only way inputs change).")
@click.option("--diff", is_flag=True, help="Print a unified diff and write nothing.")
@click.option("--report", "report_path", type=click.Path(), help="Write the JSON report to this file.")
@click.option("--param-map", "param_map_path", type=click.Path(),
              help="Write the parameter map (torch state_dict name -> MindSpore name per model class). "
                   "Default: ms_migrate_param_map.json in the output folder (or beside the output file).")
@click.option("-j", "--jobs", type=int, default=0, help="Processes for folders (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="Only the one-line summary on stderr (and errors).")
def convert(paths, out, inplace, diff, report_path, param_map_path, jobs, quiet):
    """Convert PyTorch files or folders to MindSpore."""
    from .pipeline import UsageError, helper_files, plan, run, unified_diff, write_generated

    if inplace and out:
        raise click.UsageError("--inplace and -o exclude each other")
    write = not diff
    try:
        tasks = plan(list(paths), out, inplace, write)
    except UsageError as exc:
        click.echo(f"ms-migrate: error: {exc}", err=True)
        sys.exit(2)
    try:
        _stop_on_sigterm()
        report = run(tasks, jobs=jobs, keep_output=diff, progress=sys.stderr.isatty() and not quiet,
                     param_map=not diff)
    except KeyboardInterrupt:
        click.echo("\nms-migrate: interrupted; each output written so far is complete, none is half-written",
                   err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # the workers are stopped and every write finished; exit without the interpreter's exit
        # hooks, one of which (concurrent.futures) can print a traceback about the pipe it
        # shared with workers that are gone
        os._exit(130)
    generated = helper_files(tasks, report)
    if diff:
        for t, res in zip([t for t in tasks if t.python or t.error], report.files):
            if res.output is not None and res.status == "converted":
                with open(t.src, "rb") as fh:
                    click.echo(unified_diff(t.display, fh.read(), res.output), nl=False)
        for path, text, old in generated:  # the helper module, a new file (or one that grows)
            click.echo(unified_diff(os.path.relpath(path), old or b"", text), nl=False)
    else:
        report.generated = write_generated(generated, report)
    lines = report.summary_lines()
    for line in (lines[-1:] if quiet else lines):
        click.echo(line, err=True)
    if quiet:
        for f in report.errors:
            click.echo(f"{f.path}: error: {f.error}", err=True)
    if report_path:
        report.write_json(report_path)
    if write:
        from .param_map import write_param_map
        dest = param_map_path or _default_param_map_path(tasks, out, inplace)
        if dest and write_param_map(report, dest) and not quiet:
            click.echo(f"ms-migrate: parameter map written to {dest}", err=True)
    if any(t.python and t.dst for t in tasks) and not quiet and report.apis_translated:
        click.echo("ms-migrate: tip: on CPUs with AVX-512, set ONEDNN_MAX_CPU_ISA=AVX2 before running the "
                   "converted code; MindSpore's CPU convolutions are much faster with it.", err=True)
    sys.exit(report.exit_code())


def _stop_on_sigterm() -> None:
    """A kill stops a run the way Ctrl-C does (workers stopped, no partial file)."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)


def _default_param_map_path(tasks, out, inplace) -> str | None:
    dests = [t.dst for t in tasks if t.dst]
    if not dests:
        return None
    if out and (os.path.isdir(out) or len(tasks) > 1):
        return os.path.join(out, "ms_migrate_param_map.json")
    first = dests[0]
    return os.path.join(os.path.dirname(os.path.abspath(first)), "ms_migrate_param_map.json")


@main.command("rules")
@click.option("--json", "as_json", is_flag=True, help="Print every rule as a JSON object.")
def rules_cmd(as_json):
    """List the mapping rules (torch API -> MindSpore)."""
    from .rules import default_rules
    from .ruledocs import rule_records

    records = rule_records(default_rules())
    if as_json:
        click.echo(json.dumps(records, indent=1))
        return
    for r in records:
        click.echo(f"{r['torch']:50} -> {r['mindspore'] or '(untranslated: ' + r['reason'] + ')'}")
    n = sum(1 for r in records if r["mindspore"])
    click.echo(f"{len(records)} rules, {n} with a MindSpore target, {sum(1 for r in records if r['tested'])} tested",
               err=True)


# ---- ms-migrate check (issue 6) -------------------------------------------------------------
CHECK_EPILOG = """\b
Exit status: 0 no findings; 1 findings; 2 a file could not be checked (E001-E003: named,
the rest still checked) or bad usage. Suppress one line with `# ms-migrate: ignore[CODE]`.
Codes: `ms-migrate check --codes`, or README.md ("Check mode and pre-commit").
"""


@main.command("check", epilog=CHECK_EPILOG)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="text: one `path:line:col: CODE message` a line; json; sarif (SARIF 2.1.0, for GitHub code scanning).")
@click.option("--select", multiple=True, metavar="CODES",
              help="Report only these codes (comma-separated; a prefix such as MSM1 or ALL). Default: every code but MSM004.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Do not report these codes (comma-separated, prefixes).")
@click.option("-o", "--output", type=click.Path(), help="Write the report to this file instead of stdout.")
@click.option("--codes", "list_codes", is_flag=True, help="Print the table of codes and exit.")
def check_cmd(paths, fmt, select, ignore, output, list_codes):
    """Lint files or folders for torch APIs ms-migrate cannot translate and torch left in converted code."""
    from . import check

    if list_codes:
        click.echo(check.codes_table(), nl=False)
        return
    if not paths:
        raise click.UsageError("give at least one file or folder")
    try:
        check.selected_codes(select, ignore)
    except check.SelectionError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(check.main(list(paths), fmt, select, ignore, output))
# ---- end of ms-migrate check ------------------------------------------------------------------


if __name__ == "__main__":
    main()


# ---- ms-migrate ckpt (checkpoint conversion; torch and mindspore are imported only here) ------
@main.command("ckpt")
@click.argument("src", type=click.Path())
@click.option("-o", "--output", "dst", type=click.Path(), help="The MindSpore checkpoint to write. Default: IN with the suffix .ckpt.")
@click.option("--param-map", "param_map_path", type=click.Path(),
              help="The parameter map written when the model was converted. Default: ./ms_migrate_param_map.json.")
@click.option("--model", help="The root model class in the map (Class or path.py:Class). Default: inferred from the names.")
@click.option("--torchvision", "torchvision_arch", metavar="ARCH",
              help="The checkpoint is a torchvision model (resnet50, vgg16_bn, ...): convert it for the builder "
                   "ms-migrate translates models.ARCH() to. No parameter map is needed.")
@click.option("--partial", is_flag=True, help="Write the tensors that convert even if some cannot (they are listed).")
@click.option("--trust-pickle", is_flag=True,
              help="Allow full unpickling (torch.load(weights_only=False)). A pickle can run code: only for files you trust.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary, not one line per tensor.")
@click.option("--ms-model", metavar="EXPR",
              help="Build the converted MindSpore model (a Python expression: \"models.net.Net(10)\", "
                   "\"timm.create_model('resnet18')\") and take from it what the static map cannot decide; "
                   "every name is then checked against it. Runs the converted code.")
@click.option("--ms-path", type=click.Path(), help="Folder put first on sys.path for --ms-model. "
              "Default: the parameter map's folder.")
def ckpt_cmd(src, dst, param_map_path, model, torchvision_arch, partial, trust_pickle, quiet, ms_model, ms_path):
    """Convert a torch checkpoint (.pth/.pt/.bin state_dict, or .safetensors) to a MindSpore .ckpt.

    \b
    Every tensor is reported: kept, renamed, transformed, dropped (and why), tied, or filled.
    Nothing is written when a name is not in the map or a shape does not fit, unless --partial.
    Exit status: 0 converted; 1 written with --partial but some tensors left out; 2 nothing written.
    """
    from .param_map import DEFAULT_NAME

    os.environ.setdefault("GLOG_v", "3")
    param_map = param_map_path
    if torchvision_arch is not None:
        from .checkpoint import LAYER_ROOT
        from .rules import default_rules

        if model is not None or param_map_path is not None:
            raise click.UsageError("--torchvision replaces --model and --param-map; give one or the other")
        rule = default_rules().get(f"torchvision.models.{torchvision_arch}")
        if rule is None or rule.nested_params is None:
            known = sorted(r.torch.rsplit(".", 1)[1] for r in default_rules().rules
                           if r.torch.startswith("torchvision.models.") and r.nested_params and r.torch.count(".") == 2
                           and r.torch.rsplit(".", 1)[1].islower())
            raise click.UsageError(f"--torchvision {torchvision_arch}: not a builder ms-migrate translates "
                                   f"(known: {', '.join(known)})")
        model, param_map = f"{LAYER_ROOT}torchvision.models.{torchvision_arch}", {"classes": {}, "layers": {}}
    elif param_map_path is None:
        if not os.path.exists(DEFAULT_NAME):
            raise click.UsageError(f"no --param-map given and no ./{DEFAULT_NAME}: pass the map written when "
                                   "the model was converted (ms-migrate model.py --param-map MAP)")
        param_map = DEFAULT_NAME
    if dst is None:
        dst = os.path.splitext(src)[0] + ".ckpt"
    if os.path.abspath(dst) == os.path.abspath(src):
        raise click.UsageError("the output would overwrite the input; choose another -o")
    from .checkpoint import CheckpointError, UnplacedTensors, convert_checkpoint

    try:
        if ms_model and ms_path is None and isinstance(param_map, str):
            ms_path = os.path.dirname(os.path.abspath(param_map))
        plan = convert_checkpoint(src, dst, param_map, model=model, partial=partial,
                                  trust_pickle=trust_pickle, echo=click.echo, quiet=quiet,
                                  ms_model=ms_model, ms_path=ms_path)
    except (CheckpointError, ValueError, OSError) as exc:
        click.echo(f"ms-migrate ckpt: error: {exc}", err=True)
        # 1: tensors it could not place (each named above); 2: no checkpoint or map to read
        sys.exit(1 if isinstance(exc, UnplacedTensors) else 2)
    sys.exit(1 if plan.errors else 0)
# ---- end of ms-migrate ckpt ---------------------------------------------------------------------


# ---- ms-migrate verify (issue 18; torch and mindspore run in child processes) -------------------
VERIFY_EPILOG = """\b
Exit status: 0 every output, gradient (and with --train, train-mode output and running
statistic) within tolerance; 1 a difference (the first diverging submodule is named);
2 could not compare (the reason is printed: import error, strict load failure, input rejected,
a model random in eval mode, torch or MindSpore not installed).
A value is within tolerance when max abs error <= atol + rtol x scale (scale: max |torch value|).
"""


@main.command("verify", epilog=VERIFY_EPILOG)
@click.argument("src", type=click.Path())
@click.option("--model", "model", required=True, metavar="MODULE:EXPR",
              help="A module of the tree (dotted, relative to its root) and an expression evaluated in it, "
                   "e.g. models.resnet:ResNet18(num_classes=10). For a single file SRC, MODULE may be left out.")
@click.option("--input", "inputs", multiple=True, required=True, metavar="SPEC",
              help="One per positional input: float:2x3x32x32, int:0-64:2x16 (low-high:shape), bool:4x4; specs joined by commas make a tuple (an LSTM state: float:2x1x8,float:2x1x8).")
@click.option("-o", "--output", "out", type=click.Path(),
              help="The converted tree. Converted from SRC first if it does not exist (a temporary folder "
                   "without -o); used as it is if it exists (hand edits are verified).")
@click.option("--atol", type=float, default=1e-5, show_default=True)
@click.option("--rtol", type=float, default=1e-4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the model, the inputs and the projection.")
@click.option("--train", is_flag=True, help="Also compare one train-mode forward and the running statistics after it.")
@click.option("--report", "report_path", type=click.Path(), help="Write everything as JSON to this file.")
@click.option("--ms-model", "ms_model", metavar="EXPR",
              help="The expression on the MindSpore side when it is not the same text, e.g. "
                   "'ms_cast_parameters(Net(), mindspore.float64)' for --model 'Net().double()'.")
@click.option("--stub", "stubs", multiple=True, metavar="MODULE",
              help="Import MODULE (and its submodules) as an empty stand-in on both sides: for imports the "
                   "model does not need and that are not installed (e.g. torchvision in a training script).")
def verify_cmd(src, model, inputs, out, atol, rtol, seed, train, report_path, ms_model, stubs):
    """Check that the converted MindSpore model computes what the torch model computes.

    \b
    Builds the torch model from SRC with the seed, converts its state_dict through the parameter
    map (as `ms-migrate ckpt` does), loads it strictly into the converted model, and compares in
    eval mode every output and the gradients of a fixed random projection of the outputs with
    respect to every parameter. Example:
      ms-migrate verify src/ --model models.net:Net() --input float:2x3x32x32
    """
    from .verify import run

    sys.exit(run(src, model, list(inputs), out, atol=atol, rtol=rtol, seed=seed, train=train,
                 report=report_path, stubs=tuple(stubs), echo=click.echo, ms_model=ms_model))
# ---- end of ms-migrate verify -------------------------------------------------------------------
