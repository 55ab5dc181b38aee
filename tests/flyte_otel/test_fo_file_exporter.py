"""The file exporter's formats: protobuf records as the SDK's encoder writes them, or OTLP/JSON lines (hex ids,
integer enums); one TracesData per record, append-only, the format named by the file's suffix."""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags, TraceState

import analyzer
import flyte_otel as fo
from analyzer.framing import iter_records
from flyte_otel import semconv as sc
from flyte_otel.file_exporter import OtlpFileExporter
from flyte_otel.otlp_encode import ProtoEncoder, encode_json

E = "exec-file"


def _emit_sample(clock) -> None:
    ex = fo.execution(E, wf="wf", start=clock.now)
    with fo.round(E):
        clock.advance(10)
        with fo.blob_write("s3://b/o", size_bytes=77), pytest.raises(KeyError):
            raise KeyError("k")
        with fo.event(sc.EventKind.NODE, E, node="n0", phase="RUNNING", phase_from="QUEUED") as span:
            span.set_attribute("flyte.test.ratio", 0.25)
            span.set_attribute("flyte.test.nan", float("nan"))
            span.set_attribute("flyte.test.list", [1, 2])
            span.add_event("retry", {"attempt": 1})
            clock.advance(3)
    node = ex.node("n0", kind=sc.NodeKind.TASK, upstream=["start-node"], start=clock.now)
    node.end(sc.Phase.SUCCEEDED, at=clock.advance(5))
    ex.end(sc.Phase.SUCCEEDED, at=clock.advance(1))


def _hex_ids_to_base64(obj):
    """protobuf's own JSON mapping wants base64 bytes; OTLP/JSON has hex ids (the one difference)."""
    if isinstance(obj, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId")
            else _hex_ids_to_base64(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_hex_ids_to_base64(v) for v in obj]
    return obj


def test_json_lines_equal_the_otlp_protobuf_encoding_of_the_same_spans(tmp_path: Path, clock) -> None:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False, one_trace=True)
    _emit_sample(clock)
    spans = memory.get_finished_spans()
    fo.shutdown()
    exporter = OtlpFileExporter(tmp_path / "out.jsonl")
    exporter.export(spans)
    exporter.shutdown()
    (line,) = (tmp_path / "out.jsonl").read_text().splitlines()
    ours = json_format.Parse(json.dumps(_hex_ids_to_base64(json.loads(line))), TracesData())
    oracle = TracesData(
        resource_spans=encode_spans(spans).resource_spans
    )  # the SDK's OTLP exporter's encoder
    assert ours == oracle
    assert (
        len(ours.resource_spans[0].scope_spans[0].spans) == len(spans) == 5
    )  # round, blob write, event, node, execution


def _rich_spans() -> list[Any]:
    """Spans using every field: remote parent, trace state, links, events, status, schema URLs, scope version,
    and attribute values of every kind, including the same value under other types and in other places."""
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False, one_trace=True, upstream_services=True)
    tracer = fo.tracer_provider().get_tracer("lib", "1.2", schema_url="https://example.com/s")
    remote = SpanContext(
        0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")])
    )
    values = {"i": -1, "big": 2**63, "nan": float("nan"), "b": b"\x00\x01", "l": [1.5, 2.5], "e": "", "z": 0}
    with tracer.start_as_current_span(
        "rich", context=trace.set_span_in_context(trace.NonRecordingSpan(remote)), links=[Link(remote, {"i": -1})],
        attributes=values,
    ) as span:  # fmt: skip
        span.add_event("ev", {"i": -1, "t": True}, timestamp=0)
        span.set_status(Status(StatusCode.ERROR, "boom"))
    for same in (True, 1, 1.0, "1"):  # equal as dict keys, not as attribute values
        with tracer.start_as_current_span("typed", attributes={"t": same}):
            pass
    with fo.round(E), fo.blob_read("k"), fo.handle_node(E, "n0"):
        pass
    fo.shutdown()
    return list(memory.get_finished_spans())


def test_protobuf_records_are_the_bytes_the_sdk_s_encoder_writes() -> None:
    spans = _rich_spans()
    encoder = ProtoEncoder()
    oracle = encode_spans(
        spans
    ).SerializeToString()  # ExportTraceServiceRequest: TracesData's field for field
    assert encoder.encode(spans) == oracle
    assert encoder.encode(spans) == oracle  # again, from the encoder's remembered attributes
    assert [encoder.encode([s]) for s in spans] == [encode_spans([s]).SerializeToString() for s in spans]


