"""torch.save / torch.load for MindSpore checkpoints.

A model, or a state_dict (name -> tensor), is saved as an ordinary MindSpore checkpoint that
mindspore.load_checkpoint reads. A checkpoint dict holding more (epoch, optimizer state, ...)
keeps its tensors in the checkpoint and its structure and plain values as JSON beside them.
The file keeps the exact name the program gave it; an open file object works too. A file that
torch itself wrote (weights trained before the port, data saved with torch.save) is read without
torch (torch_files.py), its tensors as MindSpore tensors.
"""
import copy
import importlib
import json
import os
import shutil
import tempfile
import uuid

import mindspore
import numpy as np

from .torch_files import is_torch_file, read_torch_file


def ms_save(obj, path, *args, **kwargs):
    if hasattr(path, "write"):  # saving to an open file
        folder = tempfile.mkdtemp()
        try:
            ms_save(obj, os.path.join(folder, "checkpoint.ckpt"))
            with open(os.path.join(folder, "checkpoint.ckpt"), "rb") as saved:
                shutil.copyfileobj(saved, path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    whole = None
    if isinstance(obj, mindspore.nn.Cell):  # torch pickles the whole model: its class and weights here
        token = uuid.uuid4().hex
        _SAVED_CELLS[token] = copy.deepcopy(obj)
        whole = json.dumps({"class": f"{type(obj).__module__}:{type(obj).__qualname__}", "id": token})
        obj = obj.state_dict()
    tensors = []
    if isinstance(obj, dict) and obj and all(isinstance(v, (mindspore.Tensor, np.ndarray)) for v in obj.values()):
        for k, v in obj.items():
            tensors.append({"name": str(k), "data": v if isinstance(v, mindspore.Tensor) else mindspore.Tensor(v)})
        extra = None
    else:
        extra = {"ms_migrate_structure": json.dumps(_flatten(obj, "", tensors))}
    if whole is not None:
        extra = {**(extra or {}), "ms_migrate_cell": whole}
    target = path if str(path).endswith(".ckpt") else str(path) + ".ckpt"
    mindspore.save_checkpoint(tensors, target, append_dict=extra)
    if target != str(path):
        os.replace(target, path)


def ms_load(path, *args, **kwargs):
    if hasattr(path, "read"):  # loading from an open file
        folder = tempfile.mkdtemp()
        try:
            with open(os.path.join(folder, "checkpoint.ckpt"), "wb") as local:
                shutil.copyfileobj(path, local)
            return ms_load(os.path.join(folder, "checkpoint.ckpt"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    path = str(path)
    if is_torch_file(path):
        return read_torch_file(path, tensor=mindspore.Tensor)
    if path.endswith(".ckpt"):
        data = mindspore.load_checkpoint(path)
    else:  # MindSpore reads only *.ckpt names
        folder = tempfile.mkdtemp()
        try:
            link = os.path.join(folder, "checkpoint.ckpt")
            try:
                os.symlink(os.path.abspath(path), link)
            except OSError:
                shutil.copyfile(path, link)
            data = mindspore.load_checkpoint(link)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    whole = data.pop("ms_migrate_cell", None)
    structure = data.pop("ms_migrate_structure", None)
    if whole is not None:
        return _whole_cell(json.loads(str(whole)), data)
    if structure is None:
        return data
    return _unflatten(json.loads(structure), data)


_SAVED_CELLS = {}  # id written into the file -> a copy of the model as it was saved


def _whole_cell(info, params):
    """A model saved whole: the copy kept when this process saved it, else its class built
    without arguments and loaded with the weights."""
    snapshot = _SAVED_CELLS.get(info["id"])
    if snapshot is not None:
        return copy.deepcopy(snapshot)
    module, _, qualname = info["class"].partition(":")
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        cell = cls()
    except Exception as exc:
        raise RuntimeError(f"the file holds a whole {qualname} model, which cannot be rebuilt here ({exc}); "
                           "save model.state_dict() instead and load it into a model you build") from exc
    cell.load_state_dict(params)
    return cell


def _flatten(obj, prefix, tensors):
    if isinstance(obj, mindspore.nn.Cell):
        obj = obj.state_dict()
    if isinstance(obj, (mindspore.Tensor, np.ndarray)):
        name = prefix or "tensor"
        tensors.append({"name": name, "data": obj if isinstance(obj, mindspore.Tensor) else mindspore.Tensor(obj)})
        return {"tensor" if isinstance(obj, mindspore.Tensor) else "ndarray": name}
    if isinstance(obj, dict):
        return {"dict": [[k, _flatten(v, f"{prefix}/{k}" if prefix else str(k), tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_flatten(v, f"{prefix}/{i}" if prefix else str(i), tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"cannot save a {type(obj).__name__} in a MindSpore checkpoint")


def _unflatten(node, data):
    if "tensor" in node:
        return data[node["tensor"]]
    if "ndarray" in node:  # a numpy array saved comes back as one, as in torch
        return data[node["ndarray"]].asnumpy()
    if "dict" in node:
        return {k: _unflatten(v, data) for k, v in node["dict"]}
    if "list" in node:
        return [_unflatten(v, data) for v in node["list"]]
    if "tuple" in node:
        return tuple(_unflatten(v, data) for v in node["tuple"])
    return node["value"]
