"""Stitching an execution: selection of whole traces, repeated spans, cycles, orphans, clock skew, order."""

from __future__ import annotations

import random

import numpy as np
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from analyzer import table as t
from analyzer.execution import select_execution, stitch
from analyzer.load import load
from analyzer.reduce.self_time import statistics
from analyzer.table import SpanTable
from flyte_otel import semconv as sc


def _table(spans: list[tuple]) -> SpanTable:
    """Rows (trace, span, parent, name, start, end[, exec_id]) -> SpanTable."""
    cols: dict[str, list] = {
        c: [] for c in (t.TRACE_ID, t.SPAN_ID, t.PARENT_ID, t.NAME, t.START, t.END, sc.EXEC_ID)
    }
    for trace_id, span_id, parent_id, name, start, end, *rest in spans:
        for c, v in zip(
            cols, (trace_id, span_id, parent_id, name, start, end, rest[0] if rest else None), strict=True
        ):
            cols[c].append(v)
    return SpanTable.from_columns(cols)


def _ids(ex, rows) -> list[str]:
    return [ex.table.df[t.SPAN_ID].iat[int(r)] for r in rows]


def test_mixed_executions_keep_only_traces_of_x_whole():
    table = _table(
        [
            ("tx1", "r1", "", sc.ROUND, 0, 100, "X"),
            ("tx1", "ev", "r1", sc.CREATE_NODE_EVENT, 10, 20),  # untagged: belongs through its trace
            ("ty1", "r2", "", sc.ROUND, 5, 50, "Y"),
            ("ty1", "ev2", "r2", sc.CREATE_NODE_EVENT, 6, 9),
            ("tx2", "r3", "", sc.ROUND, 200, 300, "X"),
        ]
    )
    ex = stitch(select_execution(table, "X"), "X")
    assert sorted(ex.table.df[t.SPAN_ID]) == ["ev", "r1", "r3"]
    assert _ids(ex, ex.order) == ["r1", "ev", "r3"]  # the two rounds' traces, one tree in time order
    assert ex.warnings == []


def test_repeated_span_is_kept_once_and_warned():
    table = _table(
        [("t", "a", "", "root", 0, 10), ("t", "b", "a", "child", 1, 2), ("t", "b", "a", "child", 1, 2)]
    )
    ex = stitch(table, "X")
    assert len(ex) == 2
    assert sorted(ex.table.df[t.SPAN_ID]) == ["a", "b"]
    assert any("1 repeated span" in w and "b" in w for w in ex.warnings)


def test_different_spans_sharing_an_id_are_both_kept_and_children_attach_to_the_first():
    # two different spans with id "b" (as Jaeger UI keeps them: transform-trace-data.ts renames the later one
    # and links children through the id, i.e. to the first); "c" names "b" as its parent
    table = _table(
        [("t", "a", "", "root", 0, 100), ("t", "b", "a", "GET /x", 10, 20), ("t", "b", "a", "GET /y", 30, 50),
         ("t", "c", "b", "db", 12, 18)]
    )  # fmt: skip
    ex = stitch(table)
    assert len(ex) == 4
    names = ex.table.df[t.NAME].astype(str).tolist()
    assert names[ex.parent_index[names.index("db")]] == "GET /x"
    assert names[ex.parent_index[names.index("GET /y")]] == "root"
    assert statistics(ex, "service")["count"].sum() == 4
    (warning,) = ex.warnings
    assert "1 span(s) share their id with a different span" in warning
    assert "span b in trace t: 'GET /x' (row 1) and 'GET /y' (row 2)" in warning


def test_a_span_delivered_twice_and_a_different_one_with_its_id_are_told_apart():
    rows = [("t", "a", "", "root", 0, 100), ("t", "b", "a", "GET /x", 10, 20)]
    ex = stitch(_table([*rows, rows[1], ("t", "b", "a", "GET /x", 10, 25)]))
    assert ex.table.df[t.END].tolist() == [100, 20, 25]  # the copy dropped, the different span kept
    assert len(ex.warnings) == 2 and "1 repeated span(s) (the same span delivered again)" in ex.warnings[0]


