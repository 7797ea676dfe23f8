"""torch.set_grad_enabled / torch.enable_grad / torch.is_grad_enabled on MindSpore's grad switch.

MindSpore (PyNative) keeps one switch that mindspore._no_grad() turns off; mindspore.grad and
value_and_grad refuse to run while it is off. These helpers set and restore that same switch, the
way torch's grad-mode contexts do: set_grad_enabled(mode) sets it when called (so a bare call
works too), and a `with` block restores the previous state on exit.
"""
import contextlib

from mindspore.common.api import _pynative_executor  # the switch mindspore._no_grad() flips


class ms_set_grad_enabled(contextlib.ContextDecorator):
    def __init__(self, mode):
        self.prev = _pynative_executor.enable_grad()
        _pynative_executor.set_enable_grad(bool(mode))

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        _pynative_executor.set_enable_grad(self.prev)
        return False


class _grad_switch(contextlib.ContextDecorator):
    """The switch set to `mode` in the block (or the decorated function), restored on exit."""
    mode = True

    def __enter__(self):
        self.prev = _pynative_executor.enable_grad()
        _pynative_executor.set_enable_grad(self.mode)

    def __exit__(self, *exc):
        _pynative_executor.set_enable_grad(self.prev)
        return False


class ms_enable_grad(_grad_switch):
    mode = True


def ms_is_grad_enabled():
    return _pynative_executor.enable_grad()


class ms_no_grad(_grad_switch):
    """torch.no_grad / torch.inference_mode where gradients may be being computed (in a model's
    methods, in a training step's forward function): the switch off in the block, as
    mindspore._no_grad() does. That context is private to MindSpore, which has no public one, so
    it is spelled here, once, through the same switch. (Outside a differentiated function
    MindSpore records nothing, and the conversion drops the `with`.) Also a decorator, with or
    without parentheses, as torch's."""

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if callable(func):  # @ms_no_grad without parentheses
            return self(func)
        return self

    mode = False

    def __init__(self, func=None):
        pass
