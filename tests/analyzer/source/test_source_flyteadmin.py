"""FlyteAdmin execution metrics: the core.Span tree (as the REST gateway writes it) -> node segments, and the merge
with an upstream-dialect trace by node id. Trees are built from known timings on a virtual clock."""

from __future__ import annotations

import json
from typing import Any

import pytest
from source_loopback import T0, FakeAdmin, Loopback, Reply, json_bytes

from analyzer import table as T
from analyzer.decode.flyteadmin import AdminExecution, AdminNode, timeline_from_span
from analyzer.errors import AnalyzerError, DecodeError, NotFound
from analyzer.reduce import segments as S
from analyzer.reduce.admin_segments import merge
from analyzer.results import timeline as TL
from analyzer.source.config import RemoteConfig
from analyzer.source.flyteadmin import PAGE, FlyteAdmin
from analyzer.table import SpanTable
from flyte_otel import semconv

SEC = 10**9
EXEC = {"project": "flytesnacks", "domain": "development", "name": "f7a1b2c3d4"}


def ts(seconds: float) -> str:
    """protojson Timestamp of T0 + seconds, with nanosecond digits as FlyteAdmin writes them."""
    from analyzer.source.config import rfc3339

    return rfc3339(T0 + int(seconds * SEC))


def span(start: float, end: float, id_field: str, id_value: Any, *children: dict[str, Any]) -> dict[str, Any]:
    return {"start_time": ts(start), "end_time": ts(end), id_field: id_value, "spans": list(children)}


def op(start: float, end: float, name: str) -> dict[str, Any]:
    return span(start, end, "operation_id", name)


def node(nid: str, start: float, end: float, *children: dict[str, Any]) -> dict[str, Any]:
    return span(start, end, "node_id", {"node_id": nid, "execution_id": EXEC}, *children)


def task(nid: str, attempt: int, start: float, end: float, *children: dict[str, Any]) -> dict[str, Any]:
    tid = {
        "task_id": {
            "resource_type": "TASK",
            "project": "flytesnacks",
            "domain": "development",
            "name": "t",
            "version": "v",
        },
        "node_execution_id": {"node_id": nid, "execution_id": EXEC},
        "retry_attempt": attempt,
    }
    return span(start, end, "task_id", tid, *children)


# A workflow of a task node n0 that failed once and was retried, then a subworkflow node n1 holding n1-0-n0.
TREE = span(
    0, 100, "workflow_id", EXEC,
    op(0, 5, TL.WORKFLOW_SETUP),
    node(
        "n0", 6, 50,
        op(5, 6, TL.NODE_TRANSITION),
        op(6, 8, TL.NODE_SETUP),
        task("n0", 0, 8, 30, op(8, 10, TL.TASK_SETUP), op(10, 28, TL.TASK_RUNTIME), op(28, 30, TL.TASK_TEARDOWN)),
        op(30, 32, TL.NODE_RESET),
        task("n0", 1, 32, 45, op(32, 33, TL.TASK_SETUP), op(33, 44, TL.TASK_RUNTIME), op(44, 45, TL.TASK_TEARDOWN)),
        op(45, 50, TL.NODE_TEARDOWN),
    ),
    node(
        "n1", 52, 90,
        op(50, 52, TL.NODE_TRANSITION),
        op(52, 54, TL.NODE_SETUP),
        node("n1-0-n0", 55, 80, op(55, 56, TL.NODE_SETUP), task("n1-0-n0", 0, 56, 79, op(56, 79, TL.TASK_RUNTIME)),
             op(79, 80, TL.NODE_TEARDOWN)),
        op(85, 90, TL.NODE_TEARDOWN),
    ),
    op(90, 100, TL.WORKFLOW_TEARDOWN),
)  # fmt: skip


def camel(doc: Any) -> Any:
    """The same document with grpc-gateway's default lowerCamelCase field names."""
    if isinstance(doc, list):
        return [camel(x) for x in doc]
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            head, *rest = k.split("_")
            out[head + "".join(p.title() for p in rest)] = camel(v)
        return out
    return doc


def at(seconds: float) -> int:
    return T0 + int(seconds * SEC)