def test_same_span_id_in_two_traces_is_two_spans():
    table = _table([("t1", "a", "", "root", 0, 10), ("t2", "a", "", "root", 20, 30)])
    ex = stitch(table)
    assert len(ex) == 2 and ex.warnings == []


def _hex(n: int) -> str:
    return f"{n:016x}"


def test_hex_span_ids_that_collide_once_mixed_with_their_trace_are_still_told_apart():
    # Hex ids are keyed by span id XOR (trace code x 0x9E3779B97F4A7C15): pick ids whose keys are equal
    t1, t2 = "0" * 31 + "1", "0" * 31 + "2"  # trace codes 0 and 1, in order of first appearance
    a, b = 1, 1 ^ 0x9E3779B97F4A7C15
    table = _table(
        [(t1, _hex(a), "", "root", 0, 100), (t2, _hex(b), "", "root", 200, 300),
         (t2, _hex(7), _hex(b), "child", 210, 220), (t1, _hex(8), _hex(a), "child", 10, 20)]
    )  # fmt: skip
    ex = stitch(table)
    assert len(ex) == 4 and ex.warnings == []  # no span taken for a repeat of the other
    df = ex.table.df
    parent_of = {df[t.SPAN_ID].iat[r]: df[t.SPAN_ID].iat[p] for r, p in enumerate(ex.parent_index) if p >= 0}
    assert parent_of == {_hex(7): _hex(b), _hex(8): _hex(a)}


def test_hex_ids_repeats_and_orphans_are_found_as_with_any_ids():
    tr = "ab" * 16
    table = _table(
        [(tr, _hex(1), "", "root", 0, 10), (tr, _hex(2), _hex(1), "child", 1, 2),
         (tr, _hex(2), _hex(1), "child", 1, 2), (tr, _hex(3), _hex(9), "orphan", 3, 4)]
    )  # fmt: skip
    ex = stitch(table, "X")
    assert len(ex) == 3
    assert any("1 repeated span" in w and _hex(2) in w for w in ex.warnings)
    assert any("1 orphan span" in w and _hex(9) in w for w in ex.warnings)


def test_parent_cycle_is_cut_at_its_earliest_span_and_warned():
    table = _table(
        [("t", "root", "", "r", 0, 100), ("t", "c1", "c2", "x", 10, 20), ("t", "c2", "c1", "y", 5, 30),
         ("t", "below", "c1", "z", 11, 12)]
    )  # fmt: skip
    ex = stitch(table, "X")
    assert len(ex) == 4  # nothing lost
    assert sorted(_ids(ex, ex.order)) == ["below", "c1", "c2", "root"]
    assert _ids(ex, ex.order) == ["root", "c2", "c1", "below"]  # c2 (start 5) became top level
    assert ex.depth[ex.table.df[t.SPAN_ID].tolist().index("below")] == 2
    assert any("cycle" in w and "c2" in w for w in ex.warnings)


def test_span_that_is_its_own_parent_is_a_cycle():
    ex = stitch(_table([("t", "a", "a", "self", 0, 10)]))
    assert ex.parent_index.tolist() == [-1] and ex.order.tolist() == [0]
    assert any("cycle" in w for w in ex.warnings)


def test_orphan_is_placed_at_top_level_and_warned():
    ex = stitch(_table([("t", "a", "", "root", 0, 10), ("t", "o", "missing", "orphan", 5, 6)]), "X")
    assert ex.parent_index.tolist() == [-1, -1]
    assert _ids(ex, ex.order) == ["a", "o"]
    assert any("orphan" in w and "missing" in w for w in ex.warnings)


def test_clock_skewed_child_is_kept_under_its_parent_and_ordered_by_start():
    table = _table(
        [
            ("t", "p", "", "parent", 100, 200),
            ("t", "late", "p", "b", 150, 260),
            ("t", "early", "p", "a", 90, 120),
        ]
    )
    ex = stitch(table, "X")
    assert _ids(ex, ex.order) == ["p", "early", "late"]
    assert ex.depth.tolist() == [0, 1, 1]
    assert any("2 span(s) outside their parent" in w for w in ex.warnings)


