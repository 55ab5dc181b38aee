"""The report document: known lengths to the nanosecond in JSON, parseable YAML, several runs kept as samples."""

from __future__ import annotations

import json

import pytest
import yaml

import flyte_otel as fo
from analyzer.decode.report import decode_report as load
from analyzer.errors import DecodeError
from analyzer.reduce import report as R
from analyzer.render.report_yaml import render_json, render_yaml
from analyzer.results import document as doc_shape
from analyzer.results import timeline as TL
from flyte_otel.semconv import EventKind, Phase
from tests import builders as B
from tests.builders import MS, US, Task

A = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS, task_teardown=1 * MS,
         node_teardown=2 * MS)  # fmt: skip
# Odd nanoseconds everywhere, so any rounding on the JSON path would show.
ODD = Task(transition=1_000_001, node_setup=2_000_003, task_setup=3_000_007, runtime=10_000_011,
           task_teardown=1_000_013, node_teardown=2_000_017)  # fmt: skip


def _chain_run(runtime_ms: int = 10, *, exec_id: str = "ex-chain", events: int = 0) -> dict:
    t = Task(1 * MS, 2 * MS, 3 * MS, runtime_ms * MS, 1 * MS, 2 * MS)
    with B.recording() as rec:
        B.chain(rec, [A, t], setup=5 * MS, teardown=4 * MS, exec_id=exec_id)
        for i in range(events):
            with fo.event(EventKind.NODE, exec_id, node="n0", phase=Phase.RUNNING, start=B.T0 + i * MS,
                          end=B.T0 + i * MS + (i + 1) * 100 * US):  # fmt: skip
                pass
        return R.run_report(rec.table(exec_id))


def test_json_gives_the_known_lengths_to_the_nanosecond():
    with B.recording() as rec:
        B.chain(rec, [ODD, ODD], setup=5_000_019, teardown=4_000_023)
        doc = R.report([R.run_report(rec.table())])
    body = json.loads(render_json(doc))["ex-chain"]
    wall = 5_000_019 + 2 * (ODD.transition + ODD.duration) + 4_000_023
    assert body["duration"] == wall
    assert body["segments"] == {TL.WORKFLOW_SETUP: 5_000_019, TL.WORKFLOW_TEARDOWN: 4_000_023}
    (n1,) = [n["n1"] for n in body["nodes"] if "n1" in n]
    assert n1["duration"] == ODD.duration
    assert n1["schedulingLatency"] == ODD.transition
    assert n1["segments"][TL.TASK_RUNTIME] == ODD.runtime
    flyte = 5_000_019 + 4_000_023 + 2 * (ODD.transition + ODD.node_setup + ODD.node_teardown)
    assert body["flyteOverhead"] == pytest.approx(flyte / wall, rel=1e-15)
    assert body["aggregateOverhead"] == pytest.approx(flyte / wall, rel=1e-15)  # a chain: both agree
    assert body["k8sOverhead"] == pytest.approx(2 * (ODD.task_setup + ODD.task_teardown) / wall, rel=1e-15)
    assert body["userCode"] == pytest.approx(2 * ODD.runtime / wall, rel=1e-15)
    assert "absent" not in body  # lifecycle records: every segment is known


def test_yaml_is_human_and_parses_back_to_the_same_values():
    doc = R.report([_chain_run(events=20)], name="chained")
    text = render_yaml(doc)
    body = yaml.safe_load(text)["flyte.benchmark.chained"]
    assert body["duration"] == "47ms"  # 5 + 2 x (1 + 2 + 3 + 10 + 1 + 2) + 4
    assert body["nodes"][1]["n0"]["segments"]["TASK_RUNTIME"] == "10ms"
    assert body["events"]["node"]["count"] == 20
    assert body["flyteOverhead"].endswith("%")
    back = load(text, "chained.yaml")
    flat_in, flat_back = doc_shape.flatten(doc), doc_shape.flatten(back)
    assert flat_in.keys() == flat_back.keys()
    for path, v in flat_in.items():
        kind = doc_shape.field_kind(path)
        if kind == doc_shape.RATIO:
            assert flat_back[path] == pytest.approx(v, abs=0.0005), path
        elif kind == doc_shape.DURATION:
            assert flat_back[path] == pytest.approx(v, rel=1e-3, abs=1), path
        else:
            assert flat_back[path] == v, path


