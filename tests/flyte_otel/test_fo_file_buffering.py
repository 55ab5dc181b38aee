"""The file exporter's own batches: written when full or old, flushed whole, bounded in memory, and what a
kill -9 leaves is readable and holds every span flushed before it."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from analyzer.framing import iter_records
from analyzer.load import read_store
from flyte_otel.file_exporter import OtlpFileExporter
from tests.flyte_otel.stored import store_spans

E = "exec-buffer"
_DEADLINE_S = 60.0  # how long a test waits for what must happen before it calls it a hang


def _ended_spans(n: int) -> list[Any]:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False)
    for i in range(n):
        with fo.handle_node(E, f"n{i}"):
            pass
    fo.shutdown()
    return list(memory.get_finished_spans())


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {_DEADLINE_S} s")
        time.sleep(0.01)


def _records(path: Path) -> list[bytes]:
    return [raw for _, raw in iter_records(path.read_bytes())] if path.exists() else []


def test_force_flush_and_shutdown_write_every_span_handed_over(tmp_path: Path) -> None:
    path = tmp_path / "spans.binpb"
    exporter = OtlpFileExporter(path, max_spans=1000, max_delay_s=3600)  # neither bound is reached
    fo.configure(exporter=exporter)
    for i in range(10):
        with fo.handle_node(E, f"n{i}"):
            pass
    fo.force_flush()  # through the SDK's provider: the processor must pass it on to the exporter
    assert len(_records(path)) == 1 and len(store_spans(path)) == 10
    for i in range(10, 15):
        with fo.handle_node(E, f"n{i}"):
            pass
    fo.shutdown()
    assert len(_records(path)) == 2 and len(store_spans(path)) == 15
    assert exporter.export(_ended_spans(1)) == SpanExportResult.FAILURE  # refused once shut down


def test_the_age_bound_writes_a_batch_without_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "spans.binpb"
    exporter = OtlpFileExporter(path, max_spans=1000, max_delay_s=0.05)
    assert exporter.export(_ended_spans(3)) == SpanExportResult.SUCCESS
    _wait_for(lambda: bool(_records(path)), "record written by the age bound")
    assert len(store_spans(path)) == 3
    exporter.shutdown()


def test_a_full_buffer_makes_the_caller_wait_and_holds_no_more_than_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    exporter = OtlpFileExporter(path, max_spans=4, max_delay_s=3600)
    spans = _ended_spans(20)
    disk = threading.Event()  # a disk that does not answer until set
    batches: list[int] = []
    encode = exporter._record

    def slow_disk(batch: list[Any]) -> bytes:
        batches.append(len(batch))
        assert disk.wait(_DEADLINE_S)
        return encode(batch)

    exporter._record = slow_disk
    held: list[int] = []  # the buffer's length after each export

    def produce() -> None:
        for span in spans:
            assert exporter.export([span]) == SpanExportResult.SUCCESS
            held.append(len(exporter._pending))

    producer = threading.Thread(target=produce)
    producer.start()
    # one batch with the writer, one full buffer behind it: 8 spans in, then the caller waits for the disk
    _wait_for(lambda: len(held) >= 8, "8 spans handed over")
    producer.join(1.0)
    assert producer.is_alive() and len(held) == 8 and batches == [4]
    disk.set()
    producer.join(_DEADLINE_S)
    assert not producer.is_alive()
    exporter.shutdown()
    assert max(held) <= 4 and max(batches) <= 4
    assert sorted(s["spanId"] for s in store_spans(path)) == sorted(
        f"{s.context.span_id:016x}" for s in spans
    )


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_disk_drops_batches_on_the_writer_thread_and_never_raises(caplog) -> None:
    exporter = OtlpFileExporter("/dev/full", max_spans=2, max_delay_s=3600)
    fo.configure(exporter=exporter)
    with caplog.at_level(logging.WARNING, logger="flyte_otel"):
        for i in range(10):
            with fo.handle_node(E, f"n{i}"):
                pass
        _wait_for(
            lambda: exporter.drops.dropped == 10, "10 spans dropped"
        )  # every batch written, and refused
        fo.shutdown()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("/dev/full" in w for w in warnings)


def test_a_forked_child_writes_its_own_spans_and_leaves_the_parent_s_to_the_parent(tmp_path: Path) -> None:
    path = tmp_path / "spans.binpb"
    exporter = OtlpFileExporter(path, max_delay_s=3600)
    spans = _ended_spans(3)
    exporter.export(spans[:2])  # buffered in the parent when it forks
    pid = os.fork()
    if pid == 0:  # the child: one span of its own, written at its shutdown
        try:
            exporter.export(spans[2:])
            exporter.shutdown()
        finally:
            os._exit(0)
    try:
        _wait_for(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, "child's exit")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)  # it hangs (on a lock a thread of its parent held)
        os.waitpid(pid, 0)
        raise
    exporter.shutdown()
    assert sorted(s["spanId"] for s in store_spans(path)) == sorted(
        f"{s.context.span_id:016x}" for s in spans
    )


_EXIT_WITHOUT_SHUTDOWN = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from flyte_otel.file_exporter import FlushingSpanProcessor, OtlpFileExporter
provider = TracerProvider(shutdown_on_exit=False)
provider.add_span_processor(FlushingSpanProcessor(OtlpFileExporter(sys.argv[1], max_delay_s=3600)))
for i in range(50):
    with provider.get_tracer("t").start_as_current_span(f"s{i}"):
        pass
"""


def test_spans_still_buffered_at_exit_are_written_without_a_shutdown(tmp_path: Path) -> None:
    out = tmp_path / "exit.binpb"
    subprocess.run([sys.executable, "-c", _EXIT_WITHOUT_SHUTDOWN, str(out)], check=True, timeout=_DEADLINE_S)
    assert sorted(s["name"] for s in store_spans(out)) == sorted(f"s{i}" for i in range(50))


# Writes spans through configure() and the SDK; after each force_flush, says on stdout how many are flushed.
_WRITER = """
import sys
import flyte_otel as fo
from flyte_otel.file_exporter import OtlpFileExporter
fo.configure(exporter=OtlpFileExporter(sys.argv[1], max_spans=int(sys.argv[2]), max_delay_s=0.005))
provider, i = fo.tracer_provider(), 0
while True:
    for _ in range(37):
        with fo.handle_node("exec-kill", f"n{i}", phase="RUNNING"):
            pass
        i += 1
    if provider.force_flush():
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
"""


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".binpb", ".jsonl"])
def test_kill_9_while_writing_loses_no_flushed_span_and_leaves_a_readable_store(
    tmp_path: Path, suffix: str
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for run in range(3):
        store = tmp_path / f"store{run}"
        store.mkdir()
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store / f"killed{suffix}"), str(rng.choice([1, 16, 100]))],
            stdout=subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            said = [child.stdout.readline() for _ in range(rng.randint(1, 30))]
            assert all(said), f"the writer ended early (seed {seed})"
            time.sleep(rng.random() / 50)  # somewhere in the next batch's writes
            child.send_signal(signal.SIGKILL)
            said += child.stdout.read().splitlines(keepends=True)  # said before the kill, still in the pipe
        finally:
            child.kill()
            child.wait(_DEADLINE_S)
        flushed = max(int(line) for line in said if line.endswith(b"\n"))
        table = read_store(store)
        assert {f"n{i}" for i in range(flushed)} <= set(table.df["node"]), f"seed {seed}, run {run}"
        assert len(table.warnings) <= 1 and all("truncated" in w for w in table.warnings), table.warnings
