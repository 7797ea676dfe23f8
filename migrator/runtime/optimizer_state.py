"""Optimizer.state_dict / load_state_dict in torch's layout, for MindSpore's optimizers.

A MindSpore optimizer is a Cell whose state (Adam's moments, SGD's momentum) lives in Parameters
named after the model's (exp_avg.fc.weight); Cell.state_dict() lists them, but Cell.load_state_dict
refuses its own output on an optimizer, so a script that resumes from a checkpoint failed. Here the
state is torch's: {"state": {index: {"step", "exp_avg", ...}}, "param_groups": [{"lr", ..., "params":
[index, ...]}]}, parameters numbered in order across groups. What the converted program saves loads
back exactly, and a state torch saved (read by the converted torch.load) loads too: torch's names
are mapped to MindSpore's (Adam's are the same; SGD's momentum_buffer is `accum`, RMSprop's
square_avg is `mean_square` ...); MindSpore keeps one step count per optimizer, torch one per
parameter (the largest is taken).
"""
import mindspore
import numpy as np

# torch's name of a per-parameter state -> the attribute of MindSpore's optimizer that holds it
_TORCH_STATE = {
    "Adam": {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "max_exp_avg_sq": "max_exp_avg_sq"},
    "AdamW": {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "max_exp_avg_sq": "max_exp_avg_sq"},
    "SGD": {"momentum_buffer": "accum"},
    "Adagrad": {"sum": "accum"},
    "Adadelta": {"square_avg": "accum", "acc_delta": "accum_update"},
    "Adamax": {"exp_avg": "exp_avg", "exp_inf": "exp_inf"},
    "NAdam": {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "mu_product": "mu_product"},
    "RAdam": {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"},
    "RMSprop": {"square_avg": "mean_square", "momentum_buffer": "moment", "grad_avg": "mean_grad"},
    "Rprop": {"prev": "prev", "step_size": "step_size"},
    "ASGD": {"eta": "eta", "mu": "mu", "ax": "ax"},
}
_STEP_ATTRS = ("state_step", "step_t")


def _optimizer_kind(optimizer):
    for cls in type(optimizer).__mro__:
        if cls.__name__ in _TORCH_STATE and cls.__module__.startswith("mindspore."):
            return cls.__name__
    return None


def _step_param(optimizer):
    return next((getattr(optimizer, a) for a in _STEP_ATTRS if isinstance(getattr(optimizer, a, None), mindspore.Parameter)), None)


def _copy(value):
    return mindspore.Tensor(value.asnumpy().copy())


def _plain(value):
    if isinstance(value, mindspore.Tensor):
        return value.asnumpy().item() if value.size == 1 else value.asnumpy().tolist()
    return value


def _per_parameter_states(optimizer, kind):
    """torch name -> one Parameter per optimized parameter."""
    count = len(optimizer.parameters)
    found = {}
    for torch_name, attr in _TORCH_STATE[kind].items():
        values = getattr(optimizer, attr, None)
        if values is not None and len(values) == count:
            found[torch_name] = list(values)
    return found


def ms_optimizer_state_dict(optimizer):
    kind = _optimizer_kind(optimizer)
    groups, index = [], 0
    for group in optimizer.param_groups:
        saved = {k: _plain(v) for k, v in group.items() if k != "params"}
        saved["params"] = list(range(index, index + len(group["params"])))
        index += len(group["params"])
        groups.append(saved)
    if kind is None:  # an optimizer of the program's own: its Parameters by name
        own = {id(p) for p in optimizer.parameters}
        return {"state": {}, "param_groups": groups,
                "ms_parameters": {n: _copy(p) for n, p in optimizer.parameters_and_names() if id(p) not in own}}
    step = _step_param(optimizer)
    steps = int(step.asnumpy().reshape(-1)[0]) if step is not None else None
    states = _per_parameter_states(optimizer, kind)
    state = {}
    for i in range(len(optimizer.parameters)):
        entry = {}
        if kind == "SGD":  # MindSpore's `stat` is 1 until the momentum buffer exists (torch: no entry)
            if _group_value(optimizer, i, "momentum") and float(optimizer.stat[i].asnumpy().reshape(-1)[0]) == 0:
                entry["momentum_buffer"] = _copy(states["momentum_buffer"][i])
        elif steps or step is None:  # torch has no state for a parameter before its first step
            if steps:
                entry["step"] = mindspore.Tensor(float(steps), mindspore.float32)
            entry.update((name, _copy(values[i])) for name, values in states.items())
        if entry:
            state[i] = entry
    return {"state": state, "param_groups": groups}


def _group_value(optimizer, index, key):
    """The hyper-parameter `key` of the group holding parameter number `index`."""
    for group in optimizer.param_groups:
        if index < len(group["params"]):
            return group.get(key)
        index -= len(group["params"])
    return None


def _set(param, value):
    array = value.asnumpy() if isinstance(value, mindspore.Tensor) else np.asarray(value)
    if tuple(array.shape) != tuple(param.shape):
        if array.size != param.size:
            raise ValueError(f"optimizer state for {param.name}: shape {tuple(array.shape)}, expected {tuple(param.shape)}")
        array = array.reshape(param.shape)
    param.set_data(mindspore.Tensor(array, dtype=param.dtype))


def ms_optimizer_load_state_dict(optimizer, state_dict):
    if not isinstance(state_dict, dict) or "param_groups" not in state_dict:
        names = sorted(state_dict)[:3] if isinstance(state_dict, dict) else type(state_dict).__name__
        raise ValueError(f"optimizer.load_state_dict: not an optimizer state ({names}...): "
                         "expected {'state': ..., 'param_groups': [...]}")
    saved_groups = state_dict["param_groups"]
    if len(saved_groups) != len(optimizer.param_groups):
        raise ValueError("loaded state dict has a different number of parameter groups")
    for group, saved in zip(optimizer.param_groups, saved_groups):
        if len(saved.get("params", group["params"])) != len(group["params"]):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        for key, value in saved.items():
            # torch's CUDA-kernel switches (foreach, fused ...) mean nothing here; the optimizer is
            # compiled for its own value types (weight_decay 0.0, not torch's 0)
            current = group.get(key)
            if key == "params" or (current is None and key != "initial_lr"):
                continue
            if isinstance(current, mindspore.Parameter):  # lr: a Parameter the schedulers update
                current.set_data(mindspore.Tensor(_plain(value), current.dtype))
            elif isinstance(current, tuple):
                group[key] = tuple(_plain(v) for v in value)
            elif isinstance(current, float) and not isinstance(value, bool):
                group[key] = float(_plain(value))
            else:
                group[key] = _plain(value)
    if "ms_parameters" in state_dict:
        own = dict(optimizer.parameters_and_names())
        for name, value in state_dict["ms_parameters"].items():
            _set(own[name], value)
        return
    kind = _optimizer_kind(optimizer)
    if kind is None:
        raise NotImplementedError(f"optimizer.load_state_dict: {type(optimizer).__name__} has no known state layout")
    # saved parameter number -> this optimizer's (torch numbers them in order across groups)
    order = [p for saved in saved_groups for p in saved.get("params", [])]
    position = {p: i for i, p in enumerate(order)} if order else {}
    states = _per_parameter_states(optimizer, kind)
    steps = []
    for key, entry in state_dict.get("state", {}).items():
        i = position.get(key, key)
        if not isinstance(i, int):
            raise ValueError(f"optimizer.load_state_dict: state for an unknown parameter {key!r}")
        for name, value in entry.items():
            if name == "step":
                steps.append(float(value.asnumpy() if isinstance(value, mindspore.Tensor) else value))
            elif name in states:
                if value is not None:
                    _set(states[name][i], value)
                    if kind == "SGD":
                        _set(optimizer.stat[i], np.zeros(optimizer.stat[i].shape, np.float32))
            else:
                raise ValueError(f"optimizer.load_state_dict: {type(optimizer).__name__} has no state {name!r}")
    step = _step_param(optimizer)
    if step is not None and steps:
        _set(step, np.full(step.shape, max(steps)))


# ---- learning-rate schedulers -----------------------------------------------------------------
# torch's scheduler state is its attributes but the optimizer; MindSpore's schedulers keep
# last_epoch in a Parameter, base_lrs as tensors and _last_lr as the optimizer's own lr
# Parameters (which the optimizer's state restores), and have no state_dict at all.
_SCHEDULER_SKIP = {"optimizer", "_last_lr", "increase_tensor", "groups_num"}


def _plain_value(value):
    if isinstance(value, mindspore.Tensor):
        return _plain(value)
    if isinstance(value, (list, tuple)):
        items = [_plain_value(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items()}
    return value


def _is_plain(value):
    if isinstance(value, (mindspore.Tensor, bool, int, float, str, type(None))):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_is_plain(v) for v in value.values())
    return False


def ms_scheduler_state_dict(scheduler):
    return {k: _plain_value(v) for k, v in vars(scheduler).items()
            if k not in _SCHEDULER_SKIP and not k.startswith("__") and _is_plain(v)}


def ms_scheduler_load_state_dict(scheduler, state_dict):
    own = vars(scheduler)
    for key, value in state_dict.items():
        if key in _SCHEDULER_SKIP or key not in own:
            continue  # torch's bookkeeping (_step_count, verbose ...) has no counterpart here
        current = own[key]
        if isinstance(current, mindspore.Parameter):
            current.set_data(mindspore.Tensor(np.asarray(_plain_value(value)).reshape(current.shape), current.dtype))
        elif isinstance(current, list) and current and isinstance(current[0], mindspore.Tensor):
            own[key] = [mindspore.Tensor(_plain_value(v), c.dtype) for v, c in zip(value, current)]
        elif _is_plain(current):
            own[key] = _plain_value(value)
