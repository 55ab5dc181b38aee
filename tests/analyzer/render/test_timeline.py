"""The node timeline picture, parsed back with xml.etree, against executions with known segment lengths."""

from __future__ import annotations

import colorsys
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import flyte_otel as fo
from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.framing import frame
from analyzer.reduce import segments as S
from analyzer.reduce.critical_path import timeline_view
from analyzer.render import timeline
from analyzer.render.formats import picture_renderer
from analyzer.results import timeline as TL
from tests import builders as B
from tests.builders import MS, Task

NS = "{http://www.w3.org/2000/svg}"
A = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS, task_teardown=1 * MS,
         node_teardown=2 * MS)  # fmt: skip
LONG = Task(1 * MS, 2 * MS, 3 * MS, 50 * MS, 1 * MS, 2 * MS)
SHORT = Task(4 * MS, 5 * MS, 3 * MS, 20 * MS, 1 * MS, 6 * MS)


def _rows(doc: str) -> list[ET.Element]:
    root = ET.fromstring(doc)
    return [g for g in root.iter(f"{NS}g") if "row" in g.get("class", "").split()]


def _row(doc: str, node: str) -> ET.Element:
    return next(g for g in _rows(doc) if g.get("data-node") == node)


def _bars(row: ET.Element) -> dict[str, ET.Element]:
    return {r.get("data-segment", ""): r for r in row.iter(f"{NS}rect") if r.get("data-segment")}


def _x(r: ET.Element) -> float:
    return float(r.get("x", "nan"))


def _w(r: ET.Element) -> float:
    return float(r.get("width", "nan"))


def _fills(doc: str) -> dict[str, str]:
    """class -> fill colour, from the document's style sheet."""
    style = "".join(e.text or "" for e in ET.fromstring(doc).iter(f"{NS}style"))
    return dict(re.findall(r"\.([\w-]+)\{fill:(#[0-9a-f]{6})", style))


def _timeline(build) -> TL.TimelineView:  # type: ignore[no-untyped-def]
    with B.recording() as rec:
        build(rec)
        return timeline_view(S.node_timelines(rec.table()))


def test_one_row_per_node_with_nested_nodes_right_under_their_parent():
    tl = _timeline(lambda rec: B.dynamic(rec, A, [A, A], node_teardown=3 * MS, setup=5 * MS, teardown=4 * MS))
    doc = timeline.svg_text(tl)
    rows = _rows(doc)
    assert [r.get("data-node") for r in rows] == ["workflow", "n0", "n0/c0", "n0/c1"]
    assert [r.get("data-kind") for r in rows] == ["execution", "dynamic", "task", "task"]
    indent = {r.get("data-node"): float(next(r.iter(f"{NS}text")).get("x", "nan")) for r in rows}
    assert indent["n0/c0"] == indent["n0/c1"] > indent["n0"]


def test_segment_widths_are_proportional_to_the_known_lengths():
    t0 = Task(transition=1 * MS, node_setup=2 * MS, task_setup=7 * MS, runtime=30 * MS, task_teardown=3 * MS,
              node_teardown=4 * MS)  # fmt: skip
    t1 = Task(transition=6 * MS, node_setup=1 * MS, task_setup=2 * MS, runtime=12 * MS, task_teardown=5 * MS,
              node_teardown=9 * MS)  # fmt: skip
    setup, teardown = 8 * MS, 5 * MS
    tl = _timeline(lambda rec: B.chain(rec, [t0, t1], setup=setup, teardown=teardown))
    doc = timeline.svg_text(tl)
    wf = _bars(_row(doc, "workflow"))
    px_per_ns = _w(wf[TL.WORKFLOW_SETUP]) / setup  # the picture's own scale, from one known length
    origin = _x(wf[TL.WORKFLOW_SETUP])
    assert _w(wf[TL.WORKFLOW_TEARDOWN]) == pytest.approx(teardown * px_per_ns, abs=1)
    at = setup
    for node, t in (("n0", t0), ("n1", t1)):
        bars = _bars(_row(doc, node))
        expected = t.segments()  # every length is non-zero, so all six task segments, in time order
        assert set(bars) == set(expected)
        for segment, length in expected.items():
            assert _w(bars[segment]) == pytest.approx(length * px_per_ns, abs=1), (node, segment)
            assert _x(bars[segment]) == pytest.approx(origin + at * px_per_ns, abs=1), (node, segment)
            at += length


def _hue(colour: str) -> tuple[float, float]:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    h, _, s = colorsys.rgb_to_hls(r, g, b)
    return h * 360, s


