"""torch.accelerator.set_device_index: select the accelerator device of this process.

MindSpore binds a process to one device with mindspore.set_device(target, index); call it
before any tensor work. Without a GPU or Ascend device it raises, as torch does.
"""
import mindspore


def ms_set_device_index(device):
    if mindspore.device_context.gpu.is_available():
        mindspore.set_device("GPU", int(device))
    elif mindspore.device_context.ascend.is_available():
        mindspore.set_device("Ascend", int(device))
    else:
        raise RuntimeError("Cannot access accelerator device when none is available.")
