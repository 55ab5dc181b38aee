"""Which node a span belongs to: its own `node`, else the nearest ancestor's (upstream's event spans name none)."""

from __future__ import annotations

from analyzer import table as t
from analyzer.execution import stitch
from analyzer.reduce.fold import fold
from analyzer.reduce.nodes import enclosing_nodes
from analyzer.render import fold_text
from analyzer.table import SpanTable
from flyte_otel import semconv as sc

MS = 1_000_000
T0 = 1_700_000_000 * 10**9
EVENT_SERVICE = {"service": sc.SERVICE_ADMIN_CLIENT}


def _upstream_round() -> SpanTable:
    """One round as FlytePropeller v1.16 writes it (docs/upstream.md §1): node paths on propeller spans,
    no node (nor any log field) on the gRPC event spans; a top-level n0 beside subworkflow n1's own n0."""
    spans = [  # (span id, parent, name, start ms, end ms, attributes)
        ("h", "", sc.ROUND, 0, 100, {sc.EXEC_ID: "x"}),
        ("s", "h", sc.STREAK, 1, 99, {sc.EXEC_ID: "x"}),
        ("we", "s", sc.CREATE_WORKFLOW_EVENT, 2, 3, EVENT_SERVICE),
        ("a", "s", sc.HANDLE_NODE, 4, 20, {sc.EXEC_ID: "x", sc.NODE_ID: "n0"}),
        ("ae", "a", sc.CREATE_NODE_EVENT, 5, 6, EVENT_SERVICE),
        ("b", "s", sc.HANDLE_NODE, 21, 90, {sc.EXEC_ID: "x", sc.NODE_ID: "n1"}),
        ("be", "b", sc.CREATE_NODE_EVENT, 22, 23, EVENT_SERVICE),
        ("c", "b", sc.HANDLE_NODE, 24, 80, {sc.EXEC_ID: "x", sc.NODE_ID: "n1/n0"}),
        ("ct", "c", sc.HANDLE_TASK, 25, 70, {sc.EXEC_ID: "x", sc.NODE_ID: "n1/n0"}),
        ("cte", "ct", sc.CREATE_TASK_EVENT, 26, 27, EVENT_SERVICE),
    ]
    cols: dict[str, list] = {
        k: [] for k in (t.TRACE_ID, t.SPAN_ID, t.PARENT_ID, t.NAME, t.SERVICE, t.START, t.END)
    }
    cols[sc.EXEC_ID], cols[sc.NODE_ID] = [], []
    for sid, parent, name, start, end, attrs in spans:
        cols[t.TRACE_ID].append("ab" * 16)
        cols[t.SPAN_ID].append(_hex(sid))
        cols[t.PARENT_ID].append(_hex(parent) if parent else "")
        cols[t.NAME].append(name)
        cols[t.SERVICE].append(attrs.get("service", sc.SERVICE_PROPELLER))
        cols[t.START].append(T0 + start * MS)
        cols[t.END].append(T0 + end * MS)
        cols[sc.EXEC_ID].append(attrs.get(sc.EXEC_ID))
        cols[sc.NODE_ID].append(attrs.get(sc.NODE_ID))
    return SpanTable.from_columns(cols)


def _hex(name: str) -> str:
    """A 16-hex-digit span id spelling the test's short name."""
    return name.encode().hex().rjust(16, "0")


def test_an_event_span_belongs_to_the_node_of_its_enclosing_handle_node() -> None:
    ex = stitch(_upstream_round(), "x")
    nodes = dict(zip(ex.table.df[t.SPAN_ID], enclosing_nodes(ex), strict=True))
    sid = {s: _hex(s) for s in ("we", "ae", "be", "cte", "h", "s")}
    assert nodes[sid["ae"]] == "n0"
    assert nodes[sid["be"]] == "n1"
    assert nodes[sid["cte"]] == "n1/n0"  # through HandleTask, under the nested handleNode
    assert nodes[sid["we"]] is None and nodes[sid["h"]] is None and nodes[sid["s"]] is None


def test_fold_names_the_node_on_event_lines_and_keeps_nested_nodes_apart() -> None:
    text = fold_text.render(fold(stitch(_upstream_round(), "x")))
    events = [line for line in text.splitlines() if "event." in line]
    assert [line.rsplit("event.", 1)[1] for line in events] == [
        "workflow CreateWorkflowEvent",
        "node CreateNodeEvent node=n0",
        "node CreateNodeEvent node=n1",
        "task CreateTaskEvent node=n1/n0",
    ]
    assert "phase" not in text  # upstream spans carry no phase: none is shown


def test_node_filter_takes_event_spans_of_that_node_only() -> None:
    f = fold(stitch(_upstream_round(), "x"), node="n1/n0")
    names = f.execution.table.df[t.NAME].astype(str).to_numpy()[f.rows].tolist()
    assert sc.CREATE_TASK_EVENT in names
    assert sc.CREATE_NODE_EVENT not in names  # n0's and n1's own events are not n1/n0's
