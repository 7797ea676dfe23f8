"""torch.profiler.record_function / torch.autograd.profiler.record_function: a labelled range
for the profiler. It changes no result; MindSpore's profiler (mindspore.profiler.profile) records
operators by itself and, on Ascend, mindspore.profiler.mstx.range_start / range_end mark ranges.
Here the range is not recorded: a context (and decorator) that does nothing.
"""
import contextlib


class ms_record_function(contextlib.ContextDecorator):
    def __init__(self, name, args=None):
        self.name, self.args = name, args

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
