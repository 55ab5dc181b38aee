"""`otel-fold [fold]`: store and file sources, output formats, statistics, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from analyzer.cli import main
from analyzer.framing import frame
from flyte_otel import semconv as sc

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / ".." / "shared" / "fixtures"
S = 1_000_000_000
T0 = 1_700_000_000 * S


def _rounds_payload(rounds: list[tuple[str, int]]) -> bytes:
    """One upstream-style trace per (exec_id, start s): a round with an untagged node event inside."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": sc.SERVICE_PROPELLER}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for exec_id, at in rounds:
        rnd = tracer.start_span(
            sc.ROUND, context=trace.set_span_in_context(trace.INVALID_SPAN), start_time=T0 + at * S,
            attributes={sc.EXEC_ID: exec_id},
        )  # fmt: skip
        ev = tracer.start_span(
            sc.CREATE_NODE_EVENT, context=trace.set_span_in_context(rnd), start_time=T0 + at * S + 1000,
            attributes={sc.NODE_ID: "n0", sc.PHASE_FROM: sc.Phase.QUEUED, sc.PHASE: sc.Phase.RUNNING},
        )  # fmt: skip
        ev.end(end_time=T0 + at * S + 2000)
        rnd.end(end_time=T0 + at * S + 5000)
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    directory = tmp_path / "store"
    directory.mkdir()
    (directory / "propeller-1.binpb").write_bytes(frame(_rounds_payload([("exec-a", 0), ("exec-b", 1)])))
    (directory / "propeller-2.binpb").write_bytes(frame(_rounds_payload([("exec-a", 2)])))
    return directory


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fold_reads_the_store_and_prints_only_that_executions_traces(capsys, store):
    code, out, err = _run(capsys, "exec-a", "--store", str(store))
    assert code == 0, err
    *lines, total = out.splitlines()[1:]
    assert len(lines) == 4  # two rounds (from two files), each with its untagged event
    assert total.split()[1:6] == ["0ns", "2.000005s", "total", "of", "execution"]
    assert [line.split()[3] for line in lines] == ["1", "1.1", "2", "2.1"]
    assert lines[2].split()[1] == "2s"  # offset of the second round from the execution's start
    assert "event.node CreateNodeEvent node=n0 phase QUEUED→RUNNING" in lines[1]


def test_store_defaults_to_the_environment_variable(capsys, store, monkeypatch):
    monkeypatch.setenv("OTEL_FOLD_STORE", str(store))
    code, out, _ = _run(capsys, "fold", "exec-b")
    assert code == 0 and len(out.splitlines()) == 1 + 2 + 1  # header, round and event, total


def test_unknown_execution_exits_1_and_says_what_was_searched(capsys, store):
    code, out, err = _run(capsys, "exec-zzz", "--store", str(store))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "exec-zzz" in err and str(store) in err


def test_missing_store_exits_1_naming_it(capsys, tmp_path):
    code, _, err = _run(capsys, "exec-a", "--store", str(tmp_path / "nowhere"))
    assert code == 1 and str(tmp_path / "nowhere") in err


def test_damaged_file_exits_2_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": [{"scopeSpans": [')
    code, _, err = _run(capsys, "exec-a", "--file", str(bad))
    assert code == 2 and str(bad) in err and err.count("\n") == 1 and "Traceback" not in err


def test_execution_id_is_required_without_a_file(capsys, store):
    code, _, err = _run(capsys, "--store", str(store))
    assert code == 2 and "execution id" in err


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_structured_fold_has_one_entry_per_line(capsys, store, fmt):
    code, out, _ = _run(capsys, "exec-a", "--store", str(store), "--format", fmt)
    doc = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert code == 0 and doc["execution"] == "exec-a" and doc["spans"] == 4
    assert [line["number"] for line in doc["lines"]] == ["1", "1.1", "2", "2.1"]
    assert [line["duration_ns"] for line in doc["lines"]] == [5000, 1000, 5000, 1000]


def test_stats_of_a_file_without_execution_id_group_by_service(capsys):
    path = FIXTURES / "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json"
    code, out, _ = _run(capsys, "--file", str(path), "--stats", "service")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert code == 0 and set(rows) == {"api-gateway", "customers-service"}
    assert rows["api-gateway"][1] == "2" and rows["api-gateway"][-1] == "64.52%"


