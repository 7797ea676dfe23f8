"""Method calls whose receiver type is unknown statically (``x.view(...)``, ``model.train()``).

A method is translated only when its receiver is plausibly what the rule is for: receivers
that are clearly something else (literals, numpy arrays, strings, lists, dicts, pandas or PIL
objects, well-known stdlib modules, names assigned from such values) are left alone, so
``parts.append(p)``, ``arr.repeat(3)`` on a numpy array or ``"a,b".split(",")`` never change.

What a name holds is tracked cheaply, without libcst metadata, as the single tree walk goes:
assignments, ``for`` targets, ``with ... as`` names and function parameters (annotations and
literal defaults). Each function body gets its own copy of the module's kinds, so a parameter
shadows whatever an outer name held. A receiver of unknown kind is still translated (in a torch
file most such receivers are tensors) unless the call itself does not fit the torch method:
a string literal argument (``line.split(",")``) or arguments the torch signature does not take
(``arr.std(ddof=1)``, ``df.mean(axis=0)``).
"""
from __future__ import annotations

import re

import libcst as cst

from ..names import dotted_name
from ..rules import Rule

# Receivers that are never torch tensors or modules.
NON_TENSOR_MODULES = {"np", "numpy", "os", "sys", "math", "random", "json", "re", "time", "pd", "pandas", "plt",
                      "torchvision", "PIL", "Image", "shutil", "pickle", "argparse", "itertools", "string",
                      "collections", "functools", "copy", "logging", "warnings", "datetime", "glob", "io",
                      "cv2", "scipy", "sklearn", "matplotlib", "pathlib", "csv", "struct", "subprocess", "h5py"}
# Modules whose calls return numpy arrays.
ARRAY_MODULES = {"np", "numpy", "cv2", "scipy"}
# Methods of lists, dicts, strings and sets. On a receiver of unknown type these are far more
# often plain Python than torch, so they are translated only on a known tensor or module.
CONTAINER_METHODS = {"copy", "index", "count", "sort", "pop", "append", "extend", "insert", "remove", "update",
                     "items", "keys", "values", "get", "join", "replace", "format", "strip", "lower", "upper",
                     "startswith", "endswith", "find", "clear", "add", "discard", "setdefault", "reverse"}
# Kinds that are not torch tensors or modules: their method calls are never translated.
NOT_TORCH = {"python", "ndarray", "loader", "str", "strs", "foreign"}
# Tensor methods that take a string positionally (x.to('cpu'), x.type('torch.LongTensor')).
STRING_ARG_METHODS = {"to", "type", "cuda", "norm"}
# Methods a torch Module shares with Tensor; on a receiver named like a model they are the
# module's (model.float(), net.half(), encoder.requires_grad_(False)).
MODULE_ALSO = {"float", "half", "double", "bfloat16", "type", "requires_grad_", "to", "cuda", "cpu"}
_MODULE_NAME = re.compile(r"(^|_)(model|models|net|network|module|encoder|decoder|backbone|classifier|"
                          r"generator|discriminator|critic|actor|policy|layer\d*|block\d*|head|teacher|student)$", re.I)

# An optimizer, by its name: optimizer, opt, optim, optimizer_g, opt_D, optimizerG, self.optimizer.
_OPTIMIZER_NAME = re.compile(r"(^|_)([Oo]ptimi[sz]er|[Oo]ptim|[Oo]pt|OPTIMIZER)(_[A-Za-z0-9]+|[A-Z0-9][A-Za-z0-9]*)?$")
# A learning-rate scheduler, by its name: scheduler, lr_scheduler, sched, scheduler_g.
_SCHEDULER_NAME = re.compile(r"(^|_)([Ss]chedulers?|[Ss]ched)(_[A-Za-z0-9]+|[A-Z0-9][A-Za-z0-9]*)?$")
# Methods an optimizer (or a scheduler) shares with a Module: on a receiver named like an optimizer they are its.
OPTIMIZER_ALSO = {"state_dict", "load_state_dict"}

