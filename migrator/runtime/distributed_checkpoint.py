"""torch.distributed.checkpoint (DCP) with MindSpore checkpoints.

dcp.save(state_dict, checkpoint_id=folder) writes each rank's state dict into the folder as a
MindSpore checkpoint (`__<rank>_0.ckpt`, the converted torch.save's format: tensors, plus the
structure and plain values); dcp.load(state_dict, checkpoint_id=folder) reads this rank's file
(rank 0's when there is none: a one-process save, loaded on more ranks) and loads it in place, as
torch's does: a model's parameters take the saved values, other entries are replaced. Values with
state_dict()/load_state_dict() (torch's Stateful: a model, an optimizer, an object of the
program's) are saved through those methods and restored by them. Parameters are whole on every
rank here (see the FSDP helper), so there is nothing to reshard. A folder torch's DCP wrote
(`.metadata` + `*.distcp`) is refused by name: convert it to one file with torch's
format_utils.dcp_to_torch_save, which the converted program reads.
The state_dict helpers (get_model_state_dict ...) are the model's and optimizer's own.
"""
import os
import types

import mindspore
import mindspore.mint.distributed
from mindspore.communication import get_rank

from .checkpoint_io import ms_load, ms_save
from .load_state_dict import ms_load_state_dict
from .optimizer_state import ms_optimizer_load_state_dict, ms_optimizer_state_dict


class FileSystemWriter:
    """Where dcp.save writes: a folder."""

    def __init__(self, path, *args, **kwargs):
        self.path = os.fspath(path)


class FileSystemReader:
    """Where dcp.load reads: a folder."""

    def __init__(self, path, *args, **kwargs):
        self.path = os.fspath(path)


def _dcp_folder(checkpoint_id, storage):
    if storage is not None:
        return storage.path
    if checkpoint_id is None:
        raise ValueError("torch.distributed.checkpoint: give checkpoint_id (a folder) or a storage reader/writer")
    return os.fspath(checkpoint_id)


def _dcp_rank():
    return get_rank() if mindspore.mint.distributed.is_initialized() else 0


def _is_optimizer(value):
    return isinstance(value, mindspore.experimental.optim.Optimizer)


def _dcp_plain(value):
    """A value as saved: tensors and containers as they are, a Stateful object's state dict."""
    if _is_optimizer(value):
        return ms_optimizer_state_dict(value)
    if isinstance(value, mindspore.nn.Cell):
        return value.state_dict()
    if isinstance(value, dict):
        return {k: _dcp_plain(v) for k, v in value.items()}
    if not isinstance(value, mindspore.Tensor) and callable(getattr(value, "state_dict", None)):
        return _dcp_plain(value.state_dict())
    return value


def ms_dcp_save(state_dict, checkpoint_id=None, storage_writer=None, planner=None, process_group=None,
                no_dist=False, **kwargs):
    folder = _dcp_folder(checkpoint_id, storage_writer)
    os.makedirs(folder, exist_ok=True)
    ms_save(_dcp_plain(state_dict), os.path.join(folder, f"__{_dcp_rank()}_0.ckpt"))


def _dcp_restore(target, saved, where):
    """Loads `saved` into `target` in place (torch's DCP semantics)."""
    if _is_optimizer(target):
        ms_optimizer_load_state_dict(target, saved)
        return target
    if isinstance(target, mindspore.nn.Cell):
        ms_load_state_dict(target, saved)
        return target
    if isinstance(target, mindspore.Parameter):
        target.set_data(mindspore.Tensor(saved.asnumpy() if isinstance(saved, mindspore.Tensor) else saved,
                                         dtype=target.dtype))
        return target
    if isinstance(target, dict):
        if not isinstance(saved, dict):
            raise ValueError(f"torch.distributed.checkpoint.load: {where or 'the state dict'} was saved as a "
                             f"{type(saved).__name__}")
        for key in target:
            if key not in saved:
                raise ValueError(f"torch.distributed.checkpoint.load: {where + '.' if where else ''}{key} "
                                 "is not in the checkpoint")
            target[key] = _dcp_restore(target[key], saved[key], f"{where}.{key}" if where else str(key))
        return target
    if not isinstance(target, mindspore.Tensor) and callable(getattr(target, "load_state_dict", None)):
        state = target.state_dict()
        target.load_state_dict(_dcp_restore(state, saved, where) if isinstance(state, dict) else saved)
        return target
    return saved


def ms_dcp_load(state_dict, checkpoint_id=None, storage_reader=None, planner=None, process_group=None,
                no_dist=False, **kwargs):
    folder = _dcp_folder(checkpoint_id, storage_reader)
    path = os.path.join(folder, f"__{_dcp_rank()}_0.ckpt")
    if not os.path.exists(path):
        path = os.path.join(folder, "__0_0.ckpt")
    if not os.path.exists(path):
        if os.path.exists(os.path.join(folder, ".metadata")):
            raise ValueError(f"{folder}: a checkpoint torch's DCP wrote; convert it to one file with torch's "
                             "format_utils.dcp_to_torch_save and read that file instead")
        raise FileNotFoundError(f"{folder}: no checkpoint saved by the converted dcp.save here")
    _dcp_restore(state_dict, ms_load(path), "")


def ms_state_dict_options(full_state_dict=False, cpu_offload=False, ignore_frozen_params=False,
                          keep_submodule_prefixes=True, strict=True, broadcast_from_rank0=False,
                          flatten_optimizer_state_dict=False, dsd_fqn_modifiers="_fqn_modifiers"):
    """StateDictOptions: parameters are whole on every rank, so only `strict` changes anything."""
    if ignore_frozen_params:
        raise NotImplementedError("StateDictOptions(ignore_frozen_params=True) is not translated")
    return types.SimpleNamespace(full_state_dict=full_state_dict, cpu_offload=cpu_offload, strict=strict,
                                 ignore_frozen_params=ignore_frozen_params, broadcast_from_rank0=broadcast_from_rank0,
                                 keep_submodule_prefixes=keep_submodule_prefixes,
                                 flatten_optimizer_state_dict=flatten_optimizer_state_dict)


def _one_optimizer(optimizers):
    if isinstance(optimizers, (list, tuple)):
        if len(optimizers) != 1:
            raise NotImplementedError("state dicts of several optimizers at once are not translated: one at a time")
        return optimizers[0]
    return optimizers


def ms_get_model_state_dict(model, submodules=None, options=None):
    if submodules is not None:
        raise NotImplementedError("get_model_state_dict(submodules=...) is not translated")
    return model.state_dict()


def ms_get_optimizer_state_dict(model, optimizers, submodules=None, options=None):
    return ms_optimizer_state_dict(_one_optimizer(optimizers))


def ms_get_state_dict(model, optimizers, submodules=None, options=None):
    return ms_get_model_state_dict(model, submodules, options), ms_get_optimizer_state_dict(model, optimizers)


def ms_set_model_state_dict(model, model_state_dict, options=None):
    return ms_load_state_dict(model, model_state_dict, getattr(options, "strict", True))


def ms_set_optimizer_state_dict(model, optimizers, optim_state_dict, options=None):
    ms_optimizer_load_state_dict(_one_optimizer(optimizers), optim_state_dict)


def ms_set_state_dict(model, optimizers, model_state_dict, optim_state_dict, options=None):
    result = ms_set_model_state_dict(model, model_state_dict, options)
    ms_set_optimizer_state_dict(model, optimizers, optim_state_dict, options)
    return result
