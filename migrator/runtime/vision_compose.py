"""torchvision.transforms.Compose on MindSpore's Compose.

Called on one image (in a Dataset's __getitem__, or on the picture an inference script loads),
MindSpore's Compose returns a tuple of one array, and its ToTensor a numpy array: torchvision's
returns the image, a tensor after ToTensor (`transform(img).unsqueeze(0)`). This subclass
returns what torchvision does. In a dataset pipeline (`.map(operations=...)`) it is MindSpore's.
"""
import mindspore
import mindspore.dataset.transforms
import mindspore.dataset.vision
import numpy as np


class MsCompose(mindspore.dataset.transforms.Compose):
    def __call__(self, *args):
        out = super().__call__(*args)
        if isinstance(out, tuple) and len(out) == 1:
            out = out[0]
        if isinstance(out, np.ndarray) and any(isinstance(t, mindspore.dataset.vision.ToTensor) for t in self.transforms):
            out = mindspore.Tensor(out)
        return out