_PARAMETER_NAME = re.compile(r"(weight|bias|param|params|parameters|table|embedding|embeddings|token|mask|"
                             r"scale|gamma|beta|running_mean|running_var|buffer|pos|alpha|logit_scale|tensor)s?$", re.I)

_BUILTIN_PYTHON = {"list", "dict", "set", "tuple", "len", "int", "float", "bool", "range", "sorted", "enumerate",
                   "zip", "repr", "min", "max", "sum", "abs", "round", "divmod", "hash", "id", "isinstance", "vars"}
_BUILTIN_STR = {"str", "input", "format", "chr", "hex", "oct", "bin", "ascii"}
_STR_TO_STR = {"strip", "lstrip", "rstrip", "lower", "upper", "replace", "format", "join", "title", "capitalize",
               "casefold", "ljust", "rjust", "zfill", "expandtabs", "read", "readline"}
_STR_TO_STRS = {"splitlines", "readlines", "partition", "rpartition"}
_TO_PYTHON = {"tolist", "item", "keys", "values", "items", "encode", "isdigit", "isalpha", "count", "index", "find"}
_PATH_LISTS = {"os.listdir", "glob.glob", "glob.iglob", "os.walk", "sorted"}

_ARRAY_ANNOTATIONS = {"np.ndarray", "numpy.ndarray", "ndarray", "NDArray", "npt.NDArray", "numpy.typing.NDArray",
                      "np.array"}
_STR_ANNOTATIONS = {"str", "bytes", "os.PathLike", "Path", "pathlib.Path"}
_PYTHON_ANNOTATIONS = {"list", "List", "dict", "Dict", "tuple", "Tuple", "set", "Set", "int", "float", "bool",
                       "Sequence", "Iterable", "Iterator", "Mapping", "MutableMapping", "Callable", "typing.List",
                       "typing.Dict", "typing.Tuple", "typing.Sequence", "DefaultDict", "OrderedDict", "Counter",
                       "deque", "frozenset", "complex", "Namespace", "argparse.Namespace"}
_FOREIGN_ANNOTATIONS = {"pd.DataFrame", "pd.Series", "pandas.DataFrame", "pandas.Series", "DataFrame", "Series",
                        "Image.Image", "PIL.Image.Image"}
_TENSOR_ANNOTATIONS = {"torch.Tensor", "Tensor", "torch.FloatTensor", "torch.LongTensor", "torch.nn.Parameter",
                       "nn.Parameter", "Parameter"}
_MODULE_ANNOTATIONS = {"nn.Module", "torch.nn.Module", "Module"}


class Kinds:
    """What names hold, as far as the file shows: 'tensor', 'module', 'optimizer', 'scheduler',
    'loader', 'ndarray', 'foreign' (pandas, PIL...), 'str', 'strs' (iterable of strings) or
    'python'. Function bodies work on a copy (push/pop)."""

    def __init__(self) -> None:
        self.of: dict[str, str] = {}
        self._saved: list[dict[str, str]] = []

    def set(self, target: cst.BaseExpression, kind: str | None) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:  # a, b = ...: each name is rebound (kind unknown)
                self.set(el.value, None)
            return
        if isinstance(target, cst.StarredElement):
            self.set(target.value, None)
            return
        name = dotted_name(target)
        if name is None:
            return
        if kind is None:
            self.of.pop(name, None)
        else:
            self.of[name] = kind
        prefix = name + "."
        for key in [k for k in self.of if k.startswith(prefix)]:
            del self.of[key]  # x = ... rebinds x.attr too

    def get(self, node: cst.BaseExpression) -> str | None:
        name = dotted_name(node)
        return self.of.get(name) if name else None

    def push(self) -> None:
        self._saved.append(dict(self.of))

    def pop(self) -> None:
        """Leave a function body. What it assigned to `self.<attr>` stays known (it is the
        object's state, used by the other methods: self.mean = np.array(...) in __init__)."""
        if self._saved:
            inner, self.of = self.of, self._saved.pop()
            for key in [k for k in self.of if k.startswith("self.") and k not in inner]:
                del self.of[key]
            self.of.update((k, v) for k, v in inner.items() if k.startswith("self."))