# DESIGN.md's colours: flyte red, k8s yellow, user code green, sub-nodes blue, NODE_IDLE grey.
_DESIGN_HUES = {TL.FLYTE: (345, 15), TL.SCHEDULING: (345, 15), TL.K8S: (40, 60), TL.USER: (90, 150),
                TL.RECURSIVE: (190, 240)}  # fmt: skip


def _in_hue(hue: float, lo: float, hi: float) -> bool:
    return lo <= hue <= hi if lo <= hi else hue >= lo or hue <= hi


def test_each_segment_is_coloured_as_design_md_says_for_its_category():
    own = Task(1 * MS, 2 * MS, 3 * MS, 10 * MS, 1 * MS, 2 * MS, retries=((4 * MS, 2 * MS),))
    tl = _timeline(lambda rec: B.dynamic(rec, own, [A], node_teardown=3 * MS, setup=5 * MS, teardown=4 * MS))
    doc = timeline.svg_text(tl)
    fills = _fills(doc)
    seen = set()
    for row in _rows(doc):
        for segment, rect in _bars(row).items():
            category = TL.SEGMENT_CATEGORY[segment]
            assert rect.get("class") == category
            seen.add(category)
            if category in _DESIGN_HUES:
                hue, saturation = _hue(fills[category])
                assert _in_hue(hue, *_DESIGN_HUES[category]) and saturation > 0.3, (segment, fills[category])
    assert {TL.FLYTE, TL.SCHEDULING, TL.K8S, TL.USER, TL.RECURSIVE, TL.RETRIED_CATEGORY} <= seen
    assert _hue(fills[TL.HELD])[1] < 0.05  # NODE_IDLE grey


def test_held_node_idle_is_drawn_grey_before_the_transition():
    held = Task(transition=2 * MS, node_setup=1 * MS, task_setup=1 * MS, runtime=5 * MS, hold=6 * MS)
    tl = _timeline(lambda rec: B.chain(rec, [held], setup=5 * MS, teardown=4 * MS))
    doc = timeline.svg_text(tl)
    bars = _bars(_row(doc, "n0"))
    assert bars[TL.NODE_IDLE].get("class") == TL.HELD
    assert _x(bars[TL.NODE_IDLE]) < _x(bars[TL.NODE_TRANSITION])
    assert _w(bars[TL.NODE_IDLE]) == pytest.approx(_w(bars[TL.NODE_TRANSITION]) * 3, abs=1)


def test_scheduling_gap_between_dependent_nodes_starts_where_the_upstream_ends_and_is_thinner():
    t1 = Task(transition=9 * MS, node_setup=1 * MS, task_setup=1 * MS, runtime=5 * MS)
    tl = _timeline(lambda rec: B.chain(rec, [A, t1], setup=5 * MS, teardown=4 * MS))
    doc = timeline.svg_text(tl)
    upstream, bars = _bars(_row(doc, "n0")), _bars(_row(doc, "n1"))
    gap = bars[TL.NODE_TRANSITION]
    assert _x(gap) == pytest.approx(_x(upstream[TL.NODE_TEARDOWN]) + _w(upstream[TL.NODE_TEARDOWN]), abs=1)
    assert _x(gap) + _w(gap) == pytest.approx(_x(bars[TL.NODE_SETUP]), abs=1)
    assert float(gap.get("height", "0")) < float(bars[TL.NODE_SETUP].get("height", "0"))


def _critical(doc: str) -> set[str]:
    return {r.get("data-node", "") for r in _rows(doc) if r.get("data-critical") == "true"}


def test_critical_path_marks_the_branch_that_finished_last():
    tl = _timeline(lambda rec: B.diamond(rec, A, LONG, SHORT, A, setup=5 * MS, teardown=4 * MS))
    assert _critical(timeline.svg_text(tl)) == {"workflow", "n0", "n1", "n3"}
    slow_short = Task(4 * MS, 5 * MS, 3 * MS, 80 * MS, 1 * MS, 6 * MS)
    tl = _timeline(lambda rec: B.diamond(rec, A, LONG, slow_short, A, setup=5 * MS, teardown=4 * MS))
    assert _critical(timeline.svg_text(tl)) == {"workflow", "n0", "n2", "n3"}


