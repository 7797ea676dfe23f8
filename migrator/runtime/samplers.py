"""torch.utils.data's samplers: plain Python iterables of indices, as torch's are.

MsDataLoader takes any iterable of indices as sampler= (and of index lists as batch_sampler=),
so these and the samplers a user writes (subclasses of MsSampler) feed it directly. Random
draws come from numpy's generator (seeded by mindspore.set_seed / np.random.seed, or a seeded
torch.Generator's numpy_rng), so the indices differ from the ones torch draws.
"""
import numpy as np


def _rng(generator):
    return getattr(generator, "numpy_rng", None) or np.random


class MsSampler:
    """torch.utils.data.Sampler: the base class of user samplers."""

    def __init__(self, data_source=None):
        pass

    def __class_getitem__(cls, item):  # Sampler[List[int]] as a base class or annotation, as torch's Generic
        return cls

    def __iter__(self):
        raise NotImplementedError


class MsSequentialSampler(MsSampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class MsRandomSampler(MsSampler):
    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator = generator
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, rng = len(self.data_source), _rng(self.generator)
        if self.replacement:
            return iter(rng.randint(0, n, self.num_samples).tolist())
        out = []
        while len(out) < self.num_samples:  # torch: whole permutations, then part of one more
            out += rng.permutation(n).tolist()
        return iter(out[:self.num_samples])

    def __len__(self):
        return self.num_samples


class MsSubsetRandomSampler(MsSampler):
    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        return iter([self.indices[i] for i in _rng(self.generator).permutation(len(self.indices)).tolist()])

    def __len__(self):
        return len(self.indices)


class MsWeightedRandomSampler(MsSampler):
    def __init__(self, weights, num_samples, replacement=True, generator=None):
        w = np.asarray(weights.asnumpy() if hasattr(weights, "asnumpy") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights, self.num_samples, self.replacement, self.generator = w, int(num_samples), replacement, generator

    def __iter__(self):
        p = self.weights / self.weights.sum()
        return iter(_rng(self.generator).choice(len(p), self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self):
        return self.num_samples


class MsBatchSampler(MsSampler):
    def __init__(self, sampler, batch_size, drop_last):
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