def literal_kind(node: cst.BaseExpression) -> str | None:
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return "str"
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)) and node.elements and all(
            isinstance(e.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)) for e in node.elements):
        return "strs"
    if isinstance(node, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp, cst.Integer,
                         cst.Float, cst.Tuple, cst.Imaginary)):
        return "python"
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return "python"
    if isinstance(node, cst.UnaryOperation) and isinstance(node.expression, (cst.Integer, cst.Float)):
        return "python"
    return None


def _head(name: str) -> str:
    return name.split(".", 1)[0]


def expr_kind(node: cst.BaseExpression, kinds: Kinds) -> str | None:
    """The kind of a value not produced by torch (torch calls are resolved by the caller)."""
    lit = literal_kind(node)
    if lit:
        return lit
    name = dotted_name(node)
    if name is not None:
        known = kinds.of.get(name)
        if known:
            return known
        if "." in name:
            head = _head(name)
            if head in NON_TENSOR_MODULES:
                return "foreign"
            base = kinds.of.get(name.rsplit(".", 1)[0])
            if base in ("ndarray", "foreign"):
                return base  # arr.T, df.values
            if base in ("tensor", "ndarray") and name.rsplit(".", 1)[1] in ("shape", "ndim", "dtype"):
                return "python"
        return None
    if isinstance(node, cst.Subscript):
        base = expr_kind(node.value, kinds)
        if base in ("ndarray", "foreign"):
            return base
        if base == "str":
            return "str"
        if base == "strs":
            return "str"
        if base == "module":
            return "module"  # seq[2], blocks[-1], heads['cls']: a Sequential's / ModuleList's / ModuleDict's
        return None  # an element of a list may well be a tensor
    if isinstance(node, cst.BinaryOperation):
        left, right = expr_kind(node.left, kinds), expr_kind(node.right, kinds)
        if "tensor" in (left, right):
            return None
        if "ndarray" in (left, right):
            return "ndarray"
        if left == right == "str" or (isinstance(node.operator, cst.Modulo) and left == "str"):
            return "str"
        if left in ("python",) and right in ("python",):
            return "python"
        return None
    if isinstance(node, cst.Call):
        return _call_kind(node, kinds)
    return None


def _call_kind(node: cst.Call, kinds: Kinds) -> str | None:
    fn = dotted_name(node.func)
    if fn is not None:
        head = _head(fn)
        if head in ARRAY_MODULES:
            return "ndarray"
        if fn in _PATH_LISTS:
            return "strs"
        if fn in ("open", "io.open"):
            return "strs"
        if head in NON_TENSOR_MODULES and "." in fn:
            return "foreign"
        if fn in _BUILTIN_STR:
            return "str"
        if fn in _BUILTIN_PYTHON:
            return "python"
    if isinstance(node.func, cst.Attribute):
        method = node.func.attr.value
        receiver = expr_kind(node.func.value, kinds)
        if method == "numpy":
            return "ndarray"
        if receiver == "ndarray":
            return "python" if method in ("tolist", "item") else "ndarray"
        if receiver == "foreign":
            return "foreign"
        if receiver == "tensor":
            return None
        if method in _STR_TO_STR:
            return "str"  # no tensor method has these names
        if method in ("split", "rsplit"):
            if receiver in ("str", "strs") or not node.args:
                return "strs"  # (a tensor's split needs a size)
            first = node.args[0]
            if literal_kind(first.value) == "str" or (first.keyword is not None and first.keyword.value in ("sep", "maxsplit")):
                return "strs"
            return None  # x.split(2) on a tensor: a tuple of tensors
        if method in _STR_TO_STRS:
            return "strs"
        if method in _TO_PYTHON:
            return "python"
    return None


