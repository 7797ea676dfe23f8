"""torch.utils.data.distributed.DistributedSampler, index for index.

Each of num_replicas processes sees its own 1/num_replicas of the indices: the order is padded
(or cut, drop_last) to a multiple of num_replicas and rank r takes positions r, r + n, ...
With shuffle, the order is a permutation seeded by seed + epoch (numpy's, so not the one torch
draws), the same on every rank: the shards stay disjoint and cover the dataset. Call
set_epoch(epoch) before each epoch for a new order, as with torch. Defaults for num_replicas and
rank come from mindspore.communication (the process group msrun starts).
"""
import math

import numpy as np
from mindspore.communication import get_group_size, get_rank


class MsDistributedSampler:
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = get_group_size()
        if rank is None:
            rank = get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.epoch, self.drop_last, self.shuffle, self.seed = 0, drop_last, shuffle, seed
        self._size = n = len(dataset)  # kept: a MindSpore dataset's len() follows the sampler given to it
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = self._size
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        self.epoch = epoch
