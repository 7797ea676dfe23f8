"""torch.utils.data.DataLoader on mindspore.dataset.

A MindSpore dataset (from a converted torchvision dataset) is batched by its pipeline. A Python
dataset (map-style or iterable) is read and batched in the caller's thread, as torch's loader
does with num_workers=0: the user's __getitem__ may build MindSpore tensors, and MindSpore
operations running in a pipeline thread while the main thread takes gradients crash the process.
Batches are collated as torch's default_collate does (a list per sample tuple, a dict per dict,
Tensors stacked; a custom collate_fn gets the list of samples), and sampler= (any iterable of
indices: torch's samplers, the user's), batch_sampler=, shuffle and drop_last are honoured.
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
            batch_size, drop_last = None, False
        self.batch_sampler = batch_sampler
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, bool(shuffle)
        self.sampler, self.collate_fn, self.drop_last = sampler, collate_fn, drop_last
        self.num_workers = num_workers
        self._ds = None  # built once: a MindSpore pipeline node may have only one consumer

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
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
        if not isinstance(self.dataset, mindspore.dataset.Dataset):
            yield from self._python_batches()
            return
        if self.collate_fn is not None or self.batch_sampler is not None:
            raise NotImplementedError("DataLoader(collate_fn=... or batch_sampler=...) over a MindSpore dataset "
                                      "(a converted torchvision dataset): iterate it and batch in Python")
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
        collate = self.collate_fn or (_convert if self.batch_size is None and self.batch_sampler is None
                                      else _collate)
        if not hasattr(self.dataset, "__getitem__") or not hasattr(self.dataset, "__len__"):  # iterable
            if self.batch_size is None:
                for sample in self.dataset:
                    yield collate(sample)
                return
            for batch in _chunks(iter(self.dataset), self.batch_size):
                if self.drop_last and len(batch) < self.batch_size:
                    return
                yield collate(batch)
            return
        if self.batch_sampler is not None:
            for indices in self.batch_sampler:
                yield collate([self.dataset[int(i)] for i in indices])
            return
        n = len(self.dataset)
        order = self.sampler if self.sampler is not None else np.random.permutation(n) if self.shuffle else range(n)
        if self.batch_size is None:
            for i in order:
                yield collate(self.dataset[int(i)])
            return
        for batch in _chunks((self.dataset[int(i)] for i in order), self.batch_size):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield collate(batch)


def _chunks(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _convert(sample):
    """torch's default_convert (batch_size=None): arrays become tensors, containers are kept."""
    if isinstance(sample, np.ndarray) and sample.dtype.kind not in "USO":
        return mindspore.Tensor(sample)
    if isinstance(sample, dict):
        return {k: _convert(v) for k, v in sample.items()}
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):
        return type(sample)(*(_convert(v) for v in sample))
    if isinstance(sample, (list, tuple)):
        return type(sample)(_convert(v) for v in sample)
    return sample


def _collate(batch):
    """torch's default_collate with MindSpore tensors: tensors and arrays stacked, Python ints
    int64, floats float64, bools bool, strings kept in a list, containers collated per field."""
    first = batch[0]
    if isinstance(first, mindspore.Tensor):
        return mindspore.Tensor(np.stack([b.asnumpy() for b in batch]))
    if isinstance(first, (np.ndarray, np.generic)) and np.asarray(first).dtype.kind not in "USO":
        return mindspore.Tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(first, bool):
        return mindspore.Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(first, int):
        return mindspore.Tensor(np.array(batch, dtype=np.int64))
    if isinstance(first, float):
        return mindspore.Tensor(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, dict):
        return {k: _collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
        return type(first)(*(_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, (list, tuple)):
        if any(len(b) != len(first) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(first)}")


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
