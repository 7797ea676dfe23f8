"""A torch package that a converted file still imports for the uses ms-migrate left untranslated
(each marked `# ms-migrate: untranslated`), when it is not installed: the file imports and runs
without it, and only those uses fail, with an error that says so. Reading a member
(`torchvision.ops.misc.FrozenBatchNorm2d` in a table built at import time) gives a placeholder;
calling it raises. Placeholders are false, so feature probes
(`getattr(torch, "compiler", None) or fallback`) take the fallback.
"""


class MsNotInstalled(ModuleNotFoundError):
    """Raised when a placeholder is called: the package the untranslated use needs is missing
    (an ImportError, as importing it would have raised)."""


class MsMissingModule:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return MsMissingModule(f"{self._name}.{attr}")

    def __bool__(self):
        return False

    def __call__(self, *args, **kwargs):
        raise MsNotInstalled(f"{self._name.split('.')[0]} is not installed: {self._name} is used by code ms-migrate "
                                 "did not translate (see the '# ms-migrate: untranslated' marker there)")

    def __mro_entries__(self, bases):
        self()

    def __repr__(self):
        return f"<{self._name}: not installed>"