def test_the_tree_becomes_node_timelines_with_flyteadmins_segments() -> None:
    tl = timeline_from_span(TREE)
    assert (tl.exec_id, tl.start, tl.end) == ("f7a1b2c3d4", at(0), at(100))
    assert [(s.segment, s.start, s.end) for s in tl.sections] == [
        (TL.WORKFLOW_SETUP, at(0), at(5)),
        (TL.WORKFLOW_TEARDOWN, at(90), at(100)),
    ]
    n0 = tl.nodes["n0"]
    assert (n0.kind, n0.ready, n0.queued, n0.end) == (semconv.NodeKind.TASK, at(5), at(6), at(50))
    assert [(a.number, a.start, a.end, a.user_start, a.user_end) for a in n0.attempts] == [
        (0, at(8), at(30), at(10), at(28)),
        (1, at(32), at(45), at(33), at(44)),
    ]
    assert [s.segment for s in n0.waiting] == [TL.NODE_TRANSITION]
    assert n0.totals() == {
        TL.NODE_TRANSITION: 1 * SEC,
        TL.NODE_SETUP: 2 * SEC,
        TL.TASK_SETUP: 3 * SEC,
        TL.TASK_RUNTIME: 29 * SEC,
        TL.TASK_TEARDOWN: 3 * SEC,
        TL.NODE_RESET: 2 * SEC,
        TL.NODE_TEARDOWN: 5 * SEC,
    }


def test_a_node_s_sections_tile_it_from_queued_to_end() -> None:
    for n in timeline_from_span(TREE).nodes.values():
        assert sum(s.duration for s in n.sections) == n.duration, n.node_id
        assert all(a.end <= b.start for a, b in zip(n.sections, n.sections[1:], strict=False)), n.node_id


def test_a_subworkflow_s_children_time_is_subnodes() -> None:
    tl = timeline_from_span(TREE)
    n1 = tl.nodes["n1"]
    assert n1.kind == semconv.NodeKind.SUBWORKFLOW and n1.children == ["n1-0-n0"]
    assert [(s.segment, s.start, s.end) for s in n1.sections] == [
        (TL.NODE_SETUP, at(52), at(54)),
        (TL.SUBNODES, at(54), at(85)),
        (TL.NODE_TEARDOWN, at(85), at(90)),
    ]
    assert tl.nodes["n1-0-n0"].parent == "n1"


def test_parents_come_before_their_children() -> None:
    assert list(timeline_from_span(TREE).nodes) == ["n0", "n1", "n1-0-n0"]
    assert list(merge(S.node_timelines(upstream_table()), _answer(TREE)).nodes) == ["n0", "n1", "n1/n0"]


def test_lower_camel_case_json_reads_the_same() -> None:
    a, b = timeline_from_span(TREE), timeline_from_span(camel(TREE))
    assert a == b


def test_timestamps_keep_nanoseconds() -> None:
    tree = {"start_time": "2026-01-01T00:00:00.000000001Z", "end_time": "2026-01-01T00:00:01.123456789Z",
            "workflow_id": EXEC, "spans": []}  # fmt: skip
    tl = timeline_from_span(tree)
    assert (tl.start, tl.end) == (T0 + 1, T0 + 1_123_456_789)


def test_a_launch_plan_node_holds_the_child_execution() -> None:
    child = dict(EXEC, name="child1")
    tree = span(0, 30, "workflow_id", EXEC,
                node("n0", 0, 30, op(0, 2, TL.NODE_SETUP), span(2, 28, "workflow_id", child, op(2, 3, TL.WORKFLOW_SETUP)),
                     op(28, 30, TL.NODE_TEARDOWN)))  # fmt: skip
    n0 = timeline_from_span(tree).nodes["n0"]
    assert n0.kind == semconv.NodeKind.LAUNCH_PLAN and n0.child_exec_id == "child1"
    assert n0.child is not None and n0.child.sections[0].segment == TL.WORKFLOW_SETUP
    assert [s.segment for s in n0.sections] == [TL.NODE_SETUP, TL.SUBNODES, TL.NODE_TEARDOWN]


def test_a_root_that_is_not_a_workflow_is_refused() -> None:
    with pytest.raises(Exception, match="not a workflow span"):
        timeline_from_span(op(0, 1, TL.NODE_SETUP))


# --- over HTTP -------------------------------------------------------------------------------------------
def config(url: str, **kw: Any) -> RemoteConfig:
    return RemoteConfig(**{"admin_url": url, "retries": 0, "admin_depth": 7, **kw})


def _admin(url: str, **kw: Any) -> FlyteAdmin:
    return FlyteAdmin(config(url, **kw))