def test_lines_follow_the_otlp_json_spec(tmp_path: Path, clock) -> None:
    fo.configure(exporter="file", path=tmp_path / "t.jsonl", batch=False)
    _emit_sample(clock)
    fo.shutdown()
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 1  # the exporter's own batch (batch=False is the OTLP exporters' setting)
    assert len(json.loads(lines[0])["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 5
    for line in lines:
        json_format.Parse(line, TracesData())  # field names and value types are protobuf's JSON mapping
        for span in json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"]) and re.fullmatch(
                r"[0-9a-f]{16}", span["spanId"]
            )
            assert isinstance(span["kind"], int) and isinstance(span["startTimeUnixNano"], str)
            assert isinstance(span["status"].get("code", 0), int)


def test_exports_append_and_a_directory_gets_one_file_per_process(tmp_path: Path) -> None:
    for _ in range(2):
        fo.configure(exporter="file", path=tmp_path, service_name="svc", batch=True)
        with fo.round(E):
            pass
        fo.shutdown()
    (file,) = tmp_path.iterdir()
    assert file.name == f"svc-{os.getpid()}.binpb"  # protobuf unless the path names a .jsonl file
    assert len(list(iter_records(file.read_bytes()))) == 2


def test_store_directory_defaults_to_otel_fold_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_FOLD_STORE", str(tmp_path / "store"))
    fo.configure(exporter="file", batch=False)
    with fo.round(E):
        pass
    fo.shutdown()
    (file,) = (tmp_path / "store").iterdir()
    assert file.name == f"{sc.SERVICE_PROPELLER}-{os.getpid()}.binpb"


def test_a_full_disk_drops_spans_with_a_warning_and_never_raises(caplog) -> None:
    fo.configure(exporter="file", path="/dev/full", batch=False)
    with caplog.at_level(logging.WARNING, logger="flyte_otel"):
        for _ in range(3):
            with fo.round(E):
                pass
        fo.shutdown()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("/dev/full" in w for w in warnings)
    # the first loss is reported at once, the rest (inside the rate limit) at shutdown: none unaccounted
    assert sum(int(re.search(r"dropped (\d+) spans", w).group(1)) for w in warnings) == 3


def test_an_unopenable_path_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="file exporter"):
        fo.configure(exporter="file", path=tmp_path / "file" / "below.jsonl")
    assert not fo.is_enabled()


def test_encode_json_groups_spans_by_resource() -> None:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False, upstream_services=True)
    with fo.round(E), fo.blob_read("k"), fo.handle_node(E, "n0"):
        pass
    encoded = encode_json(memory.get_finished_spans())["resourceSpans"]
    services = [
        next(a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "service.name")
        for rs in encoded
    ]
    assert sorted(services) == sorted([sc.SERVICE_PROPELLER, sc.SERVICE_BLOBSTORE])
    assert sum(len(rs["scopeSpans"][0]["spans"]) for rs in encoded) == 3


@pytest.mark.parametrize("service", ["../../escaped", "team/svc", "..", ".hidden", "ok-name.v2"])
def test_the_service_name_cannot_leave_or_hide_in_the_store(tmp_path: Path, service: str) -> None:
    """OTEL_SERVICE_NAME is a free string; it becomes part of a file name inside the store, never a path."""
    store = tmp_path / "store"
    fo.configure(exporter="file", path=store, service_name=service, batch=False)
    try:
        with fo.round("e1"):
            pass
    finally:
        fo.shutdown()
    (written,) = list(tmp_path.rglob("*.binpb"))
    assert written.parent == store and not written.name.startswith(".")  # listed by the reader, not hidden
    assert written.name.endswith(f"-{os.getpid()}.binpb")
    if service == "ok-name.v2":  # a name that is already safe is kept as it is
        assert written.name == f"ok-name.v2-{os.getpid()}.binpb"


def test_store_files_are_the_owner_s_alone(tmp_path: Path) -> None:
    """Trace attributes (ids, node names, URIs) are not for every local user: 0600 files in 0700 directories."""
    from analyzer.store.writer import AppendFile

    exporter = OtlpFileExporter(tmp_path / "a" / "spans.jsonl")
    exporter.shutdown()
    store = AppendFile(tmp_path / "b", "otlp", ".binpb")
    store.close()
    for f in (tmp_path / "a" / "spans.jsonl", store.path):
        assert f.stat().st_mode & 0o777 == 0o600, f
        assert f.parent.stat().st_mode & 0o777 == 0o700, f.parent


class _TornWrites:
    """The exporter's file, on a disk that takes half of each write and then refuses (ENOSPC)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.full = True

    def write(self, data: memoryview) -> int:
        if not self.full:
            return int(self.real.write(data))
        self.real.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize("suffix", [".binpb", ".jsonl"])
@pytest.mark.parametrize("cut_back", [True, False], ids=["cut back", "cannot cut back"])
def test_a_write_refused_part_way_never_tears_the_records_after_it(
    tmp_path: Path, monkeypatch, cut_back, suffix
) -> None:
    path = tmp_path / f"spans{suffix}"
    exporter = OtlpFileExporter(path, max_delay_s=3600)  # written by the flushes alone
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False)
    for _ in range(3):
        with fo.round(E):
            pass
    first, lost, last = ([s] for s in memory.get_finished_spans())
    assert exporter.export(first) == SpanExportResult.SUCCESS and exporter.force_flush()
    torn = exporter._file = _TornWrites(exporter._file)
    if not cut_back:
        monkeypatch.setattr(os, "ftruncate", lambda *a: (_ for _ in ()).throw(OSError(errno.EINVAL, "no")))
    assert exporter.export(lost) == SpanExportResult.SUCCESS  # buffered: the write fails later, quietly
    assert not exporter.force_flush() and exporter.drops.dropped == 1
    monkeypatch.undo()
    torn.full = False  # space returns
    assert exporter.export(last) == SpanExportResult.SUCCESS and exporter.force_flush()
    exporter.shutdown()
    table = analyzer.load(path)
    assert sorted(table.df["span_id"]) == sorted(f"{s.context.span_id:016x}" for s in (*first, *last))
    # the torn half stands on a line of its own, or is a damaged stretch the reader resynchronises past
    assert len([w for w in table.warnings if "skipped" in w]) == (0 if cut_back else 1)
