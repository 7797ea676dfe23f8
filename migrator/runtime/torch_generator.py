"""torch.Generator for the data utilities: `random_split(ds, lengths,
generator=torch.Generator().manual_seed(42))` draws its permutation from this generator's numpy
RNG, so a seeded split is the same on every run (the split itself is numpy's, not torch's: other
samples land in each part than in torch). MindSpore's random operators draw from the global seed
(mindspore.set_seed); a generator passed to them is not translated.
"""
import numpy as np


class MsGenerator:
    def __init__(self, device="cpu"):
        self.device = device
        self._seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self.numpy_rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        self.numpy_rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        return self.manual_seed(int(np.random.SeedSequence().entropy % (1 << 63))).initial_seed()
