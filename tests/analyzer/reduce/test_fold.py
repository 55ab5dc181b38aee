"""The fold: order, numbering, collapsed runs of siblings, depth cut, node filter, and its text form."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer import table as t
from analyzer.execution import stitch
from analyzer.reduce.fold import fold
from analyzer.render import fold_text
from analyzer.table import SpanTable
from flyte_otel import semconv as sc

US, MS, S = 1_000, 1_000_000, 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14 22:13:20 UTC


class _Builder:
    """Spans of one trace on a virtual clock (times are offsets from T0)."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {}
        self.n = 0

    def span(self, span_id, parent, name, start, end, **attrs) -> str:
        values = {t.TRACE_ID: "t", t.SPAN_ID: span_id, t.PARENT_ID: parent, t.NAME: name,
                  t.START: T0 + start, t.END: T0 + end, **attrs}  # fmt: skip
        for key in set(values) | set(self.cols):
            self.cols.setdefault(key, [None] * self.n).append(values.get(key))
        self.n += 1
        return span_id

    def execution(self):
        return stitch(SpanTable.from_columns(self.cols), "X")


def _array_execution(width: int):
    """An execution whose array node has `width` attempts (attempt i lasts (i+1) ms), each with user code."""
    b = _Builder()
    b.span("ex", "", sc.EXECUTION, 0, 100 * S)
    b.span("n0", "ex", sc.NODE, 1 * S, 90 * S, node="n0")
    for i in range(width):
        a = b.span(f"a{i}", "n0", sc.ATTEMPT, 2 * S + i * US, 2 * S + i * US + (i + 1) * MS, node="n0")
        b.span(f"u{i}", a, sc.USER_CODE, 2 * S + i * US, 2 * S + i * US + MS)
    b.span("n1", "ex", sc.NODE, 91 * S, 99 * S, node="n1")
    return b.execution()


def test_run_of_5000_array_attempts_becomes_one_line_with_count_median_and_max():
    f = fold(_array_execution(5000))
    assert len(f) == 4  # execution, n0, the run, n1
    run = int(np.flatnonzero(f.collapsed)[0])
    assert f.count[run] == 5000
    assert f.p50_ns[run] == 2500.5 * MS  # median of 1..5000 ms
    assert f.max_ns[run] == 5000 * MS
    assert f.hidden[run] == 5000  # the user-code spans below, summarized
    assert f.start_ns[run] == T0 + 2 * S
    assert f.duration_ns[run] == 4999 * US + 5000 * MS  # first start -> last end


def test_run_is_collapsed_only_when_longer_than_the_threshold():
    assert not fold(_array_execution(20), collapse=20).collapsed.any()
    assert fold(_array_execution(21), collapse=20).collapsed.sum() == 1
    assert len(fold(_array_execution(21), collapse=0)) == 3 + 2 * 21


def test_siblings_with_another_name_break_a_run():
    b = _Builder()
    b.span("r", "", sc.EXECUTION, 0, 1000)
    for i in range(6):
        b.span(f"e{i}", "r", sc.CREATE_NODE_EVENT, 10 * i, 10 * i + 1)
    b.span("w", "r", sc.WRITE_PROTOBUF, 100, 101)
    for i in range(6):
        b.span(f"f{i}", "r", sc.CREATE_NODE_EVENT, 200 + i, 201 + i)
    f = fold(b.execution(), collapse=5)
    assert f.count.tolist() == [1, 6, 1, 6]


def test_rounds_are_never_collapsed_but_their_repeated_children_are():
    # upstream FlytePropeller: every round is a top-level trace root, so 30 rounds are 30 siblings
    b = _Builder()
    for r in range(30):
        b.span(f"r{r}", "", sc.ROUND, r * S, r * S + 10 * MS, exec_id="X")
    for i in range(6):
        b.span(f"e{i}", "r0", sc.CREATE_NODE_EVENT, i * US, i * US + 1)
    f = fold(b.execution(), collapse=5)
    assert f.count.tolist() == [1, 6] + [1] * 29


def test_no_span_is_lost_or_repeated_without_collapsing():
    ex = _array_execution(50)
    f = fold(ex, collapse=0)
    assert sorted(f.rows.tolist()) == list(range(len(ex)))


def test_depth_cut_hides_deeper_levels():
    f = fold(_array_execution(3), max_depth=2)
    assert f.depth.max() == 1 and len(f) == 3


