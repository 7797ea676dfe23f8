"""A folder's contents, for tests that compare trees or check that an input was left alone."""
import os


def snapshot(root) -> dict:
    """Every entry under root, links not followed: path -> bytes, ('link', target) or 'dir'."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                with open(p, "rb") as fh:
                    out[rel] = fh.read()
    return out
