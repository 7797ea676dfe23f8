"""torch.nn.Module methods that mindspore.nn.Cell lacks, on a Cell.

requires_grad_ sets every parameter's requires_grad (MindSpore keeps BatchNorm's running
statistics as parameters that never require gradients: they are left alone, as torch's buffers
are). float()/half()/double()/bfloat16() cast the floating-point parameters, as torch casts
parameters and buffers; get_submodule walks a dotted path of attribute names.
"""
import mindspore


def ms_requires_grad_(cell, requires_grad=True):
    for p in cell.get_parameters():
        if not p.name.endswith(("moving_mean", "moving_variance")):
            p.requires_grad = requires_grad
    return cell


def ms_cast_parameters(cell, dtype):
    for p in cell.get_parameters():
        if p.dtype in (mindspore.float16, mindspore.float32, mindspore.float64, mindspore.bfloat16):
            p.set_dtype(dtype)
    return cell


def ms_get_submodule(cell, target):
    for part in target.split(".") if target else []:
        children = cell.name_cells()
        if part not in children:
            raise AttributeError(f"{type(cell).__name__} has no attribute `{part}`")
        cell = children[part]
    return cell


def ms_add_module(cell, name, module):
    """Module.add_module / register_module: registers the child; on a Sequential it also runs
    (MindSpore's SequentialCell runs its cell_list, which insert_child_to_cell does not update)."""
    cell.insert_child_to_cell(name, module)
    if isinstance(cell, mindspore.nn.SequentialCell):
        cell.cell_list = list(cell._cells.values())