def test_stats_as_json_are_in_nanoseconds(capsys):
    path = FIXTURES / "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json"
    code, out, _ = _run(capsys, "--file", str(path), "--stats", "service", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["group_by"] == "service"
    assert doc["groups"]["customers-service"]["self_total"] == 1_739_000  # 1739 µs, from the trace's numbers


def test_collapse_depth_and_node_flags_reach_the_fold(capsys, tmp_path):
    path = tmp_path / "rounds.binpb"
    path.write_bytes(_rounds_payload([("exec-a", i) for i in range(30)]))
    code, out, _ = _run(capsys, "exec-a", "--file", str(path))
    # rounds are the fold's unit and are never collapsed: header + 30 rounds + their 30 events + total
    assert code == 0 and "×" not in out and len(out.splitlines()) == 62
    _, out, _ = _run(capsys, "exec-a", "--file", str(path), "--collapse", "0", "--depth", "1")
    assert len(out.splitlines()) == 32
    _, out, _ = _run(capsys, "exec-a", "--file", str(path), "--collapse", "0", "--node", "nope")
    assert len(out.splitlines()) == 2
    assert "60 spans" in out and "30 rounds" in out  # the total is the execution's, whatever is shown


def test_command_line_prints_each_warning_as_one_line_on_stderr(tmp_path):
    payload = _rounds_payload([("exec-a", 0)])
    repeated = tmp_path / "twice.binpb"
    repeated.write_bytes(frame(payload) + frame(payload))  # the same spans stored twice
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "analyzer", "exec-a", "--store", str(tmp_path)]
    ok = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == 4
    assert ok.stderr.startswith("otel-fold: warning: execution exec-a: 2 repeated span(s)")
    assert "Traceback" not in ok.stderr


def test_the_programs_fold_ends_with_all_it_printed_and_its_exit_code(capsys, tmp_path):
    # the process ends without the interpreter's teardown (cli.console): what is still buffered (a few lines
    # to a pipe) must be out
    (tmp_path / "rounds.binpb").write_bytes(frame(_rounds_payload([("exec-a", i) for i in range(3)])))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | {"PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "analyzer", "exec-a", "--store", str(tmp_path), "--collapse", "0"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    code, out, _ = _run(capsys, *command[3:])
    assert (done.returncode, done.stdout) == (code, out) == (0, out)
    assert len(out.splitlines()) == 1 + 2 * 3 + 1
    wrong = subprocess.run(
        [*command[:3], "exec-z", *command[4:]], capture_output=True, text=True, env=env, timeout=60
    )
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert wrong.stderr.startswith("otel-fold: ") and "exec-z" in wrong.stderr


def test_execution_recorded_by_flyte_otel_file_exporter_folds_with_its_virtual_timings(capsys, tmp_path):
    import flyte_otel as fo

    ms, us = 1_000_000, 1_000
    now = [T0]
    fo.set_clock(lambda: now[0])
    try:
        fo.configure(exporter="file", path=str(tmp_path), one_trace=True, batch=False)
        ex = fo.execution("exec-e2e", wf="wf", start=T0)
        now[0] = T0 + 1 * ms
        with fo.round("exec-e2e"):
            now[0] += 100 * us
            with fo.event(sc.EventKind.NODE, "exec-e2e", node="n0", phase=sc.Phase.RUNNING,
                          phase_from=sc.Phase.QUEUED):  # fmt: skip
                now[0] += 850 * us
            now[0] = T0 + 13_345 * us
        node = ex.node("n0", kind=sc.NodeKind.ARRAY, start=T0 + 2 * S, array_size=25)
        for i in range(25):  # sub-task i runs (i + 1) ms: median 13ms, max 25ms
            node.attempt(0, start=T0 + 2 * S + i * ms, array_index=i).end(
                sc.Phase.SUCCEEDED, at=T0 + 2 * S + i * ms + (i + 1) * ms
            )
        node.end(sc.Phase.SUCCEEDED, at=T0 + 3 * S)
        ex.end(sc.Phase.SUCCEEDED, at=T0 + 4 * S)
    finally:
        fo.shutdown()
        fo.set_clock(None)
    code, out, err = _run(capsys, "exec-e2e", "--store", str(tmp_path))
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:-1]]
    assert rows[0] == [
        "22:13:20.000000",
        "0ns",
        "4s",
        "1",
        "lifecycle",
        sc.EXECUTION,
        "phase",
        sc.Phase.SUCCEEDED,
    ]
    assert rows[1] == ["22:13:20.001000", "1ms", "12.345ms", "1.1", "round", "Handle"]
    assert rows[2] == ["22:13:20.001100", "1.1ms", "850µs", "1.1.1", "event.node", "CreateNodeEvent", "node=n0",
                       "phase", "QUEUED→RUNNING"]  # fmt: skip
    assert rows[3] == [
        "22:13:22.000000",
        "2s",
        "1s",
        "1.2",
        "lifecycle",
        sc.NODE,
        "node=n0",
        "phase",
        sc.Phase.SUCCEEDED,
    ]
    assert rows[4] == ["22:13:22.000000", "2s", "49ms", "1.2.1", "×25", "lifecycle", sc.ATTEMPT, "p50", "13ms",
                       "max", "25ms"]  # fmt: skip
    assert len(rows) == 5