def test_critical_outline_covers_the_node_from_ready_to_end():
    tl = _timeline(lambda rec: B.diamond(rec, A, LONG, SHORT, A, setup=5 * MS, teardown=4 * MS))
    doc = timeline.svg_text(tl)
    row = _row(doc, "n1")
    outlines = [r for r in row.iter(f"{NS}rect") if r.get("class") == "critical"]
    bars = _bars(row)
    assert len(outlines) == 1  # the node's stretch of the path is one outline
    first, last = bars[TL.NODE_TRANSITION], bars[TL.NODE_TEARDOWN]
    assert _x(outlines[0]) == pytest.approx(_x(first), abs=1)
    assert _x(outlines[0]) + _w(outlines[0]) == pytest.approx(_x(last) + _w(last), abs=1)


def test_launch_plan_child_nodes_are_rows_under_the_launch_plan_and_on_the_path():
    tl = _timeline(lambda rec: B.launch_plan(rec, A, transition=1 * MS, launch=3 * MS, child_setup=2 * MS,
                                             child_teardown=2 * MS, node_teardown=2 * MS, setup=5 * MS,
                                             teardown=4 * MS))  # fmt: skip
    doc = timeline.svg_text(tl)
    assert [r.get("data-node") for r in _rows(doc)] == ["workflow", "n0", "n0/n0"]
    assert _critical(doc) == {"workflow", "n0", "n0/n0"}
    child_bars = _bars(_row(doc, "n0/n0"))
    px_per_ns = _w(_bars(_row(doc, "workflow"))[TL.WORKFLOW_SETUP]) / (5 * MS)
    assert _w(child_bars[TL.TASK_RUNTIME]) == pytest.approx(A.runtime * px_per_ns, abs=1)


def test_label_names_the_node_kind_and_its_own_overhead_shares():
    # duration 50ms: flyte (NODE_SETUP + NODE_TEARDOWN) 15/50 = 30%, k8s (TASK_SETUP + TEARDOWN) 10/50 = 20%
    t = Task(transition=1 * MS, node_setup=6 * MS, task_setup=5 * MS, runtime=25 * MS, task_teardown=5 * MS,
             node_teardown=9 * MS)  # fmt: skip
    tl = _timeline(lambda rec: B.chain(rec, [t], setup=5 * MS, teardown=4 * MS))
    texts = [e.text for e in _row(timeline.svg_text(tl), "n0").iter(f"{NS}text")]
    assert texts == ["n0", "task · flyte 30% · k8s 20%"]


def test_array_is_one_row_with_a_density_band_that_peaks_at_its_concurrency():
    subtasks = [Task(task_setup=2 * MS, runtime=5 * MS, task_teardown=1 * MS)] * 30
    tl = _timeline(lambda rec: B.array(rec, subtasks, transition=1 * MS, node_setup=2 * MS, stagger=0,
                                       node_teardown=2 * MS, setup=3 * MS, teardown=2 * MS))  # fmt: skip
    doc = timeline.svg_text(tl)
    assert [r.get("data-node") for r in _rows(doc)] == ["workflow", "n0"]
    bands = [p for p in _row(doc, "n0").iter(f"{NS}path") if p.get("class") == "band"]
    assert len(bands) == 1 and bands[0].get("data-peak") == "30"
    assert "array ×30" in "".join(e.text or "" for e in _row(doc, "n0").iter(f"{NS}text"))


def test_html_expands_an_array_into_one_row_per_subtask_with_its_segments():
    subtasks = [Task(task_setup=2 * MS, runtime=(5 + i) * MS, task_teardown=1 * MS) for i in range(6)]
    tl = _timeline(lambda rec: B.array(rec, subtasks, transition=1 * MS, node_setup=2 * MS, stagger=1 * MS,
                                       node_teardown=2 * MS, setup=3 * MS, teardown=2 * MS))  # fmt: skip
    page = timeline.html_text(tl)
    details = re.findall(r"<details>.*?</details>", page, re.S)
    assert len(details) == 1
    sub = re.search(r"<svg.*</svg>", details[0], re.S)
    assert sub is not None
    rows = _rows(sub.group(0))
    assert [r.get("data-node") for r in rows] == [f"n0[{i}]" for i in range(6)]
    runtimes = [_w(_bars(r)[TL.TASK_RUNTIME]) for r in rows]
    for i, w in enumerate(runtimes):  # runtime i is (5 + i) ms: widths grow by one 5th of the first
        assert w == pytest.approx(runtimes[0] * (5 + i) / 5, abs=1)


def test_html_page_is_self_contained_and_hover_names_segment_start_and_duration():
    tl = _timeline(lambda rec: B.chain(rec, [A], setup=5 * MS, teardown=4 * MS))
    page = timeline.html_text(tl)
    assert "<script" not in page and not re.search(r"(src|href)=|url\(|@import", page)
    titles = re.findall(r"<title>([^<]*NODE_SETUP[^<]*)</title>", page)
    # n0 is queued at setup + transition = 6ms and its NODE_SETUP lasts 2ms
    assert titles == ["n0 · NODE_SETUP · start +6ms · 2ms"]


