"""A large-payload workflow (blobstore heavy).

Bottleneck: offloaded outputs (files) are uploaded by one pod and downloaded by the next, and propeller
reads and writes every node's input/output literals in the blobstore; the payload size drives the time.
"""

from __future__ import annotations

import os
import tempfile

from flytekit import current_context, task, workflow
from flytekit.types.file import FlyteFile

__all__ = ["large_payload", "measure", "produce", "relay"]

SIZE_BYTES = 64 * 1024 * 1024
HOPS = 3


def _new_file() -> str:
    # A fresh file in the task's sandbox: never the caller's working directory, never another task's file.
    fd, path = tempfile.mkstemp(dir=current_context().working_directory, suffix=".bin")
    os.close(fd)
    return path


@task
def produce(size: int) -> FlyteFile:
    """Write `size` bytes to a file and return it (uploaded to the blobstore)."""
    path = _new_file()
    with open(path, "wb") as f:
        f.write(b"\0" * size)
    return FlyteFile(path)


@task
def relay(f: FlyteFile) -> FlyteFile:
    """Download a file and upload a copy of it."""
    path = _new_file()
    with open(f, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    return FlyteFile(path)


@task
def measure(f: FlyteFile) -> int:
    """The file's size in bytes."""
    return os.path.getsize(f.download())


@workflow
def large_payload(size: int = SIZE_BYTES) -> int:
    """A file of `size` bytes passed through HOPS relays, then measured."""
    f = produce(size=size)
    for _ in range(HOPS):
        f = relay(f=f)
    return measure(f=f)
