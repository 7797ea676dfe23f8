# torch.nn.ModuleList: MindSpore's CellList refuses None entries, a tuple or a generator
# argument, and CellDict items, all of which torch's ModuleList takes
# (`ModuleList([PEG(dim) if i == 0 else None for i in range(n)])`, `ModuleList(fns)`).
import mindspore
from mindspore.nn.layer.container import _get_prefix_and_index


class MsModuleList(mindspore.nn.CellList):
    """mindspore.nn.CellList with torch's ModuleList inputs: any iterable, None entries (kept
    at their index: parameters of later items keep their index names, as torch's state_dict
    has them), and dict containers."""

    def __init__(self, cells=None):
        super().__init__()
        if cells is not None:
            self.extend(cells)

    def _check(self, cell):
        if cell is not None and not isinstance(cell, mindspore.nn.Cell):
            raise TypeError(f"ModuleList: {type(cell).__name__} is not a Cell (nor None)")

    def _name(self, cell, index):
        if cell is not None and self._auto_prefix:
            prefix, _ = _get_prefix_and_index({k: c for k, c in self._cells.items() if c is not None})
            cell.update_parameters_name(f"{prefix}{index}.")

    def extend(self, cells):
        for cell in list(cells):
            self.append(cell)
        return self

    def append(self, cell):
        self._check(cell)
        index = len(self)
        self._name(cell, index)
        self._cells[str(index)] = cell
        return self

    def insert(self, index, cell):
        self._check(cell)
        items = list(self._cells.values())
        items.insert(index if index >= 0 else max(len(items) + index, 0), cell)
        self._reset(items)

    def _reset(self, items):
        self._cells.clear()
        for i, c in enumerate(items):
            self._name(c, i)
            self._cells[str(i)] = c

    def __getitem__(self, index):
        if isinstance(index, slice):
            return MsModuleList(list(self._cells.values())[index])
        if not isinstance(index, int):
            raise TypeError(f"ModuleList indices must be integers or slices, not {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range")
        return self._cells[str(index % n)]

    def __setitem__(self, index, cell):
        self._check(cell)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range")
        index %= n
        self._name(cell, index)
        self._cells[str(index)] = cell

    def __delitem__(self, index):
        items = list(self._cells.values())
        del items[index]
        self._reset(items)

    def __iadd__(self, cells):
        return self.extend(cells)

    def __add__(self, other):
        return MsModuleList(list(self) + list(other))
