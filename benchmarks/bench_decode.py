"""Decode + span table + fold of one big execution, as ratios to the bare parsers in the same process.

    .venv/bin/python benchmarks/bench_decode.py [--quick] [--spans N] [--repeat N] [--cache DIR]

Targets (issue 3): decode + table + fold of the protobuf records <= 5x ``TracesData.FromString`` of the
same records; of the JSON lines <= 2x ``json.loads`` of the same lines; peak memory of decoding <= 3x the
payload's size (measured in a fresh subprocess). Issue 18: the same spans written one span per JSON line (as
flyte_otel's file exporter writes them unbatched: each line repeats the resource) decode + table at >= 0.8x
the rate (spans/s) of the batched JSON lines. "Fold" is the whole way to the fold's lines: select the
execution, stitch it, fold it (rendering the lines as text is measured by bench_fold.py).
The execution is made with the flyte_otel span helpers on a virtual clock (rounds -> streak -> etcd
read/write, node handling, blob reads, node events), encoded by the SDK's OTLP encoder and by flyte_otel's
OTLP/JSON-lines encoder, all before timing starts.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import flyte_otel as fo
from analyzer import framing
from analyzer.decode import decode
from analyzer.execution import select_execution, stitch
from analyzer.reduce.fold import fold
from flyte_otel import semconv as sc
from flyte_otel.otlp_encode import encode_json

BATCH = 512  # spans per exported record (the SDK BatchSpanProcessor's default max batch size)
T0 = 1_700_000_000_000_000_000
EXEC_ID = "fbench0001"


class _Records(SpanExporter):
    """Encodes every BATCH finished spans as one protobuf record and one OTLP/JSON line (the two store
    formats), so a million SDK spans are never held at once."""

    def __init__(self) -> None:
        self.pending: list = []
        self.protos: list[bytes] = []
        self.lines: list[bytes] = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.pending.extend(spans)
        if len(self.pending) >= BATCH:
            self.flush()
        return SpanExportResult.SUCCESS

    def flush(self) -> None:
        if self.pending:
            self.protos.append(encode_spans(self.pending).SerializeToString())
            self.lines.append(json.dumps(encode_json(self.pending), separators=(",", ":")).encode())
            self.pending = []

    def shutdown(self) -> None:
        self.flush()


def flyte_execution(n_spans: int, exec_id: str = EXEC_ID) -> tuple[list[bytes], list[bytes]]:
    """About n_spans spans of one execution from the flyte_otel helpers on a virtual clock (upstream
    dialect: each propeller round its own trace): (protobuf records, OTLP/JSON lines)."""
    records = _Records()
    clock = iter(range(T0, T0 + 10**18, 1_000))  # every reading of the clock is 1 µs later
    fo.configure(exporter=records, batch=False, service_name=sc.SERVICE_PROPELLER)
    fo.set_clock(lambda: next(clock))
    spans_per_round, nodes = 4 + 8 * 3, 8
    try:
        for rnd in range(max(1, n_spans // spans_per_round)):
            with fo.round(exec_id, wf="wf.bench", ns="dev"), fo.streak(exec_id, wf="wf.bench"):
                with fo.workflow_store_get(exec_id):
                    pass
                for i in range(nodes):
                    node = f"n{rnd % 50}-{i}"
                    with fo.handle_node(exec_id, node, phase=sc.Phase.RUNNING):
                        with fo.blob_read(f"s3://bucket/{exec_id}/{node}/inputs.pb", size_bytes=2048, exec_id=exec_id,
                                          node=node):  # fmt: skip
                            pass
                        with fo.event(sc.EventKind.NODE, exec_id, node=node, phase=sc.Phase.RUNNING,
                                      phase_from=sc.Phase.QUEUED):  # fmt: skip
                            pass
                with fo.workflow_store_update(exec_id, size_bytes=40_000):
                    pass
    finally:
        fo.shutdown()
        fo.set_clock(None)
    records.flush()
    return records.protos, records.lines


def _time(fns: list, repeat: int) -> list[float]:  # type: ignore[type-arg]
    """Best CPU time of each function over `repeat` rounds, the functions taking turns in each round so
    that both sides of a ratio see the same neighbours (this machine's speed drifts by 2x within minutes).
    Process time, not wall time: the cores are shared and every side is single-threaded."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            gc.collect()
            gc.disable()  # for all sides alike: decode pauses the GC itself (analyzer.decode._columns.gc_paused)
            try:
                t0 = time.process_time()
                fn()
                best[i] = min(best[i], time.process_time() - t0)
            finally:
                gc.enable()
    return best


def _parse_all(blobs: list[bytes]) -> None:
    for b in blobs:  # each parsed message dropped at once, like the decoder does
        TracesData.FromString(b)


def _loads_all(lines: list[bytes]) -> None:
    for line in lines:
        json.loads(line)


def _fold_of(payload: bytes, source: str) -> tuple[int, int]:
    """Decode, select the execution, stitch, fold: (spans decoded, lines of the fold)."""
    table = decode(payload, source)
    return len(table), len(fold(stitch(select_execution(table, EXEC_ID), EXEC_ID)))


def _generated(n: int, cache: Path | None) -> tuple[list[bytes], list[bytes]]:
    """The execution's records and lines, from `cache` (a store-like pair of files) if it holds them for
    this size: generating a million spans takes minutes; the timed part never reads the cache."""
    proto, jsonl = (
        (cache / f"bench_decode_{n}{suffix}" for suffix in framing.SUFFIXES) if cache else (None, None)
    )
    if proto is not None and jsonl is not None and proto.exists() and jsonl.exists():
        return [p for _, p in framing.iter_records(proto.read_bytes())], jsonl.read_bytes().splitlines()
    blobs, lines = flyte_execution(n)
    if proto is not None and jsonl is not None:
        proto.parent.mkdir(parents=True, exist_ok=True)
        proto.write_bytes(b"".join(framing.frame(b) for b in blobs))
        jsonl.write_bytes(b"\n".join(lines) + b"\n")
    return blobs, lines


def _one_span_per_line(lines: list[bytes]) -> list[bytes]:
    """The spans of `lines` one per line, each with its resource and scope, as the file exporter writes a span
    exported alone (``encode_json([span])``)."""
    out = []
    for line in lines:
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    doc = {"resourceSpans": [{**rs, "scopeSpans": [{**ss, "spans": [span]}]}]}
                    out.append(json.dumps(doc, separators=(",", ":")).encode())
    return out


def _peak_memory(path: Path) -> int:
    """Peak bytes allocated by `analyzer.load(path)` in a fresh interpreter: tracemalloc's peak (Python
    objects and numpy buffers; the interpreter and imported modules excluded) plus the peak of Arrow's
    memory pool (the id columns), which tracemalloc does not see. The two peaks may not coincide: the sum
    is an upper bound."""
    code = (
        "import sys, tracemalloc\n"
        "import pyarrow as pa\n"
        "import analyzer, analyzer.decode, analyzer.load\n"  # imported before measuring: `analyzer` is lazy
        "import pandas, pyarrow.compute\n"  # and what `load` imports on its way (its list of executions)
        "tracemalloc.start()\n"
        "t = analyzer.load(sys.argv[1])\n"
        "print(tracemalloc.get_traced_memory()[1] + pa.default_memory_pool().max_memory())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50,000 spans instead of 1,000,000")
    ap.add_argument("--spans", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="keep the generated execution here between runs")
    args = ap.parse_args(argv)
    n = args.spans or (50_000 if args.quick else 1_000_000)
    repeat = args.repeat or 5

    t0 = time.perf_counter()
    blobs, lines = _generated(n, args.cache)
    binpb = b"".join(framing.frame(b) for b in blobs)
    jsonl = b"\n".join(lines) + b"\n"
    print(f"execution of {n:,} spans ready in {time.perf_counter() - t0:.1f}s: {len(blobs)} records, "
          f"protobuf {len(binpb) / 1e6:.1f} MB, JSON lines {len(jsonl) / 1e6:.1f} MB")  # fmt: skip

    out: dict[str, tuple[int, int]] = {}
    for name, payload, parse_all, parts, target in (
        ("protobuf", binpb, lambda: _parse_all(blobs), "TracesData.FromString", 5),
        ("JSON", jsonl, lambda: _loads_all(lines), "json.loads", 2),
    ):
        source = "bench.binpb" if name == "protobuf" else "bench.jsonl"
        t_parse, t_decode, t_fold = _time(
            [
                parse_all,
                lambda p=payload, s=source: len(decode(p, s)),
                lambda k=name, p=payload, s=source: out.__setitem__(k, _fold_of(p, s)),
            ],
            repeat,
        )
        spans, n_lines = out[name]
        print(f"{name:8s} {parts} alone {t_parse:6.2f}s ({spans / t_parse / 1e6:4.2f}M spans/s)")
        print(f"{'':8s} decode + table        {t_decode:6.2f}s ({spans / t_decode / 1e6:4.2f}M spans/s) "
              f"= {t_decode / t_parse:5.2f}x")  # fmt: skip
        print(f"{'':8s} decode + table + fold {t_fold:6.2f}s ({spans / t_fold / 1e6:4.2f}M spans/s) "
              f"= {t_fold / t_parse:5.2f}x (target <= {target}x; {n_lines:,} fold lines)")  # fmt: skip
    if out["protobuf"] != out["JSON"]:
        raise SystemExit(f"protobuf and JSON gave {out['protobuf']} vs {out['JSON']} (spans, fold lines)")
    single = b"\n".join(_one_span_per_line(lines)) + b"\n"
    t_single, t_batched = _time(
        [lambda: len(decode(single, "one.jsonl")), lambda: len(decode(jsonl, "bench.jsonl"))], repeat
    )
    spans = out["JSON"][0]
    print(f"JSON, one span a line ({len(single) / 1e6:.1f} MB) decode + table {t_single:6.2f}s "
          f"({spans / t_single / 1e6:4.2f}M spans/s) = {t_batched / t_single:4.2f}x the rate of {BATCH} a line "
          f"({t_batched:.2f}s; target >= 0.8x)")  # fmt: skip
    print(f"(CPU time, best of {repeat})")
    with tempfile.TemporaryDirectory() as tmp:
        for name, payload in (("bench.binpb", binpb), ("bench.jsonl", jsonl)):
            path = Path(tmp) / name
            path.write_bytes(payload)
            peak = _peak_memory(path)
            print(
                f"peak memory {name}: {peak / 1e6:.0f} MB for {len(payload) / 1e6:.0f} MB on disk = "
                f"{peak / len(payload):.2f}x (target <= 3x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
