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


class ms_enable_grad(contextlib.ContextDecorator):
    def __enter__(self):
        self.prev = _pynative_executor.enable_grad()
        _pynative_executor.set_enable_grad(True)

    def __exit__(self, *exc):
        _pynative_executor.set_enable_grad(self.prev)
        return False


def ms_is_grad_enabled():
    return _pynative_executor.enable_grad()
