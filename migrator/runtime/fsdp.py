"""torch.distributed.fsdp as replicated data parallelism (PyNative mode).

MindSpore shards parameters through its parallel configuration (AutoParallel(net).hsdp(), graph
mode), not by wrapping modules. Here every rank keeps every parameter whole: rank 0's values are
broadcast when the model is wrapped, and each gradient is averaged over the ranks as it is
computed (as the DistributedDataParallel helper does). FSDP averages the same gradients, so the
numbers are torch's; what is lost is the memory saving (each device holds the whole model).
FullyShardedDataParallel (FSDP1) and fully_shard (FSDP2) return the model itself: parameter names
stay the model's, as in FSDP's full state dict, and every state-dict type gives that full dict.
FSDP's policies, strategies and configurations are kept as plain values, so code that builds,
passes or compares them runs. FSDP's mixed precision is not applied: a policy that sets a dtype
raises, naming the argument.
"""
import contextlib
import enum
import types

import mindspore
import mindspore.mint.distributed
from mindspore.communication import get_group_size

from .optimizer_state import ms_optimizer_state_dict

# marks, as attributes: a parameter whose gradient is already averaged (a layer, then its parent,
# may both be wrapped), a module wrapped (isinstance(m, FullyShardedDataParallel))
_FSDP_HOOKED = "_ms_fsdp_hooked"
_FSDP_WRAPPED = "_ms_fsdp_wrapped"


def _fsdp_world():
    return get_group_size() if mindspore.mint.distributed.is_initialized() else 1


def ms_fully_shard(module, *args, **kwargs):
    """FullyShardedDataParallel(module, ...) / fully_shard(module, ...): the module, replicated."""
    for key in ("process_group", "device_mesh", "mesh", "ignored_modules", "ignored_params", "ignored_states",
                "param_init_fn"):
        if kwargs.get(key) is not None:
            raise NotImplementedError(f"FSDP {key}=: not translated (every parameter of the model is replicated "
                                      "on every rank of the default group)")
    for key in ("mixed_precision", "mp_policy"):
        policy = kwargs.get(key)
        if policy is not None and any(getattr(policy, f, None) is not None for f in
                                      ("param_dtype", "reduce_dtype", "buffer_dtype", "output_dtype")):
            raise NotImplementedError(f"FSDP {key}=: mixed precision is not translated (the model trains in its "
                                      "own dtype); for MindSpore's, see mindspore.amp.auto_mixed_precision")
    world = _fsdp_world()
    if world > 1:
        fresh = [p for p in module.get_parameters() if not getattr(p, _FSDP_HOOKED, False)]
        for p in fresh:
            mindspore.mint.distributed.broadcast(p, src=0)

        def average(grad):
            grad = grad.copy()
            mindspore.mint.distributed.all_reduce(grad)
            return grad / world

        for p in fresh:
            setattr(p, _FSDP_HOOKED, True)
            if p.requires_grad:
                p.register_hook(average)
    setattr(module, _FSDP_WRAPPED, True)
    return module


class _FsdpWrapped(type):
    def __instancecheck__(cls, obj):
        return getattr(obj, _FSDP_WRAPPED, False) is True


class FullyShardedDataParallel(metaclass=_FsdpWrapped):
    """FSDP1's wrapper: FullyShardedDataParallel(model, ...) is the model itself, replicated
    (ms_fully_shard); isinstance(model, FullyShardedDataParallel) holds for it afterwards."""

    def __new__(cls, module, *args, **kwargs):
        return ms_fully_shard(module, *args, **kwargs)

    def __init__(self, module, *args, **kwargs):  # never called: __new__ returns the module
        pass


def ms_fsdp_state_dict_type(module, state_dict_type=None, state_dict_config=None, optim_state_dict_config=None):
    """FSDP.state_dict_type(...): the parameters are whole, every state dict is the full one."""
    return contextlib.nullcontext()


def ms_fsdp_optim_state_dict(model, optim, *args, **kwargs):
    """FSDP.optim_state_dict / full_optim_state_dict: the optimizer's whole state."""
    return ms_optimizer_state_dict(optim)


def ms_fsdp_optim_state_dict_to_load(model, optim, optim_state_dict, *args, **kwargs):
    """FSDP.optim_state_dict_to_load: nothing to reshard."""
    return optim_state_dict


def ms_fsdp_scatter_optim_state_dict(full_optim_state_dict, model=None, *args, **kwargs):
    """FSDP.scatter_full_optim_state_dict / shard_full_optim_state_dict: every rank keeps it whole."""
    return full_optim_state_dict


class StateDictType(enum.Enum):
    FULL_STATE_DICT = 1
    LOCAL_STATE_DICT = 2
    SHARDED_STATE_DICT = 3


class ShardingStrategy(enum.Enum):
    FULL_SHARD = 1
    SHARD_GRAD_OP = 2
    NO_SHARD = 3
    HYBRID_SHARD = 4
    _HYBRID_SHARD_ZERO2 = 5


class BackwardPrefetch(enum.Enum):
    BACKWARD_PRE = 1
    BACKWARD_POST = 2


class CheckpointImpl(enum.Enum):
    REENTRANT = 1
    NO_REENTRANT = 2


def ms_fsdp_config(*args, **kwargs):
    """FullStateDictConfig(offload_to_cpu=True, rank0_only=True), CPUOffload(...) ...: the settings, kept."""
    if args:
        raise TypeError("pass FSDP's configuration by keyword")
    return types.SimpleNamespace(**kwargs)


def size_based_auto_wrap_policy(module, recurse, nonwrapped_numel, min_num_params=100000000,
                                force_leaf_modules=None, exclude_wrap_modules=None):
    """torch's policy, as a function (there is no wrapping to decide here)."""
    nn = mindspore.nn
    leaves = (nn.MultiheadAttention,) if force_leaf_modules is None else tuple(force_leaf_modules)
    excluded = (nn.CellList, nn.CellDict) if exclude_wrap_modules is None else tuple(exclude_wrap_modules)
    is_large = nonwrapped_numel >= min_num_params
    return is_large and not isinstance(module, leaves if recurse else excluded)


def transformer_auto_wrap_policy(module, recurse, nonwrapped_numel, transformer_layer_cls):
    """torch's policy, as a function (there is no wrapping to decide here)."""
    if recurse:
        return True
    return isinstance(module, tuple(transformer_layer_cls))


def ms_checkpoint_wrapper(module, checkpoint_impl=None, checkpoint_fn=None, **checkpoint_fn_kwargs):
    """checkpoint_wrapper(module): MindSpore recomputes the cell's activations in the backward
    pass (Cell.recompute()); the module itself, so parameter names are unchanged (as torch's
    wrapper makes them in state dicts)."""
    module.recompute()
    return module


def ms_apply_activation_checkpointing(model, checkpoint_wrapper_fn=ms_checkpoint_wrapper,
                                      check_fn=lambda _: True, auto_wrap_policy=None):
    """apply_activation_checkpointing: every sub-cell check_fn accepts (not inside one already,
    and not the model itself) goes through checkpoint_wrapper_fn."""
    if auto_wrap_policy is not None:
        raise NotImplementedError("apply_activation_checkpointing(auto_wrap_policy=...): pass check_fn")

    def visit(parent):
        for name, child in list(parent.name_cells().items()):
            if check_fn(child):
                wrapped = checkpoint_wrapper_fn(child)
                if wrapped is not child:
                    parent.insert_child_to_cell(name, wrapped)
            else:
                visit(child)
    visit(model)