def receiver_kind(node: cst.BaseExpression, kinds: Kinds, in_cell: bool, method: str | None = None) -> str | None:
    name = dotted_name(node)
    if name is not None:
        head = _head(name)
        if head in NON_TENSOR_MODULES and "." not in name:
            return "python"
        if name == "self" and in_cell:
            return "module"
    if isinstance(node, cst.Call) and dotted_name(node.func) == "super":
        return "module" if in_cell else None
    kind = expr_kind(node, kinds)
    if kind is None and name is not None and method in OPTIMIZER_ALSO:
        if _OPTIMIZER_NAME.search(name.rsplit(".", 1)[-1]):
            return "optimizer"
        if _SCHEDULER_NAME.search(name.rsplit(".", 1)[-1]):
            return "scheduler"
    if kind is None and name is not None and method in MODULE_ALSO:
        if _MODULE_NAME.search(name.rsplit(".", 1)[-1]):
            return "module"
        # an attribute of a module that is not named like a parameter: a submodule (net.fc.half())
        base, _, attr = name.rpartition(".")
        base_kind = "module" if base == "self" and in_cell else kinds.of.get(base) if base else None
        if base_kind == "module" and not _PARAMETER_NAME.search(attr):
            return "module"
    return kind


# ---- function parameters, loops, with-statements ------------------------------------------------
def annotation_kind(annotation: cst.BaseExpression) -> str | None:
    node = annotation
    if isinstance(node, cst.Subscript):
        base = dotted_name(node.value)
        if base in ("Optional", "typing.Optional") and len(node.slice) == 1 \
                and isinstance(node.slice[0].slice, cst.Index):
            return annotation_kind(node.slice[0].slice.value)
        node = node.value
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        try:
            return annotation_kind(cst.parse_expression(node.evaluated_value))  # "np.ndarray"
        except Exception:  # noqa: BLE001 - a string annotation that is not an expression
            return None
    name = dotted_name(node)
    if name is None:
        return None
    if name in _ARRAY_ANNOTATIONS:
        return "ndarray"
    if name in _STR_ANNOTATIONS:
        return "str"
    if name in _PYTHON_ANNOTATIONS:
        return "python"
    if name in _FOREIGN_ANNOTATIONS:
        return "foreign"
    if name in _TENSOR_ANNOTATIONS:
        return "tensor"
    if name in _MODULE_ANNOTATIONS:
        return "module"
    return None


def bind_parameters(fn: cst.FunctionDef, kinds: Kinds) -> None:
    """Parameters shadow outer names: their kind comes from the annotation or a literal default."""
    p = fn.params
    for param in [*p.posonly_params, *p.params, *p.kwonly_params]:
        kind = None
        if param.annotation is not None:
            kind = annotation_kind(param.annotation.annotation)
        if kind is None and param.default is not None:
            kind = literal_kind(param.default)
        if param.name.value in ("self", "cls") and kind is None:
            continue  # keep what the class's methods assigned to self.<attr>
        kinds.set(param.name, kind)
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            kinds.set(star.name, "python")  # *args is a tuple, **kwargs a dict


def element_kind(iterable: cst.BaseExpression, kinds: Kinds) -> str | None:
    """The kind of what iterating over `iterable` yields."""
    if isinstance(iterable, cst.Call):
        fn = dotted_name(iterable.func)
        if fn in ("range",):
            return "python"
    kind = expr_kind(iterable, kinds)
    if kind == "strs":
        return "str"
    if kind == "str":
        return "str"
    if kind in ("ndarray", "foreign"):
        return kind
    if isinstance(iterable, (cst.List, cst.Tuple)) and iterable.elements and all(
            literal_kind(e.value) in ("python", "str") for e in iterable.elements):
        return "python"
    return None


def bind_loop_target(target: cst.BaseExpression, iterable: cst.BaseExpression, kinds: Kinds) -> None:
    if isinstance(iterable, cst.Call) and dotted_name(iterable.func) == "enumerate" and iterable.args \
            and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
        kinds.set(target.elements[0].value, "python")
        kinds.set(target.elements[1].value, element_kind(iterable.args[0].value, kinds))
        return
    if isinstance(target, (cst.Tuple, cst.List)):
        kinds.set(target, None)
        return
    kinds.set(target, element_kind(iterable, kinds))


