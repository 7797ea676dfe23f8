# torch.nn.ModuleDict: MindSpore's CellDict refuses CellList, SequentialCell and CellDict values,
# which torch's ModuleDict holds (a GPT's `ModuleDict(h=ModuleList([...]), ...)`).
import mindspore


class MsModuleDict(mindspore.nn.CellDict):
    """mindspore.nn.CellDict that also holds containers, as torch's ModuleDict does."""

    def _validate_cell_type(self, cell):
        if not isinstance(cell, mindspore.nn.Cell):
            raise TypeError(f"For 'ModuleDict', the type of cell should be Cell, but got {type(cell).__name__}.")