@pytest.mark.parametrize(("typed", "same_as"), [("span.kind", "kind"), ("service.name", "service")])
def test_stats_accept_the_names_users_type(capsys, typed, same_as):
    path = FIXTURES / "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json"
    code, out, _ = _run(capsys, "--file", str(path), "--stats", typed, "--format", "json")
    _, alias, _ = _run(capsys, "--file", str(path), "--stats", same_as, "--format", "json")
    groups = json.loads(out)["groups"]
    assert code == 0 and groups == json.loads(alias)["groups"]
    if typed == "span.kind":  # the groups are the trace's span.kind tags, counted from the JSON itself
        spans = json.loads(path.read_bytes())["spans"]
        kinds = [next((g["value"] for g in s["tags"] if g["key"] == "span.kind"), "") for s in spans]
        assert {k: v["count"] for k, v in groups.items()} == {
            k or "unspecified": kinds.count(k) for k in kinds
        }


def test_stats_by_an_unknown_key_is_an_error_listing_the_valid_ones(capsys):
    path = FIXTURES / "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json"
    code, out, err = _run(capsys, "--file", str(path), "--stats", "no.such.key")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "no column or attribute 'no.such.key'" in err and "span.kind" in err and "database" in err


def test_the_total_line_spans_the_execution_first_start_to_last_end(capsys, store):
    # fold-logs.py's first line ("1 Workflow"): first enqueue to the last round's end; ours over the spans
    code, out, _ = _run(capsys, "exec-a", "--store", str(store), "--depth", "1")
    *_, total = out.splitlines()
    assert total.split()[:3] == ["22:13:20.000000", "0ns", "2.000005s"]  # rounds at 0 s and 2 s, 5 µs each
    assert total.endswith(
        "total of execution exec-a: 4 spans, first start to last end, from 2023-11-14 22:13:20.000000 UTC; "
        "2 rounds, 10µs in rounds"
    )
    code, out, _ = _run(capsys, "exec-a", "--store", str(store), "--format", "json")
    doc = json.loads(out)
    assert doc["total"] == {
        "start_ns": T0,
        "duration_ns": 2 * S + 5000,
        "spans": 4,
        "rounds": 2,
        "round_ns": 10_000,
    }


@pytest.mark.parametrize(
    ("argv", "first", "since"),
    [
        ([], "22:13:20.000000", "2023-11-14 22:13:20.000000 UTC"),
        (["--time-format", "datetime"], "2023-11-14 22:13:20.000000", "2023-11-14 22:13:20.000000 UTC"),
        (["--time-format", "iso", "--tz", "Asia/Kolkata"], "2023-11-15T03:43:20.000000+05:30",
         "2023-11-15 03:43:20.000000 Asia/Kolkata"),
        (["--time-format", "datetime", "--tz", "America/New_York"], "2023-11-14 17:13:20.000000",
         "2023-11-14 17:13:20.000000 America/New_York"),
    ],
    ids=["default", "datetime", "iso in a zone", "datetime in a zone"],
)  # fmt: skip
def test_time_format_and_zone_write_every_timestamp(capsys, store, argv, first, since):
    code, out, err = _run(capsys, "exec-a", "--store", str(store), *argv)
    header, line, *_, total = out.splitlines()
    assert code == 0, err
    assert line.startswith(first + " ") and total.startswith(first + " ") and f"from {since};" in total
    assert header.index("Offset") + len("Offset") == line.index("0ns") + len("0ns")  # the columns still align


def test_local_time_is_this_machines_zone(capsys, store, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        _, out, _ = _run(capsys, "exec-a", "--store", str(store), "--tz", "local", "--time-format", "iso")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert out.splitlines()[1].startswith("2023-11-15T07:13:20.000000+09:00")


def test_an_unknown_time_zone_is_one_line_before_anything_is_read(capsys, tmp_path):
    code, out, err = _run(capsys, "exec-a", "--store", str(tmp_path / "none"), "--tz", "Mars/Olympus")
    assert (code, out) == (2, "") and err == (
        "otel-fold: unknown time zone 'Mars/Olympus': UTC, local, or an IANA name such as Europe/Paris\n"
    )


def test_ids_end_each_line_with_its_trace_and_span_and_no_link_from_a_store(capsys, store):
    code, out, _ = _run(capsys, "exec-a", "--store", str(store), "--ids")
    lines = out.splitlines()[1:-1]
    ids = [line.rsplit("  trace=", 1)[1].split() for line in lines]
    assert code == 0 and len(ids) == 4
    assert all(len(i) == 2 and len(i[0]) == 32 and i[1].startswith("span=") for i in ids)  # no link: local
    assert len({i[0] for i in ids}) == 2  # each round its own trace, its event in it
    _, out, _ = _run(capsys, "exec-a", "--store", str(store), "--ids", "--format", "json")
    assert [(r["trace_id"], "span=" + r["span_id"]) for r in json.loads(out)["lines"]] == [
        tuple(i) for i in ids
    ]


@pytest.mark.parametrize("argv", [["--help"], ["fold", "--help"]], ids=["otel-fold", "otel-fold fold"])
def test_help_says_the_fold_is_the_default_command(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "`otel-fold EXECUTION_ID [flags]` is short for `otel-fold fold EXECUTION_ID [flags]`" in text