def test_fetched_over_rest_with_depth_and_json_accept(server: Loopback) -> None:
    FakeAdmin(EXEC, TREE).install(server)
    got = _admin(server.url).execution("flytesnacks/development/f7a1b2c3d4")
    assert got.tree == timeline_from_span(TREE)
    assert server.requests[0].query == {"depth": "7"}
    assert all(r.headers["accept"] == "application/json" for r in server.requests)


def test_node_executions_are_listed_level_by_level_and_retried_nodes_attempts_asked(server: Loopback) -> None:
    FakeAdmin(EXEC, TREE).install(server)
    got = _admin(server.url).execution("flytesnacks/development/f7a1b2c3d4")
    nodes_path = "/api/v1/node_executions/flytesnacks/development/f7a1b2c3d4"
    asked = [r.query.get("unique_parent_id") for r in server.requests if r.path == nodes_path]
    assert asked == [None, "n1"]  # the top level, then the one parent node's children
    assert {uid: (n.spec_id, n.parent) for uid, n in got.nodes.items()} == {
        "n0": ("n0", None), "n1": ("n1", None), "n1-0-n0": ("n0", "n1"),
    }  # fmt: skip
    tasks = [r.path for r in server.requests if r.path.startswith("/api/v1/task_executions/")]
    assert tasks == ["/api/v1/task_executions/flytesnacks/development/f7a1b2c3d4/n0"]  # only n0 was retried
    assert got.attempt_phases == {"n0": {0: "FAILED", 1: "SUCCEEDED"}}


def test_node_executions_are_read_page_after_page(server: Loopback) -> None:
    wide = span(0, 10, "workflow_id", EXEC, *[node(f"n{i}", 1, 9) for i in range(PAGE + 5)])
    FakeAdmin(EXEC, wide).install(server)
    got = _admin(server.url).execution("flytesnacks/development/f7a1b2c3d4")
    assert len(got.nodes) == PAGE + 5
    assert [r.query.get("token") for r in server.requests if "node_executions" in r.path] == [None, str(PAGE)]


def test_project_and_domain_from_settings(server: Loopback) -> None:
    FakeAdmin({**EXEC, "project": "p", "domain": "d", "name": "name1"}, TREE).install(server)
    _admin(server.url, project="p", domain="d").execution("name1")
    assert server.paths()[0] == "/api/v1/metrics/executions/p/d/name1"


def test_without_project_and_domain_it_says_what_is_needed(server: Loopback) -> None:
    with pytest.raises(AnalyzerError, match="project and domain"):
        _admin(server.url).execution("name1")


def test_an_unknown_execution_is_not_found(server: Loopback) -> None:
    with pytest.raises(NotFound, match="has no execution p/d/nope"):
        _admin(server.url).execution("p/d/nope")


def test_a_body_that_is_not_a_metrics_response_is_a_decode_error_naming_flyteadmin(server: Loopback) -> None:
    server.on("/api/v1/metrics/executions/p/d/x", Reply(body=b'{"spans": []}'))
    with pytest.raises(
        DecodeError, match=rf"FlyteAdmin at {server.url}: not a WorkflowExecutionGetMetricsResponse"
    ):
        _admin(server.url).execution("p/d/x")


def test_a_node_list_that_is_not_one_is_a_decode_error(server: Loopback) -> None:
    server.on("/api/v1/metrics/executions/p/d/x", Reply(body=json_bytes({"span": TREE})))
    server.on("/api/v1/node_executions/p/d/x", Reply(body=b'{"node_executions": 3}'))
    with pytest.raises(DecodeError, match="not a node_executions list"):
        _admin(server.url).execution("p/d/x")


def test_admin_url_or_config_is_required() -> None:
    with pytest.raises(AnalyzerError, match="--admin-config FILE .* or --admin-url URL"):
        FlyteAdmin(RemoteConfig(url="http://tempo:3200"))


def test_a_hostile_node_id_from_flyteadmin_stays_one_path_segment(server: Loopback) -> None:
    hostile = "../../../../admin?x=1#"
    tree = span(
        0, 10, "workflow_id", EXEC, node(hostile, 1, 9, task(hostile, 0, 1, 4), task(hostile, 1, 5, 9))
    )
    FakeAdmin(EXEC, tree).install(server)
    got = _admin(server.url).execution("flytesnacks/development/f7a1b2c3d4")
    tasks = [r.path for r in server.requests if r.path.startswith("/api/v1/task_executions/")]
    assert tasks == [
        "/api/v1/task_executions/flytesnacks/development/f7a1b2c3d4/..%2F..%2F..%2F..%2Fadmin%3Fx%3D1%23"
    ]
    assert got.attempt_phases == {hostile: {0: "FAILED", 1: "SUCCEEDED"}}