def test_node_filter_keeps_the_node_its_ancestors_and_descendants():
    b = _Builder()
    b.span("ex", "", sc.EXECUTION, 0, 100)
    b.span("n0", "ex", sc.NODE, 1, 50, node="n0")
    b.span("n0a", "n0", sc.ATTEMPT, 2, 40, node="n0")
    b.span("n0u", "n0a", sc.USER_CODE, 3, 30)
    b.span("n1", "ex", sc.NODE, 51, 90, node="n1")
    b.span("n1s", "n1", sc.NODE, 52, 60, node="n1/n1-0-n0")  # nested in n1
    b.span("n2", "ex", sc.NODE, 91, 99, node="n2")
    ex = b.execution()
    shown = lambda f: ex.table.df[t.SPAN_ID].to_numpy()[f.rows].tolist()  # noqa: E731
    assert shown(fold(ex, node="n0")) == ["ex", "n0", "n0a", "n0u"]
    assert shown(fold(ex, node="n1")) == ["ex", "n1", "n1s"]
    assert shown(fold(ex, node="n1/n1-0-n0")) == ["ex", "n1", "n1s"]


def test_text_fold_numbers_indents_and_labels_lines():
    b = _Builder()
    b.span("ex", "", sc.EXECUTION, 0, 113 * S, exec_id="X")
    b.span("r", "ex", sc.ROUND, 1 * S, 1 * S + 12_345 * US, service=sc.SERVICE_PROPELLER)
    b.span("ev", "r", sc.CREATE_NODE_EVENT, 1 * S + 100 * US, 1 * S + 950 * US,
           node="n1", **{sc.PHASE_FROM: sc.Phase.QUEUED, sc.PHASE: sc.Phase.RUNNING})  # fmt: skip
    b.span("bw", "r", sc.WRITE_PROTOBUF, 1 * S + 1 * MS, 1 * S + 2 * MS, **{sc.BLOB_SIZE: 1536})
    b.span(
        "c", "r", sc.CHECK_CATALOG_CACHE, 1 * S + 3 * MS, 1 * S + 4 * MS, node="n1", **{sc.CACHE_HIT: True}
    )
    b.span("w", "r", sc.WORKFLOW_STORE_UPDATE, 1 * S + 5 * MS, 1 * S + 6 * MS, **{sc.ETCD_SIZE: 2048})
    text = fold_text.render(fold(b.execution()))
    header, *lines, total = text.splitlines()
    assert header.split() == ["Timestamp", "Offset", "Duration", "Hierarchical", "Layout"]
    assert lines[0].split() == ["22:13:20.000000", "0ns", "1m53s", "1", "lifecycle", sc.EXECUTION]
    assert lines[1].split()[:5] == ["22:13:21.000000", "1s", "12.345ms", "1.1", "round"]
    assert lines[2].split() == ["22:13:21.000100", "1.0001s", "850µs", "1.1.1", "event.node", "CreateNodeEvent",
                                "node=n1", "phase", "QUEUED→RUNNING"]  # fmt: skip
    assert lines[3].endswith("1.1.2 blobstore.write WriteProtobuf blob 1.5KiB")
    assert lines[4].endswith("1.1.3 cache.lookup CheckCatalogCache node=n1 cache hit")
    assert lines[5].endswith("1.1.4 etcd.write WorkflowStore.Update etcd 2.0KiB")
    # the layout column is indented two spaces per level
    column = header.index("Hierarchical")
    for line, depth in zip(lines, [0, 1, 2, 2, 2, 2], strict=True):
        layout = line[column:]
        assert layout.startswith("  " * depth) and layout[2 * depth] != " "


def test_text_fold_shows_a_collapsed_run_with_its_count():
    text = fold_text.render(fold(_array_execution(30)))
    run_line = [line for line in text.splitlines() if "×30" in line]
    assert len(run_line) == 1
    assert run_line[0].endswith(f"1.1.1 ×30 lifecycle {sc.ATTEMPT}  p50 15.5ms max 30ms  (+30 spans below)")


@pytest.mark.parametrize("collapse", [0, 5])
def test_numbers_are_unique_and_each_has_its_parent_printed_before_it(collapse):
    numbers = [rec["number"] for rec in fold_text.records(fold(_array_execution(12), collapse=collapse))]
    assert len(set(numbers)) == len(numbers)
    for i, number in enumerate(numbers):
        if "." in number:
            assert number.rsplit(".", 1)[0] in numbers[:i]
