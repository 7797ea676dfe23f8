import os
import sys
import tempfile

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")  # see README: MindSpore CPU convolutions
os.environ.setdefault("GLOG_v", "3")  # MindSpore: errors only
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _helper_module_on_path() -> None:
    """Converted code that tests run in this process (exec of a converted string) imports the
    runtime helpers it uses from the generated module, `from ms_helpers import ...`: one module
    holding every helper, on sys.path for the whole session (a CLI conversion writes its own)."""
    from migrator import helper_module

    folder = tempfile.mkdtemp(prefix="ms-migrate-tests-helpers-")
    with open(os.path.join(folder, helper_module.MODULE_NAME + ".py"), "w", encoding="utf-8") as fh:
        fh.write(helper_module.module_text(helper_module.all_helpers()))
    sys.path.append(folder)  # after the folders of the programs tests write (theirs come first)


_helper_module_on_path()