def test_event_latency_percentiles_are_in_the_report():
    body = _chain_run(events=10)
    lat = body["events"]["node"]["latency"]
    samples = [(i + 1) * 100 * US for i in range(10)]
    assert body["events"]["node"]["count"] == 10
    assert body["events"]["node"]["total"] == sum(samples)
    assert lat["max"] == 1000 * US
    assert lat["p50"] == 550 * US  # linear interpolation between 500us and 600us


def test_several_runs_are_kept_as_samples_and_summarised_by_the_median():
    runs = [_chain_run(r, exec_id=f"ex-{r}") for r in (10, 30, 20)]
    doc = R.report(runs, name="chain")
    body = doc["flyte.benchmark.chain"]
    assert [r["execution"] for r in body["runs"]] == ["ex-10", "ex-30", "ex-20"]
    assert body["duration"] == runs[2]["duration"]  # the median run
    assert body["method"]["summary"] == R.SUMMARY_METHOD
    assert "percentiles" in body["method"] and "linear" in body["method"]["percentiles"]


def test_document_is_keyed_by_execution_id_without_a_name():
    assert list(R.report([_chain_run()])) == ["ex-chain"]


def test_launch_plan_report_lists_the_child_executions_nodes_under_the_node():
    inner = Task(1 * MS, 1 * MS, 2 * MS, 10 * MS, 1 * MS, 1 * MS)
    with B.recording() as rec:
        B.launch_plan(rec, inner, transition=2 * MS, launch=7 * MS, child_setup=3 * MS, child_teardown=4 * MS,
                      node_teardown=5 * MS, setup=1 * MS, teardown=1 * MS)  # fmt: skip
        body = R.run_report(rec.table("ex-parent"), {"ex-child": rec.table("ex-child")})
    nodes = {k: v for n in body["nodes"] for k, v in n.items()}
    assert nodes["n0"]["childExecution"] == "ex-child"
    assert nodes["n0/n0"]["segments"]["TASK_RUNTIME"] == 10 * MS


def test_array_report_has_fan_out():
    subs = [Task(task_setup=(1 + i) * MS, runtime=5 * MS, task_teardown=1 * MS) for i in range(3)]
    with B.recording() as rec:
        B.array(rec, subs, transition=1 * MS, node_setup=1 * MS, stagger=0, node_teardown=1 * MS, setup=1 * MS,
                teardown=1 * MS)  # fmt: skip
        body = R.run_report(rec.table())
    fan = body["nodes"][1]["n0"]["fanOut"]
    assert fan["size"] == 3 and fan["TASK_SETUP"] == {"min": 1 * MS, "p50": 2 * MS, "max": 3 * MS}


def test_upstream_dialect_report_says_what_it_cannot_know():
    with B.recording(one_trace=False) as rec:
        with (
            fo.round("ex-up", start=B.T0, end=B.T0 + 9 * MS),
            fo.streak("ex-up", start=B.T0 + 1 * MS, end=B.T0 + 8 * MS),
        ):
            with (
                fo.handle_node("ex-up", "n1", start=B.T0 + 1 * MS, end=B.T0 + 6 * MS),
                fo.handle_node("ex-up", "n1/n0", start=B.T0 + 2 * MS, end=B.T0 + 5 * MS),
            ):
                pass
            with fo.workflow_store_update("ex-up", start=B.T0 + 6 * MS, end=B.T0 + 7 * MS):  # no size
                pass
        body = R.run_report(rec.table())
    assert set(body["absent"]) == {"segments", "etcdBytes"}
    assert "flyteOverhead" not in body and "segments" not in body
    # nodes are what the trace shows, first handleNode start to last end, kind unknown; n1's n0 stays apart
    assert body["nodes"] == [{"n1": {"seen": 5 * MS}}, {"n1/n0": {"seen": 3 * MS}}]
    assert body["propeller"]["rounds"]["count"] == 1


def test_loading_something_that_is_not_a_report_names_the_input():
    with pytest.raises(DecodeError, match="base.yaml"):
        load("- just\n- a list\n", "base.yaml")
    with pytest.raises(DecodeError, match=r"new.yaml: ex.duration: not a duration"):
        load("ex:\n  duration: fast\n", "new.yaml")
