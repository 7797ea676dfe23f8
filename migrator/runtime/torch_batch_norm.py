# torch.nn.BatchNorm1d/2d/3d passed as a value (`norm_layer=nn.BatchNorm2d`) or subclassed:
# MindSpore's momentum is the weight of the running value (1 - torch's momentum).
import mindspore


def _torch_batch_norm(base):
    class TorchBatchNorm(base):
        """`base` taking torch's arguments; `weight`, `bias`, `running_mean`, `running_var` as in torch."""

        def __init__(self, num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True,
                     device=None, dtype=None):
            extra = {} if dtype is None else {'dtype': dtype}
            super().__init__(num_features, eps=eps, momentum=1.0 - (0.1 if momentum is None else momentum),
                             affine=affine, use_batch_statistics=None if track_running_stats else True, **extra)
            self.num_features = num_features
            self.affine = affine
            self.track_running_stats = track_running_stats
            self.num_batches_tracked = None  # MindSpore keeps no batch counter (torch's momentum=None needs one)

        @property
        def weight(self):
            return self._norm.gamma

        @property
        def bias(self):
            return self._norm.beta

        @property
        def running_mean(self):
            return self._norm.moving_mean

        @property
        def running_var(self):
            return self._norm.moving_variance

        @property
        def _norm(self):  # MindSpore's BatchNorm3d holds a BatchNorm2d
            return self.bn2d if "bn2d" in self._cells else self

    TorchBatchNorm.__name__ = TorchBatchNorm.__qualname__ = "Torch" + base.__name__
    return TorchBatchNorm


TorchBatchNorm1d = _torch_batch_norm(mindspore.nn.BatchNorm1d)
TorchBatchNorm2d = _torch_batch_norm(mindspore.nn.BatchNorm2d)
TorchBatchNorm3d = _torch_batch_norm(mindspore.nn.BatchNorm3d)

# torch's class names: code that dispatches on them (timm's `norm_layer.__name__.lower()`) finds them
TorchBatchNorm1d.__name__ = TorchBatchNorm1d.__qualname__ = "BatchNorm1d"
TorchBatchNorm2d.__name__ = TorchBatchNorm2d.__qualname__ = "BatchNorm2d"
TorchBatchNorm3d.__name__ = TorchBatchNorm3d.__qualname__ = "BatchNorm3d"