def test_same_execution_recorded_twice_draws_the_same_bytes():
    def build(rec: B.Recording) -> None:
        B.diamond(rec, A, LONG, SHORT, A, setup=5 * MS, teardown=4 * MS)

    assert timeline.svg_text(_timeline(build)) == timeline.svg_text(_timeline(build))


def test_unknown_suffix_is_an_error_naming_the_path(tmp_path: Path):
    out = tmp_path / "timeline.png"
    with pytest.raises(
        AnalyzerError, match=r"timeline\.png: the timeline is written as \.svg or \.html, not '\.png'"
    ):
        picture_renderer("timeline", out)
    assert picture_renderer("timeline", tmp_path / "t.HTML") is timeline.html_text


def test_cli_timeline_option_writes_the_picture_of_the_execution(tmp_path: Path):
    with B.recording() as rec:
        B.chain(rec, [A, A], setup=5 * MS, teardown=4 * MS)
        payload = rec.payload()
    source = tmp_path / "spans.pb"
    source.write_bytes(payload)
    out = tmp_path / "t.html"
    assert main(["ex-chain", "--file", str(source), "--timeline", str(out)]) == 0
    svg_part = re.search(r"<svg.*?</svg>", out.read_text(encoding="utf-8"), re.S)
    assert svg_part is not None
    assert [r.get("data-node") for r in _rows(svg_part.group(0))] == ["workflow", "n0", "n1"]


def test_cli_timeline_draws_a_launch_plan_child_whose_trace_is_another_store_file(tmp_path: Path):
    with B.recording() as rec:  # one trace per execution: the child's spans are not in the parent's trace
        B.launch_plan(rec, A, transition=1 * MS, launch=3 * MS, child_setup=2 * MS, child_teardown=2 * MS,
                      node_teardown=2 * MS, setup=5 * MS, teardown=4 * MS)  # fmt: skip
        by_trace: dict[int, list] = {}
        for span in rec.exporter.get_finished_spans():
            by_trace.setdefault(span.context.trace_id, []).append(span)
    assert len(by_trace) == 2
    store = tmp_path / "store"
    store.mkdir()
    for i, spans in enumerate(by_trace.values()):
        (store / f"propeller-{i}.binpb").write_bytes(frame(encode_spans(spans).SerializeToString()))
    out = tmp_path / "t.svg"
    assert main(["ex-parent", "--store", str(store), "--timeline", str(out)]) == 0
    doc = out.read_text(encoding="utf-8")
    assert [r.get("data-node") for r in _rows(doc)] == ["workflow", "n0", "n0/n0"]
    px_per_ns = _w(_bars(_row(doc, "workflow"))[TL.WORKFLOW_SETUP]) / (5 * MS)
    assert _w(_bars(_row(doc, "n0/n0"))[TL.TASK_RUNTIME]) == pytest.approx(A.runtime * px_per_ns, abs=1)


def test_upstream_dialect_draws_each_node_first_to_last_seen_without_segments_or_path():
    # no lifecycle records: n0 handled at 1-2ms and 10-12ms, n1 at 20-21ms (rounds are trace roots)
    seen = {"n0": ((1, 2), (10, 12)), "n1": ((20, 21),)}
    with B.recording(one_trace=False) as rec:
        for node, handles in seen.items():
            for s, e in handles:
                with (
                    fo.round("ex-up", start=B.T0 + s * MS, end=B.T0 + e * MS),
                    fo.handle_node("ex-up", node, start=B.T0 + s * MS, end=B.T0 + e * MS),
                ):
                    pass
        tl = timeline_view(S.node_timelines(rec.table()))
    doc = timeline.svg_text(tl)
    assert [r.get("data-node") for r in _rows(doc)] == ["workflow", "n0", "n1"]
    assert not _critical(doc)
    bars = {n: [r for r in _row(doc, n).iter(f"{NS}rect") if r.get("class") == timeline.SEEN] for n in seen}
    assert all(len(b) == 1 for b in bars.values())
    px_per_ms = _w(bars["n0"][0]) / 11  # n0 seen from 1ms to 12ms
    assert _w(bars["n1"][0]) == pytest.approx(1 * px_per_ms, abs=1)
    assert _x(bars["n1"][0]) - _x(bars["n0"][0]) == pytest.approx(19 * px_per_ms, abs=1)
    assert "no lifecycle records" in doc
