"""Module.load_state_dict for MindSpore cells, taking torch's parameter names as well as MindSpore's.

Copied into converted files that call `model.load_state_dict(...)`. A state_dict saved by the
converted program has the cell's own names and loads as is. One that torch wrote (read by the
converted torch.load, say a model trained before the port) has torch's names: each is matched to
the cell's parameter by the layer it belongs to: BatchNorm's weight/bias/running_mean/running_var
are gamma/beta/moving_mean/moving_variance, LayerNorm/GroupNorm's gamma/beta, Embedding's
embedding_table, PReLU's w, BatchNorm3d's inside `bn2d`, a Transformer layer's linear1/linear2
are dense1/dense2, and DataParallel's `module.` prefix goes (the converted model has no wrapper).
num_batches_tracked has no MindSpore counterpart; Conv1d's 3-d weight is reshaped to MindSpore's
4-d one. What matches nothing is reported by Cell.load_state_dict (strict, as torch's).
"""
_LEAF_NAMES = {"weight": ("gamma", "embedding_table", "w"), "bias": ("beta",),
               "running_mean": ("moving_mean",), "running_var": ("moving_variance",)}
_SUBMODULE_NAMES = {"linear1": "dense1", "linear2": "dense2"}


def _ms_name(key, own):
    if key in own:
        return key
    *path, leaf = key.split(".")
    if leaf == "num_batches_tracked":
        return None
    renamed = [_SUBMODULE_NAMES.get(p, p) for p in path]
    paths = [path, renamed] + ([renamed[1:]] if renamed[:1] == ["module"] else [])
    for parts in paths:
        prefix = "".join(p + "." for p in parts)
        for name in (leaf, *_LEAF_NAMES.get(leaf, ())):
            for inner in ("", "bn2d."):
                if prefix + inner + name in own:
                    return prefix + inner + name
    return key


def ms_load_state_dict(cell, state_dict, strict=True, assign=False):
    own = cell.state_dict()
    if all(k in own for k in state_dict):
        return cell.load_state_dict(state_dict, strict)
    renamed = {}
    for key, value in state_dict.items():
        name = _ms_name(key, own)
        if name is None:
            continue
        target = own.get(name)
        if target is not None and tuple(value.shape) != tuple(target.shape) and value.size == target.size:
            value = value.reshape(target.shape)  # Conv1d: (out, in, k) -> (out, in, 1, k)
        renamed[name] = value
    # a BatchNorm with affine=False: torch keeps no weight/bias, MindSpore fixed gamma/beta (1 and 0)
    for name, value in own.items():
        prefix, _, leaf = name.rpartition(".")
        if leaf in ("gamma", "beta") and name not in renamed and f"{prefix}.moving_mean" in renamed:
            renamed[name] = value
    return cell.load_state_dict(renamed, strict)
