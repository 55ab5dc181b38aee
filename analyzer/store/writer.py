"""Writer side of the local trace store (docs/store.md): append-only files, one writer each (framing: framing.py)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

__all__ = ["AppendFile"]


class AppendFile:
    """A store file created exclusively for one writer, appended to with unbuffered writes.

    A write either lands whole or not at all: when the OS refuses part of one (disk full, quota, I/O error),
    the file is cut back to where the record began, so no partial record sits between whole ones. If even
    that fails, the file is `broken` and its writer starts another (the reader skips a cut-off end).
    """

    def __init__(self, store_dir: Path, prefix: str, suffix: str) -> None:
        # 0700 / 0600: span attributes (ids, node names, URIs) are for the store's owner, not every local user
        store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.broken = False
        self._size = 0
        for n in range(1000):
            path = store_dir / f"{prefix}-{stamp}-{os.getpid()}-{n}{suffix}"
            try:
                # O_EXCL: a file belongs to one writer only, so records of two processes never interleave.
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            except FileExistsError:
                continue
            self.path = path
            return
        raise FileExistsError(
            f"no free file name for {prefix}-{stamp}-{os.getpid()}-*{suffix} in {store_dir}"
        )

    def write(self, data: bytes) -> None:
        """Hand all of `data` to the OS (survives the writer being killed, not a power loss), or none of it:
        OSError if the OS refused, with the file as it was before."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            self._cut_back()
            raise
        self._size += len(data)

    def _cut_back(self) -> None:
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self.broken = True
            with contextlib.suppress(OSError):  # the write's own error is the one to report
                self.close()

    def close(self) -> None:
        """Sync and close; idempotent. OSError if the sync fails (the file is closed all the same)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
