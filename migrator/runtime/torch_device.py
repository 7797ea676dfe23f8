# Devices as torch names them. MindSpore places tensors itself (mindspore.set_device), so a
# device is only named, printed, compared or passed on (x.to(device) is dropped by the converter).
import mindspore


class Device(str):
    """A device name such as "cpu" or "cuda:0", with torch's .type and .index."""

    def __new__(cls, type, index=None):
        text = str(type)
        if index is not None and ":" not in text:
            text = f"{text}:{index}"
        return super().__new__(cls, text)

    @property
    def type(self):
        return str(self).partition(":")[0]

    @property
    def index(self):
        i = str(self).partition(":")[2]
        return int(i) if i else None


def current_accelerator():
    """The accelerator MindSpore can use: "cuda" (GPU), "npu" (Ascend), or None."""
    if mindspore.device_context.gpu.is_available():
        return Device("cuda")
    if mindspore.device_context.ascend.is_available():
        return Device("npu")
    return None


def accelerator_device_count():
    """The number of devices of the accelerator (0 without one)."""
    if mindspore.device_context.gpu.is_available():
        return mindspore.device_context.gpu.device_count()
    if mindspore.device_context.ascend.is_available():
        return mindspore.device_context.ascend.device_count()
    return 0
