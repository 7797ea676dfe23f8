"""torch.utils.data.DataLoader on mindspore.dataset.

Map-style and iterable datasets go through mindspore.dataset.GeneratorDataset(...).batch(...);
a MindSpore dataset (from a converted torchvision dataset) is batched directly. Iterating yields
what the torch loop expects: a tuple of Tensors per batch (a Tensor for one-column samples, a
dict for dict samples). A custom collate_fn is honoured by batching in Python.
"""
import copy
import math

import mindspore
import mindspore.dataset
import numpy as np


class MsDataLoader:
    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if batch_sampler is not None:
            raise NotImplementedError("DataLoader(batch_sampler=...) has no MindSpore counterpart here")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, bool(shuffle)
        self.sampler, self.collate_fn, self.drop_last = sampler, collate_fn, drop_last
        self.num_workers = num_workers
        self._ds = None  # built once: a MindSpore pipeline node may have only one consumer

    def __len__(self):
        if self.sampler is not None and hasattr(self.sampler, "__len__"):
            n = len(self.sampler)  # a DistributedSampler's share, say
        elif isinstance(self.dataset, mindspore.dataset.Dataset):
            n = self.dataset.get_dataset_size()
        else:
            n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        if self.collate_fn is not None:
            yield from self._python_batches()
            return
        if self._ds is None:
            self._ds = self._pipeline()
        if getattr(self, "_reseed", False):  # a shuffle buffer repeats its order under a fixed seed
            mindspore.dataset.config.set_seed(int(np.random.randint(1 << 31)))
        for row in self._ds.create_tuple_iterator(num_epochs=1, output_numpy=False):
            yield self._shape(row)

    def _pipeline(self):
        if isinstance(self.dataset, mindspore.dataset.Dataset):
            ds = self.dataset
            if self.sampler is not None or self.shuffle:
                ds = copy.deepcopy(ds)  # this loader's own pipeline: another loader may read the same dataset
            if self.sampler is not None:
                _source_of(ds).use_sampler(_IndexSampler(self.sampler))
            elif self.shuffle:  # a new permutation of the indices each epoch, as torch's RandomSampler
                # (a shuffle buffer as large as the dataset would hold every sample before the first batch)
                try:
                    source = _source_of(ds)
                    source.use_sampler(_Shuffled(source.get_dataset_size()))
                except NotImplementedError:  # a combined pipeline: a buffer, bounded
                    ds = ds.shuffle(min(max(1, ds.get_dataset_size()), 10000))
                    self._reseed = True
            self._columns, self._kind = ds.get_col_names(), "tuple"
        else:
            first = self.dataset[0] if hasattr(self.dataset, "__getitem__") else next(iter(self.dataset))
            if isinstance(first, dict):
                self._columns, self._kind = list(first), "dict"
            elif isinstance(first, (tuple, list)):
                self._columns, self._kind = [f"column{i}" for i in range(len(first))], "tuple"
            else:
                self._columns, self._kind = ["column0"], "single"
            source = _Source(self.dataset, self._kind, self._columns)
            sampler = self.sampler
            if sampler is None and self.shuffle and hasattr(self.dataset, "__getitem__"):
                sampler = _Shuffled(len(self.dataset))
            ds = mindspore.dataset.GeneratorDataset(  # shuffle=False: GeneratorDataset would shuffle by default
                source, column_names=self._columns, sampler=sampler, num_parallel_workers=1, python_multiprocessing=False,
                shuffle=False if sampler is None and hasattr(self.dataset, "__getitem__") else None)
        if self.batch_size is not None:
            ds = ds.batch(self.batch_size, drop_remainder=self.drop_last)
        return ds

    def _shape(self, row):
        if self._kind == "single":
            return row[0]
        if self._kind == "dict":
            return dict(zip(self._columns, row))
        return tuple(row)

    def _python_batches(self):
        n = len(self.dataset)
        order = self.sampler if self.sampler is not None else np.random.permutation(n) if self.shuffle else range(n)
        batch = []
        for i in order:
            batch.append(self.dataset[int(i)])
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)


class _Shuffled(mindspore.dataset.Sampler):
    """torch's RandomSampler: a new permutation every epoch, drawn from numpy's generator (which
    mindspore.set_seed seeds). MindSpore's own shuffling repeats one order each epoch once a seed
    is set, since every epoch starts a new iterator."""

    def __init__(self, n):
        self.n = n
        super().__init__(num_samples=n)

    def __iter__(self):
        return iter(np.random.permutation(self.n).tolist())


class _IndexSampler(mindspore.dataset.Sampler):
    """A torch-style sampler (any iterable of indices, e.g. a DistributedSampler) for a MindSpore
    source dataset: iterated anew each epoch, so set_epoch takes effect."""

    def __init__(self, sampler):
        self.torch_sampler = sampler
        super().__init__(num_samples=len(sampler) if hasattr(sampler, "__len__") else None)

    def __iter__(self):
        return iter(self.torch_sampler)


def _source_of(ds):
    while ds.children:
        if len(ds.children) != 1:
            raise NotImplementedError("DataLoader(sampler=...) over a combined MindSpore dataset")
        ds = ds.children[0]
    return ds


class _Source:
    """Samples as numpy arrays, as GeneratorDataset wants them."""

    def __init__(self, dataset, kind, columns):
        self.dataset, self.kind, self.columns = dataset, kind, columns

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self._row(self.dataset[int(index)])

    def __iter__(self):
        for sample in self.dataset:
            yield self._row(sample)

    def _row(self, sample):
        if self.kind == "single":
            return (_numpy(sample),)
        if self.kind == "dict":
            return tuple(_numpy(sample[c]) for c in self.columns)
        return tuple(_numpy(v) for v in sample)


def _numpy(value):
    if isinstance(value, mindspore.Tensor):
        return value.asnumpy()
    return np.asarray(value)


class MsTensorDataset:
    """torch.utils.data.TensorDataset: sample i is (t[i] for each tensor)."""

    def __init__(self, *tensors):
        self.tensors = tuple(t.asnumpy() if isinstance(t, mindspore.Tensor) else np.asarray(t) for t in tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


class MsSubset:
    """torch.utils.data.Subset."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]

    def __len__(self):
        return len(self.indices)


def ms_random_split(dataset, lengths, generator=None):
    """torch.utils.data.random_split (fractions or lengths); the permutation is numpy's."""
    n = len(dataset)
    if all(0 <= x <= 1 for x in lengths) and abs(sum(lengths) - 1) < 1e-6 and sum(lengths) != n:
        sizes = [int(n * x) for x in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        sizes = list(lengths)
    rng = getattr(generator, "numpy_rng", None) or np.random  # a seeded generator (see torch_generator.py)
    order = rng.permutation(n).tolist()
    out, start = [], 0
    for size in sizes:
        out.append(MsSubset(dataset, order[start:start + size]))
        start += size
    return out
