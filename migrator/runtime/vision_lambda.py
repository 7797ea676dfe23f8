"""torchvision.transforms.Lambda in a MindSpore data pipeline.

torchvision's transforms after ToTensor hand the function a tensor, and the function is written
for tensors (`Lambda(lambda x: torch.flatten(x))`, converted to MindSpore operations). MindSpore's
pipeline hands it a numpy array and wants numpy back: the wrapper converts an array to a Tensor
for the call and the result back to an array. Images (PIL) and other values pass unchanged.
"""
import mindspore
import numpy as np


class MsLambda:
    def __init__(self, lambd):
        self.lambd = lambd

    def __call__(self, x):
        y = self.lambd(mindspore.Tensor(x) if isinstance(x, np.ndarray) else x)
        return y.asnumpy() if isinstance(y, mindspore.Tensor) else y