def bind_with_item(item: cst.WithItem, kinds: Kinds) -> None:
    if item.asname is None:
        return
    value = item.item
    kind = None
    if isinstance(value, cst.Call) and dotted_name(value.func) in ("open", "io.open"):
        kind = "strs"
    kinds.set(item.asname.name, kind)


# ---- the choice ----------------------------------------------------------------------------------
def _fits_torch_call(rule: Rule, call: cst.Call) -> bool:
    """Whether the call could be this torch method: no string literal where torch takes none,
    and arguments that bind to the torch signature."""
    if rule.method_name not in STRING_ARG_METHODS and any(
            a.keyword is None and isinstance(a.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString))
            for a in call.args):
        return False
    sig = rule.signature
    if sig is None:
        return True
    from ..signature import BindError, bind
    try:
        bind(sig, call.args)
    except BindError:
        return False
    return True


def _module_call_shape(call: cst.Call) -> bool:
    """A Module method called with arguments on a receiver of unknown type: believed only when
    the receiver is named like a model or the arguments look like a Module's (train(True))."""
    name = dotted_name(call.func.value) if isinstance(call.func, cst.Attribute) else None
    if name and (name == "self" or _MODULE_NAME.search(name.rsplit(".", 1)[-1])):
        return True
    return all(isinstance(a.value, cst.Name) and a.value.value in ("True", "False") or
               (a.keyword is not None and a.keyword.value in ("mode", "recurse", "prefix")) for a in call.args)


def choose(rules: list[Rule], method: str, kind: str | None, call: cst.Call | None = None) -> Rule | None:
    """The rule for this receiver, or None to leave the call alone."""
    if kind in NOT_TORCH:
        return None
    if kind is not None:
        return next((r for r in rules if r.receiver in (kind, "any")), None)
    if method in CONTAINER_METHODS:
        return None
    by_receiver = {r.receiver: r for r in rules}
    for receiver in ("tensor", "any", "module", "optimizer"):
        if receiver in by_receiver:
            rule = by_receiver[receiver]
            if call is not None and rule.translated and not _fits_torch_call(rule, call):
                return None  # not a torch call at all, most likely (line.split(","), arr.std(ddof=1))
            if receiver == "module" and call is not None and call.args and not _module_call_shape(call):
                return None  # trainer.train(epochs): a user's method of the same name
            return rule
    return None


# ---- named tuple fields: x.max(1).values -> x.max(1)[0] -------------------------------------------
# torch returns named tuples from these methods; MindSpore returns plain tuples.
PAIR_FIELDS = {"max": ("values", "indices"), "min": ("values", "indices"), "sort": ("values", "indices"),
               "topk": ("values", "indices"), "median": ("values", "indices"), "cummax": ("values", "indices"),
               "cummin": ("values", "indices"), "aminmax": ("min", "max")}
_NEEDS_ARGS = {"max", "min", "median"}  # without a dim these return one tensor


def named_field(original: cst.Attribute, updated: cst.Attribute, kinds: Kinds, in_cell: bool, rules) -> cst.BaseExpression | None:
    call = original.value
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
        return None
    method = call.func.attr.value
    fields = PAIR_FIELDS.get(method)
    attr = original.attr.value
    if fields is None or attr not in fields:
        return None
    if method in _NEEDS_ARGS and not call.args:
        return None
    kind = receiver_kind(call.func.value, kinds, in_cell, method)
    if kind not in (None, "tensor"):
        return None
    candidates = [r for r in rules.method_rules(method) if r.receiver == "tensor" and r.translated]
    if not candidates:
        return None
    # (a list's sort() returns None: x.sort(...).values is a tensor's)
    if kind is None and method not in CONTAINER_METHODS and not _fits_torch_call(candidates[0], call):
        return None
    index = cst.SubscriptElement(slice=cst.Index(value=cst.Integer(str(fields.index(attr)))))
    return cst.Subscript(value=updated.value, slice=[index])
