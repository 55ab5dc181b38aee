"""`otel-fold collect` as a real process: killed with SIGKILL mid-stream, or stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace.export import SpanExportResult

from analyzer.collect.receiver import Receiver
from analyzer.collect.sink import DiscardSink
from analyzer.errors import AnalyzerError
from analyzer.framing import frame
from analyzer.load import read_store

TOKEN = "proc-token-7f3a"


def _start(start_collect, store):  # type: ignore[no-untyped-def]
    proc, grpc_port, http_port, line = start_collect(
        store, env={**os.environ, "OTEL_FOLD_COLLECT_TOKEN": TOKEN}
    )
    assert TOKEN not in line
    return proc, grpc_port, http_port


def _ids(spans) -> list[tuple[bytes, bytes]]:  # type: ignore[no-untyped-def]
    return [(s.context.trace_id.to_bytes(16, "big"), s.context.span_id.to_bytes(8, "big")) for s in spans]


def test_sigkill_mid_stream_leaves_a_readable_store_holding_every_acknowledged_span(
    tmp_path, make_spans, records, store_ids, start_collect
):
    store = tmp_path / "store"
    proc, grpc_port, _ = _start(start_collect, store)
    exporter = GrpcExporter(
        endpoint=f"127.0.0.1:{grpc_port}",
        insecure=True,
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    batches = [make_spans(500) for _ in range(30)]
    acked: list[tuple[bytes, bytes]] = []
    enough, killed = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def send() -> None:
        for i, batch in enumerate(batches):
            if killed.is_set():
                return
            try:
                result = exporter.export(batch)
            except Exception as e:  # the SDK exporter may raise once shut down under a pending retry
                if not killed.is_set():
                    errors.append(e)
                return
            if result == SpanExportResult.SUCCESS:
                acked.extend(_ids(batch))
            if i == 5:
                enough.set()
        enough.set()

    sender = threading.Thread(target=send)
    sender.start()
    assert enough.wait(60)
    proc.send_signal(signal.SIGKILL)  # while the sender keeps exporting
    proc.wait(10)
    killed.set()
    exporter.shutdown()
    sender.join(30)
    assert errors == []

    (path,) = store.glob("*.binpb")
    complete, trailing = records(path)  # a cut last record is allowed, and is not counted
    for raw in complete:
        TracesData.FromString(raw)  # every complete record parses
    stored = store_ids(store)
    assert len(acked) >= 6 * 500
    assert set(acked) <= set(stored)
    assert len(stored) == len(set(stored))
    # The analyzer reads the store as it was left, and again with a record cut in half at the end.
    assert len(read_store(store)) == len(stored)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - trailing] + frame(complete[-1])[: len(complete[-1]) // 2])
    table = read_store(store)
    assert len(table) == len(stored)
    assert any(path.name in w for w in table.warnings)


def test_sigterm_flushes_and_exits_cleanly_with_every_span_stored(
    tmp_path, make_spans, records, store_ids, start_collect
):
    store = tmp_path / "store"
    proc, _, http_port = _start(start_collect, store)
    exporter = HttpExporter(
        endpoint=f"http://127.0.0.1:{http_port}/v1/traces",
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    sent = []
    for _ in range(4):
        batch = make_spans(250)
        assert exporter.export(batch) == SpanExportResult.SUCCESS
        sent += _ids(batch)
    exporter.shutdown()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    last = proc.stderr.read()
    assert f"{len(sent)} spans stored" in last
    assert TOKEN not in last
    (path,) = store.glob("*.binpb")
    assert records(path)[1] == 0  # no partial record after a graceful stop
    assert sorted(store_ids(store)) == sorted(sent)


def test_a_port_in_use_is_a_one_line_error_naming_the_address(receiver, tmp_path, collect_command):
    cmd = collect_command(
        "--grpc", f"127.0.0.1:{receiver.grpc_port}", "--http", "off", "--store", str(tmp_path)
    )
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"127.0.0.1:{receiver.grpc_port}" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(AnalyzerError, match=f"127.0.0.1:{receiver.http_port}"):
        Receiver(DiscardSink(), grpc_address=None, http_address=f"127.0.0.1:{receiver.http_port}").start()