def _reference_preorder(parent: list[int], start: list[int], end: list[int], row: list[int]) -> list[int]:
    """Recursive pre-order, siblings by (start, end, input row): the obvious algorithm, used as the oracle."""
    kids: dict[int, list[int]] = {}
    for i, p in enumerate(parent):
        kids.setdefault(p, []).append(i)
    out: list[int] = []

    def visit(i: int) -> None:
        out.append(i)
        for k in sorted(kids.get(i, []), key=lambda r: (start[r], end[r], row[r])):
            visit(k)

    for r in sorted(kids.get(-1, []), key=lambda r: (start[r], end[r], row[r])):
        visit(r)
    return out


def test_order_depth_and_subtree_size_match_a_recursive_walk_on_random_forests():
    rng = random.Random(7)
    for _ in range(30):
        n = rng.randint(1, 300)
        parent = [-1 if i == 0 or rng.random() < 0.05 else rng.randrange(i) for i in range(n)]
        start = [rng.randrange(50) for _ in range(n)]
        end = [s + rng.randrange(50) for s in start]
        perm = list(range(n))
        rng.shuffle(perm)  # rows in arbitrary order, as decoders deliver them
        rows = [
            ("t", f"s{i}", f"s{parent[i]}" if parent[i] >= 0 else "", "x", start[i], end[i]) for i in perm
        ]
        ex = stitch(_table(rows))
        got = [int(s[1:]) for s in _ids(ex, ex.order)]
        row = [0] * n
        for position, i in enumerate(perm):
            row[i] = position
        assert got == _reference_preorder(parent, start, end, row)
        depth = {int(ex.table.df[t.SPAN_ID].iat[r][1:]): int(ex.depth[r]) for r in range(n)}
        for i in range(n):
            assert depth[i] == (0 if parent[i] < 0 else depth[parent[i]] + 1)
        size = {int(ex.table.df[t.SPAN_ID].iat[r][1:]): int(ex.subtree_size[r]) for r in range(n)}
        for i in range(n):
            assert size[i] == 1 + sum(size[k] for k in range(n) if parent[k] == i)
        assert (ex.order[ex.position] == np.arange(n)).all()


def test_deep_chain_is_stitched_without_recursion():
    n = 20_000  # deeper than Python's recursion limit
    rows = [("t", f"s{i}", f"s{i - 1}" if i else "", "x", i, 2 * n - i) for i in range(n)]
    ex = stitch(_table(rows))
    assert ex.depth.max() == n - 1
    assert ex.order.tolist() == list(range(n))


def test_real_sdk_spans_of_upstream_rounds_stitch_into_one_execution():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    clock = iter(range(1_000, 100_000, 1_000))  # virtual clock: every call is 1µs later
    for exec_id in ("exec-a", "exec-b", "exec-a"):  # each round is its own trace, as upstream does
        with tracer.start_as_current_span(
            sc.ROUND, context=trace.set_span_in_context(trace.INVALID_SPAN), start_time=next(clock),
            attributes={sc.EXEC_ID: exec_id}, end_on_exit=False,
        ) as rnd:  # fmt: skip
            ev = tracer.start_span(sc.CREATE_NODE_EVENT, start_time=next(clock))
            ev.end(end_time=next(clock))
            rnd.end(end_time=next(clock))
    table = load(encode_spans(exporter.get_finished_spans()).SerializeToString())
    ex = stitch(select_execution(table, "exec-a"), "exec-a")
    df = ex.table.df
    assert len(ex) == 4 and df[t.TRACE_ID].nunique() == 2
    names = df[t.NAME].astype(str).to_numpy()[ex.order].tolist()
    assert names == [sc.ROUND, sc.CREATE_NODE_EVENT, sc.ROUND, sc.CREATE_NODE_EVENT]
    assert ex.depth[ex.order].tolist() == [0, 1, 0, 1]
    assert df[t.START].to_numpy()[ex.order].tolist() == [1_000, 2_000, 9_000, 10_000]


def test_empty_table_stitches_to_an_empty_execution():
    ex = stitch(SpanTable.empty(), "X")
    assert len(ex) == 0 and ex.order.size == 0 and ex.warnings == []
