"""A torch package that a converted file still imports for the uses ms-migrate left untranslated
(each marked `# ms-migrate: untranslated`), when it is not installed: the file imports and runs
without it, and only those uses fail, with an ImportError that says so.
"""


class MsMissingModule:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise ImportError(f"{self._name} is not installed: {self._name}.{attr} is used by code ms-migrate did not "
                          "translate (see the '# ms-migrate: untranslated' marker there)")
