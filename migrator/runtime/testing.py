"""torch.testing.assert_close / assert_allclose for MindSpore tensors, with torch's rules.

Tensors (and numpy arrays) must match in shape and, with check_dtype, dtype; values are close
when |actual - expected| <= atol + rtol * |expected|, with torch's default tolerances for the
dtype (the looser of the two: float16 1e-3/1e-5, bfloat16 1.6e-2/1e-5, float32 1.3e-6/1e-5,
float64 1e-7/1e-7, exact otherwise). Python numbers compare with numbers; sequences and
mappings item by item. A mismatch raises AssertionError, as torch's does.
"""
from collections.abc import Mapping, Sequence

import mindspore
import numpy as np

_PRECISIONS = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5), "complex128": (1e-7, 1e-7)}
_LEGACY_PRECISIONS = {"float16": (1e-3, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-5, 1e-8)}


def _dtype_name(x):
    if isinstance(x, mindspore.Tensor):
        return str(x.dtype).lower()
    return np.asarray(x).dtype.name


def _as_numpy(x):
    if isinstance(x, mindspore.Tensor):
        if str(x.dtype).lower() == "bfloat16":
            x = x.astype(mindspore.float32)
        return x.asnumpy()
    return np.asarray(x)


def _tolerances(names, table):
    pairs = [table.get(n, (0.0, 0.0)) for n in names]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _fail(msg, text):
    if callable(msg):
        text = msg(text)
    elif msg is not None:
        text = msg
    raise AssertionError(text)


def _close_values(a, e, rtol, atol, equal_nan, msg, where, kind):
    if a.dtype == np.bool_ or e.dtype == np.bool_:
        bad = a != e
    else:
        a64 = a.astype(np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(e) else np.float64)
        e64 = e.astype(a64.dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            ok = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=equal_nan)
            ok |= (a64 == e64)  # equal infinities
        bad = ~ok
    if np.any(bad):
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64)) if a.dtype.kind not in "bc" else None
        text = f"{kind} are not {'close' if rtol or atol else 'equal'}!\n\nMismatched elements: " \
               f"{int(np.sum(bad))} / {bad.size} ({100.0 * np.sum(bad) / max(bad.size, 1):.1f}%)"
        if diff is not None and diff.size:
            text += f"\nGreatest absolute difference: {float(np.max(np.where(np.isnan(diff), -np.inf, diff)))}" \
                    f" (up to {atol} allowed)"
        if where:
            text += f"\n\nThe failure occurred for item {where}"
        _fail(msg, text)


def _compare(actual, expected, rtol, atol, equal_nan, check_dtype, msg, where, table):
    tensor_like = (mindspore.Tensor, np.ndarray)
    if isinstance(actual, tensor_like) and isinstance(expected, tensor_like):
        a, e = _as_numpy(actual), _as_numpy(expected)
        if a.shape != e.shape:
            _fail(msg, f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}.")
        names = (_dtype_name(actual), _dtype_name(expected))
        if check_dtype and names[0] != names[1]:
            _fail(msg, f"The values for attribute 'dtype' do not match: {names[0]} != {names[1]}.")
        r, t = (rtol, atol) if rtol is not None else _tolerances(names, table)
        _close_values(a, e, r, t, equal_nan, msg, where, "Tensor-likes")
    elif isinstance(actual, (bool, int, float, complex)) and isinstance(expected, (bool, int, float, complex)):
        kinds = {type(actual), type(expected)}
        if check_dtype and type(actual) is not type(expected):
            _fail(msg, f"The values for attribute 'type' do not match: {type(actual)} != {type(expected)}.")
        name = "complex128" if complex in kinds else "float64" if float in kinds else "int64"
        r, t = (rtol, atol) if rtol is not None else _tolerances([name], _PRECISIONS)
        _close_values(np.asarray(actual), np.asarray(expected), r, t, equal_nan, msg, where, "Scalars")
    elif isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            _fail(msg, f"The keys of the mappings do not match: {sorted(map(str, actual))} != "
                       f"{sorted(map(str, expected))}.")
        for k in actual:
            _compare(actual[k], expected[k], rtol, atol, equal_nan, check_dtype, msg, f"{where}[{k!r}]", table)
    elif isinstance(actual, Sequence) and isinstance(expected, Sequence) \
            and not isinstance(actual, str) and not isinstance(expected, str):
        if len(actual) != len(expected):
            _fail(msg, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_dtype, msg, f"{where}[{i}]", table)
    elif actual is None and expected is None:
        return
    else:
        raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def ms_assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                    check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    _compare(actual, expected, rtol, atol, equal_nan, check_dtype, msg, "", _PRECISIONS)


def ms_assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """The deprecated torch.testing.assert_allclose: numbers and lists become tensors, dtypes may
    differ, NaNs compare equal, and its own default tolerances (float32: 1e-4 / 1e-5)."""
    if not isinstance(actual, mindspore.Tensor):
        actual = mindspore.Tensor(np.asarray(actual))
    if not isinstance(expected, mindspore.Tensor):
        expected = mindspore.Tensor(np.asarray(expected), dtype=actual.dtype)
    if rtol is None and atol is None:
        rtol, atol = _tolerances((_dtype_name(actual), _dtype_name(expected)), _LEGACY_PRECISIONS)
    ms_assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_dtype=False, msg=msg or None)
