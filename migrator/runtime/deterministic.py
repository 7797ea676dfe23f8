"""torch.backends.cudnn.deterministic (and torch.use_deterministic_algorithms): MindSpore's
deterministic computing, a per-process setting that mindspore.set_deterministic accepts once.

Setting it to what it already is does nothing; a different value after it was set warns and keeps
the first (MindSpore refuses to change it).
"""
import warnings

import mindspore


def ms_deterministic():
    return mindspore.get_context("deterministic") == "ON"


def ms_set_deterministic(flag):
    flag = bool(flag)
    if ms_deterministic() == flag:
        return
    try:
        mindspore.set_deterministic(flag)
    except RuntimeError:
        warnings.warn(f"MindSpore sets deterministic computing once per process; it stays {ms_deterministic()}")
