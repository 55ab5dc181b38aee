"""The orchestration waterfall, parsed back with xml.etree, against rounds recorded on a virtual clock."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import flyte_otel as fo
from analyzer.cli import main
from analyzer.execution import stitch
from analyzer.reduce.fold import fold
from analyzer.render import waterfall
from analyzer.units import format_duration
from flyte_otel import semconv as sc
from tests import builders as B
from tests.builders import MS, T0, Task

NS = "{http://www.w3.org/2000/svg}"
C = sc.Category
EXEC = "ex-wf"
# (round start, round end, [(streak start, end, etcd write start, end)]) in ms from T0
ROUNDS = (
    (1, 7, [(2, 5, 4, 5)]),
    (60, 64, [(61, 62, 61, 62), (62, 64, 63, 64)]),
)
GAP = 60 - 7  # ms between the rounds: idle, so cut


def _record(rec: B.Recording, streaks: int = 0) -> None:
    b = B.Builder(rec, EXEC, setup=1 * MS)
    for start, end, inner in ROUNDS:
        with fo.round(EXEC, start=T0 + start * MS, end=T0 + end * MS):
            with fo.workflow_store_get(EXEC, start=T0 + start * MS, end=T0 + start * MS + MS // 2):
                pass
            for s, e, ws, we in inner:
                with (
                    fo.streak(EXEC, start=T0 + s * MS, end=T0 + e * MS),
                    fo.workflow_store_update(EXEC, start=T0 + ws * MS, end=T0 + we * MS),
                ):
                    pass
    if streaks:  # a third round of many short alike streaks
        with fo.round(EXEC, start=T0 + 70 * MS, end=T0 + (70 + streaks) * MS):
            for i in range(streaks):
                with fo.streak(EXEC, start=T0 + (70 + i) * MS, end=T0 + (71 + i) * MS):
                    pass
    b.task("n0", Task(transition=1 * MS, node_setup=1 * MS, task_setup=1 * MS, runtime=90 * MS))
    b.finish(teardown=1 * MS)


def _doc(streaks: int = 0, collapse: int = 20) -> str:
    with B.recording() as rec:
        _record(rec, streaks)
        table = rec.table()
    return waterfall.svg_text(fold(stitch(table, EXEC), collapse=collapse))


def _lines(doc: str) -> list[ET.Element]:
    return [g for g in ET.fromstring(doc).iter(f"{NS}g") if g.get("class") == "line"]


def _bar(line: ET.Element) -> ET.Element:
    return [r for r in line.iter(f"{NS}rect") if r.get("class") != "stripe"][0]


def _x(r: ET.Element) -> float:
    return float(r.get("x", "nan"))


def _w(r: ET.Element) -> float:
    return float(r.get("width", "nan"))


def test_rows_are_rounds_then_their_streaks_then_operations_without_lifecycle_records():
    lines = _lines(_doc())
    assert [g.get("data-category") for g in lines] == [
        C.ROUND, C.ETCD_READ, C.STREAK, C.ETCD_WRITE,
        C.ROUND, C.ETCD_READ, C.STREAK, C.ETCD_WRITE, C.STREAK, C.ETCD_WRITE,
    ]  # fmt: skip
    indent = [float(next(g.iter(f"{NS}text")).get("x", "nan")) for g in lines[:4]]
    assert indent[0] < indent[1] == indent[2] < indent[3]


def test_bars_share_one_scale_so_widths_follow_the_known_durations():
    lines = _lines(_doc())
    bars = [_bar(g) for g in lines]
    px_per_ms = _w(bars[0]) / 6  # the first round lasts 6ms
    assert _w(bars[2]) == pytest.approx(3 * px_per_ms, abs=1)  # its streak, 3ms
    assert _w(bars[3]) == pytest.approx(1 * px_per_ms, abs=1)  # the etcd write, 1ms
    assert _x(bars[3]) == pytest.approx(_x(bars[0]) + 3 * px_per_ms, abs=1)  # written 3ms into the round
    assert _w(bars[4]) == pytest.approx(4 * px_per_ms, abs=1)  # the second round, 4ms


def test_idle_gap_between_rounds_is_cut_marked_and_named_with_its_length():
    doc = _doc()
    bars = [_bar(g) for g in _lines(doc)]
    px_per_ms = _w(bars[0]) / 6
    drawn_gap = _x(bars[4]) - (_x(bars[0]) + _w(bars[0]))
    assert 0 < drawn_gap < GAP * px_per_ms / 4
    cuts = [r for r in ET.fromstring(doc).iter(f"{NS}rect") if r.get("class") == "cut"]
    titles = [r.findtext(f"{NS}title") for r in cuts]
    assert f"idle {format_duration(GAP * MS)}, not to scale" in titles


def test_many_alike_streaks_are_one_paler_row_counting_them():
    lines = _lines(_doc(streaks=30, collapse=20))
    runs = [g for g in lines if "run" in _bar(g).get("class", "").split()]
    assert len(runs) == 1 and runs[0].get("data-category") == C.STREAK
    assert (runs[0].findtext(f"{NS}text") or "").startswith("×30 streak")
    assert len(lines) == 10 + 2  # the third round and its one collapsed line


def test_each_bar_is_coloured_by_its_category():
    doc = _doc()
    style = "".join(e.text or "" for e in ET.fromstring(doc).iter(f"{NS}style"))
    fills = dict(re.findall(r"\.([\w-]+)\{fill:(#[0-9a-f]{6})", style))
    by_category: dict[str, set[str]] = {}
    for g in _lines(doc):
        by_category.setdefault(g.get("data-category", ""), set()).add(fills[_bar(g).get("class", "")])
    assert all(len(colours) == 1 for colours in by_category.values())
    assert len({next(iter(c)) for c in by_category.values()}) == len(by_category)  # one colour per category


def test_cli_waterfall_option_writes_a_self_contained_html_page(tmp_path: Path):
    with B.recording() as rec:
        _record(rec)
        payload = rec.payload()
    source = tmp_path / "spans.pb"
    source.write_bytes(payload)
    out = tmp_path / "w.html"
    assert main([EXEC, "--file", str(source), "--waterfall", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"(src|href)=|url\(|@import", page)
    svg_part = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg_part is not None and len(_lines(svg_part.group(0))) == 10
