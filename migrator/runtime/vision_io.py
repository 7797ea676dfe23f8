# torchvision.io.read_image: a file read into a uint8 tensor, channels first.
import mindspore
import numpy as np
from mindspore.dataset import vision


class MsImageReadMode:
    """torchvision.io.ImageReadMode's members, as the names ms_read_image takes."""
    UNCHANGED = "UNCHANGED"
    GRAY = "GRAY"
    GRAY_ALPHA = "GRAY_ALPHA"
    RGB = "RGB"
    RGB_ALPHA = "RGB_ALPHA"


def ms_read_image(path, mode=MsImageReadMode.UNCHANGED):
    """torchvision.io.read_image: a uint8 tensor of shape (C, H, W), as the file stores it or
    converted to the mode asked for (MindSpore's vision.read_image gives H x W x C numpy data and
    knows no alpha modes: alpha modes are read with PIL)."""
    mode = getattr(mode, "name", mode)
    if mode in ("GRAY_ALPHA", "RGB_ALPHA"):
        from PIL import Image

        with Image.open(path) as img:
            array = np.asarray(img.convert("LA" if mode == "GRAY_ALPHA" else "RGBA"))
    else:
        flag = {"UNCHANGED": vision.ImageReadMode.UNCHANGED, "GRAY": vision.ImageReadMode.GRAYSCALE,
                "RGB": vision.ImageReadMode.COLOR}[mode]
        array = vision.read_image(str(path), flag)
    if array.ndim == 2:
        array = array[:, :, None]
    return mindspore.Tensor(np.ascontiguousarray(array.transpose(2, 0, 1)))
