"""einops on MindSpore tensors.

einops (rearrange, reduce, repeat, einsum, pack/unpack) finds a backend for each tensor type among
the subclasses of its AbstractBackend; it has none for MindSpore. This one, defined once per
process, implements einops' few primitives with MindSpore operations, so the user's einops calls
run unchanged on the converted model's tensors. The layers (einops.layers.torch.Rearrange /
Reduce) become Cells: MsRearrange / MsReduce apply the same recipes.
"""
import einops
import einops._backends
import einops.layers
import mindspore
from mindspore import ops


def _ms_einsum(pattern, *operands):
    """einsum as a broadcast product summed over the contracted indices (MindSpore's ops.einsum
    has no CPU kernel). einops hands over single-letter patterns without ellipsis."""
    inputs, output = pattern.replace(" ", "").split("->")
    specs = inputs.split(",")
    letters = []
    for spec in specs:
        letters += [c for c in spec if c not in letters]
    product = None
    for spec, x in zip(specs, operands):
        if len(set(spec)) != len(spec):
            raise NotImplementedError(f"einsum {pattern!r}: an index repeated within an operand")
        order = sorted(range(len(spec)), key=lambda i: letters.index(spec[i]))
        x = x.permute(*order) if len(order) > 1 else x
        present = [spec[i] for i in order]
        x = x.reshape(tuple(x.shape[present.index(c)] if c in present else 1 for c in letters))
        product = x if product is None else product * x
    summed = tuple(i for i, c in enumerate(letters) if c not in output)
    if summed:
        product = product.sum(summed)
    remaining = [c for c in letters if c in output]
    return product.permute(*[remaining.index(c) for c in output]) if len(output) > 1 else product


def _ms_einops_backend():
    # einops finds backends through AbstractBackend.__subclasses__(), which holds classes weakly:
    # the class is kept on einops' backends module, so it lives as long as einops does
    known = getattr(einops._backends, "_ms_migrate_mindspore_backend", None)
    if known is not None:
        return known

    class MindSporeBackend(einops._backends.AbstractBackend):
        framework_name = "mindspore"

        def is_appropriate_type(self, tensor):
            return isinstance(tensor, mindspore.Tensor)

        def from_numpy(self, x):
            return mindspore.Tensor(x)

        def to_numpy(self, x):
            return x.asnumpy()

        def arange(self, start, stop):
            return ops.arange(start, stop, dtype=mindspore.int64)

        def shape(self, x):
            return tuple(x.shape)

        def reshape(self, x, shape):
            return x.reshape(tuple(shape))

        def transpose(self, x, axes):
            return x.permute(*axes)

        def reduce(self, x, operation, reduced_axes):
            axes = tuple(reduced_axes)
            if operation in ("min", "max"):
                return getattr(ops, "amin" if operation == "min" else "amax")(x, axes)
            if operation in ("sum", "mean", "prod"):
                return getattr(x, operation)(axes)
            if operation in ("any", "all"):
                return getattr(x.astype(mindspore.bool_), operation)(axes)
            raise NotImplementedError("Unknown reduction ", operation)

        def stack_on_zeroth_dimension(self, tensors):
            return ops.stack(tensors)

        def add_axis(self, x, new_position):
            return x.expand_dims(new_position)

        def add_axes(self, x, n_axes, pos2len):
            repeats = [-1] * n_axes
            for position, length in pos2len.items():
                x = x.expand_dims(position)
                repeats[position] = length
            return x.broadcast_to(tuple(x.shape[i] if r == -1 else r for i, r in enumerate(repeats)))

        def tile(self, x, repeats):
            return ops.tile(x, tuple(repeats))

        def concat(self, tensors, axis):
            return ops.cat(tensors, axis=axis)

        def is_float_type(self, x):
            return x.dtype in (mindspore.float16, mindspore.float32, mindspore.float64, mindspore.bfloat16)

        def einsum(self, pattern, *x):
            return _ms_einsum(pattern, *x)

    einops._backends._ms_migrate_mindspore_backend = MindSporeBackend
    return MindSporeBackend


_ms_einops_backend()


class MsRearrange(einops.layers.RearrangeMixin, mindspore.nn.Cell):
    """einops.layers.torch.Rearrange as a Cell."""

    def construct(self, x):
        return self._apply_recipe(x)


class MsReduce(einops.layers.ReduceMixin, mindspore.nn.Cell):
    """einops.layers.torch.Reduce as a Cell."""

    def construct(self, x):
        return self._apply_recipe(x)
