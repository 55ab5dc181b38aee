"""Disk full (issue 17): a write the disk refuses leaves no partial record, is answered 503 / UNAVAILABLE so that
exporters retry, and writing resumes when space returns, with every acknowledged span readable.

Two disks: an injected one at the write layer (ENOSPC after a set number of bytes, deterministic), and a
real small tmpfs where the machine lets us mount one (CI runs as root)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from test_collect_admission import _json, _proto, _span
from test_collect_errors import JSON, _auth, _grpc_export, _post

from analyzer import table as t
from analyzer.collect.receiver import Receiver
from analyzer.collect.sink import StoreSink, Unwritable
from analyzer.load import read_store
from analyzer.store import writer

TOKEN = "s3cret"


class _SmallDisk:
    """os.write for the store's files on a disk of `capacity` bytes: what does not fit is written in part,
    then refused with ENOSPC, as a real full disk does."""

    def __init__(self, store: Path, capacity: int) -> None:
        self.store, self.capacity = store, capacity
        self._write = os.write

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.store.iterdir()) if self.store.exists() else 0

    def write(self, fd: int, data: bytes) -> int:
        free = self.capacity - self.used()
        if len(data) <= free:
            return self._write(fd, data)
        if free > 0:
            self._write(fd, bytes(data[:free]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def receiver_on(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(
        StoreSink(tmp_path / "store"), grpc_address="127.0.0.1:0", http_address="127.0.0.1:0", token=TOKEN,
        poll_interval=0.02,
    ).start()  # fmt: skip
    yield r
    r.stop(grace=1)


def _ids(i: int) -> list[int]:
    """The span ids of request i."""
    return [1000 * i + k for k in range(1, 21)]


def _send(receiver: Receiver, i: int) -> int:
    """POST request i (20 spans); its HTTP status."""
    status, _, _ = _post(receiver, _json(*map(_span, _ids(i))), _auth(TOKEN, JSON))
    return status


def _acknowledged(statuses: list[int]) -> set[str]:
    return {f"{n:016x}" for i, s in enumerate(statuses) if s == 200 for n in _ids(i)}


def test_a_full_disk_answers_503_keeps_no_partial_record_and_resumes(
    receiver_on, tmp_path, monkeypatch, caplog
):
    store = tmp_path / "store"
    disk = _SmallDisk(store, capacity=12_000)
    monkeypatch.setattr(writer.os, "write", disk.write)
    statuses = [_send(receiver_on, i) for i in range(12)]
    assert 200 in statuses and 503 in statuses
    with pytest.raises(grpc.RpcError) as e:
        _grpc_export(receiver_on, _proto(*[b"\x02" * 16] * 300), TOKEN)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    table = read_store(store)
    assert table.warnings == []  # no partial record: the refused writes were cut back
    assert len(table) == 20 * statuses.count(200)
    disk.capacity = 10**9  # space returns
    statuses += [_send(receiver_on, i) for i in range(12, 15)]
    assert statuses[-3:] == [200, 200, 200]
    assert set(read_store(store).df[t.SPAN_ID]) == _acknowledged(statuses)
    refusals = [r for r in caplog.records if "write refused" in r.getMessage()]
    assert len(refusals) == 1  # one line per spell of failures, not one per request


def _mount_tmpfs(where: Path, size: str) -> str | None:
    """None if mounted; else why not."""
    if os.geteuid() != 0:
        return "not root"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")


def test_a_real_full_filesystem_loses_no_acknowledged_span(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    why_not = _mount_tmpfs(disk, "256k")
    if why_not is not None:
        pytest.skip(f"cannot mount a small tmpfs here ({why_not}); the injected-ENOSPC test covers the logic")
    try:
        filler = disk / "filler"
        with contextlib.suppress(OSError):
            filler.write_bytes(bytes(256 * 1024))  # fills the disk up to what the filesystem lets it
        filler.write_bytes(bytes(filler.stat().st_size - 60_000))  # leaves ~60 KB
        receiver = Receiver(StoreSink(disk / "store"), grpc_address=None, http_address="127.0.0.1:0",
                            token=TOKEN, poll_interval=0.02).start()  # fmt: skip
        try:
            statuses = [_send(receiver, i) for i in range(40)]
            assert 503 in statuses, "the disk never filled up"
            filler.unlink()  # space returns
            statuses += [_send(receiver, i) for i in range(40, 45)]
        finally:
            receiver.stop(grace=1)
        assert statuses[-5:] == [200] * 5
        table = read_store(disk / "store")
        assert [w for w in table.warnings if "damaged" in w or "truncated" in w] == []
        assert set(table.df[t.SPAN_ID]) == _acknowledged(statuses)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_write_that_cannot_even_be_cut_back_moves_on_to_a_new_file(tmp_path, monkeypatch):
    sink = StoreSink(tmp_path / "store")
    sink.put_json(_json(_span(1)).strip() + b"\n", 1)
    first = sink.paths[0]

    def io_error(*args: object) -> int:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(writer.os, "write", io_error)
    monkeypatch.setattr(writer.os, "ftruncate", io_error)
    with pytest.raises(Unwritable, match="cannot take it now"):
        sink.put_json(_json(_span(2)).strip() + b"\n", 1)
    monkeypatch.undo()
    sink.put_json(_json(_span(3)).strip() + b"\n", 1)
    sink.close()
    assert len(sink.paths) == 1 and sink.paths[0] != first  # a new file for what follows
    assert sorted(read_store(tmp_path / "store").df[t.SPAN_ID]) == [f"{1:016x}", f"{3:016x}"]
    assert json.loads(first.read_text())["resourceSpans"]
