"""Writing files safely: through a temporary file in the destination folder, renamed over the
target, so an interrupted run leaves either the old file or the new one, never half of one.
(A module of its own: the pipeline and the report both write, and neither imports the other.)"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile


_DEFERRED = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def _signals_deferred():
    """Ctrl-C (or a kill) during a write takes effect once the write is whole or undone."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: the try/except below still cleans up
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_atomic(path: str, data: bytes | None, mode_from: str | None = None, copy_from=None) -> None:
    """Write ``data`` (or stream the open file ``copy_from``) through a temporary file in the same
    folder renamed over ``path``: the target is either the old file or the new one, and no
    temporary file is left, even on Ctrl-C. Signals wait until a write in memory is done; a
    streamed copy (any size: it runs in the main process) is undone by the exception instead."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if copy_from is None:
        # one deferred region from the temporary file's creation to its rename: a worker's SIGTERM
        # (default action: die at once) arriving between the two would leave the file behind
        with _signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=".ms-migrate-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                if mode_from is not None:
                    shutil.copymode(mode_from, tmp)
                os.replace(tmp, path)
            except BaseException:
                _unlink_quietly(tmp)
                raise
        return
    tmp = None
    try:
        with _signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=".ms-migrate-", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(copy_from, fh, 1 << 20)
        if mode_from is not None:
            shutil.copymode(mode_from, tmp)
        with _signals_deferred():
            os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with _signals_deferred():
                _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