@pytest.mark.parametrize("exec_id", ["../d/x", "p/./x", "p/d/.."])
def test_dot_segments_in_an_execution_id_are_refused_before_any_request(
    server: Loopback, exec_id: str
) -> None:
    with pytest.raises(AnalyzerError, match=r"cannot be a segment of a URL path"):
        _admin(server.url).execution(exec_id)
    assert server.requests == []


def test_an_execution_name_is_quoted_as_one_segment(server: Loopback) -> None:
    with pytest.raises(NotFound):
        _admin(server.url, project="p", domain="d").execution("a?b")
    assert server.paths() == ["/api/v1/metrics/executions/p/d/a%3Fb"]


# --- merged with an upstream trace ---------------------------------------------------------------------
def upstream_table() -> SpanTable:
    """handleNode spans of an upstream-dialect trace: n0 and the nested node by its path n1/n0 (docs/upstream.md §2)."""
    nodes = ["n0", "n0", "n1/n0"]
    starts = [at(6), at(20), at(55)]
    return SpanTable.from_columns(
        {
            T.TRACE_ID: ["ab" * 16] * 3,
            T.SPAN_ID: [f"{i:016x}" for i in range(1, 4)],
            T.SERVICE: [semconv.SERVICE_PROPELLER] * 3,
            T.NAME: [semconv.HANDLE_NODE] * 3,
            T.START: starts,
            T.END: [s + SEC for s in starts],
            semconv.EXEC_ID: ["f7a1b2c3d4"] * 3,
            semconv.NODE_ID: nodes,
        }
    )


def _answer(tree: dict[str, Any], spec: dict[str, str] | None = None) -> AdminExecution:
    fake = FakeAdmin(EXEC, tree, spec)
    nodes = {
        ne["id"]["node_id"]: AdminNode(ne["id"]["node_id"], ne["metadata"]["spec_node_id"], parent, "SUCCEEDED",
                                       ne["metadata"]["is_parent_node"])
        for parent, items in fake.children.items() for ne in items
    }  # fmt: skip
    return AdminExecution(timeline_from_span(tree), nodes, {"n0": {0: "FAILED", 1: "SUCCEEDED"}})


def test_merge_puts_flyteadmin_segments_on_the_trace_s_nodes_by_path() -> None:
    trace = S.node_timelines(upstream_table())
    assert not trace.lifecycle and trace.nodes["n0"].sections == []  # the upstream dialect alone has none
    merged = merge(trace, _answer(TREE))
    assert list(merged.nodes) == ["n0", "n1", "n1/n0"]  # parents before their children
    assert merged.lifecycle and merged.exec_id == "f7a1b2c3d4"
    assert merged.nodes["n0"].totals() == timeline_from_span(TREE).nodes["n0"].totals()
    assert [a.phase for a in merged.nodes["n0"].attempts] == ["FAILED", "SUCCEEDED"]
    nested = merged.nodes["n1/n0"]  # FlyteAdmin's n1-0-n0 is the trace's n1/n0
    assert nested.parent == "n1" and all(s.node == "n1/n0" for s in nested.sections)
    assert nested.phase == "SUCCEEDED" and merged.nodes["n1"].children == ["n1/n0"]
    assert [s.segment for s in merged.sections] == [TL.WORKFLOW_SETUP, TL.WORKFLOW_TEARDOWN]
    assert any("2 of 3 FlyteAdmin nodes matched" in w for w in merged.warnings)  # n1 has no handleNode here
    assert not any("not available" in w for w in merged.warnings)
    assert (merged.start, merged.end) == (at(0), at(100))


def test_a_hashed_unique_id_is_placed_by_its_spec_id() -> None:
    """Past 20 characters FlyteAdmin's id is a hash: only ListNodeExecutions' spec_node_id names the node."""
    hashed = json.loads(json.dumps(TREE).replace("n1-0-n0", "fh5x2kq9w3"))
    merged = merge(S.node_timelines(upstream_table()), _answer(hashed, {"fh5x2kq9w3": "n0"}))
    assert "n1/n0" in merged.nodes and not any("fh5x2kq9w3" in nid for nid in merged.nodes)
