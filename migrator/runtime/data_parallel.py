"""torch.nn.parallel.data_parallel in one process.

MindSpore runs a process on one device: the module runs there on the whole batch, which
computes what torch's replicas compute together (except BatchNorm's batch statistics in
training mode, which torch takes per device chunk). Data parallelism over several devices is
msrun plus DistributedDataParallel.
"""


def ms_data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return module(*inputs, **(module_kwargs or {}))
