"""The node timeline picture: one row per node, its segments coloured by category, the critical path outlined.

Draws a ``TimelineView`` (what ``analyzer.reduce.critical_path.timeline_view`` returns), nothing else: x is wall clock from the execution's start, rows are nodes in nesting order (a
nested node under its parent, a launch plan's child execution under the launch plan node), the wait
before a node is queued (scheduling latency, or held back) is a thinner bar so the gaps between dependent
nodes show. An array node is one row with a density band of its running sub-tasks; the HTML page adds
the sub-tasks, one row each, under a ``<details>`` that expands on click. SVG or HTML, no script.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from analyzer.render import svg
from analyzer.results import timeline as S
from analyzer.units import format_duration
from flyte_otel import semconv as sc

__all__ = ["COLOURS", "SEEN", "WIDTH", "html_text", "svg_text"]

# Category -> (fill colour, legend text), in legend order: DESIGN.md's colours (flyte red, k8s yellow,
# user green, sub-nodes blue, idle grey); scheduling is a lighter red so it reads as flyte's, apart.
COLOURS: Mapping[str, tuple[str, str]] = {
    S.FLYTE: ("#d62728", "Flyte overhead"),
    S.SCHEDULING: ("#f08a8b", "scheduling latency"),
    S.K8S: ("#f2c12e", "k8s overhead"),
    S.USER: ("#2ca02c", "user code"),
    S.RECURSIVE: ("#1f77b4", "sub-nodes"),
    S.HELD: ("#a6a6a6", "idle (gate, max parallelism)"),
    S.RETRIED_CATEGORY: ("#8c564b", "failed attempt (retried)"),
}
SEEN = "seen"  # upstream dialect: a node known only from first to last handleNode
_SEEN_COLOUR = "#c7c7c7"

# The picture's default width in px.
WIDTH = 1200
_LABEL_W = 330  # node id, kind and overhead shares
_PAD = 16
_TOP = 64  # title, subtitle and axis labels above the first row
_ROW_H = 18
_BAR_H = 12
_WAIT_H = 6  # the wait before queued: thinner, so a gap between dependent nodes reads as a gap
_BAND_BIN = 2.0  # px per density bin
_INDENT = 12
_CHAR_W = 6.2  # generous glyph width at the label size, to shorten long ids
_LEGEND_CHAR_W = 5.8

_STYLE = (
    f"text{{{svg.FONT};font-size:11px;fill:#222}}.title{{font-size:14px;font-weight:bold}}"
    ".tick{font-size:9px;fill:#666;text-anchor:middle}.grid{stroke:#e6e6e6}.info{text-anchor:end;fill:#555}"
    ".note{fill:#a33}.row.crit .id{font-weight:bold}.stripe{fill:#f6f6f6}"
    # the outline and the density band lie over the bars: the pointer goes through them to the bar's title
    ".critical{fill:none;stroke:#000;stroke-width:1.5;pointer-events:none}"
    ".band{fill:#08306b;opacity:0.45;pointer-events:none}"
    + "".join(f".{cat}{{fill:{colour}}}" for cat, (colour, _) in COLOURS.items())
    + f".{SEEN}{{fill:{_SEEN_COLOUR}}}"
)


@dataclass
class _Row:
    key: str  # the node's id as the report names it (a launch plan child's nodes under "<lp node>/")
    depth: int
    node: S.NodeTimeline | None  # None: the workflow's own row (WORKFLOW_SETUP / TEARDOWN)
    level: int  # child-execution nesting, to tell a launch plan's child nodes from same-named parents
    critical: list[S.Section] = field(default_factory=list)


def svg_text(view: S.TimelineView, *, width: int = WIDTH) -> str:
    """The timeline as one SVG document."""
    return _Picture(view, width).render()


def html_text(view: S.TimelineView, *, width: int = WIDTH) -> str:
    """The timeline as a self-contained HTML page: the SVG, then each array's sub-tasks (expandable)."""
    pic = _Picture(view, width)
    body = [pic.render()]
    for row in pic.rows:
        if row.node is not None and row.node.array is not None:
            a = row.node.array
            body.append(
                f"<details><summary>{svg.escape(row.key)}: {a.subtasks} sub-tasks"
                f" ({a.retries} retries)</summary>\n{pic.subtasks_svg(row)}</details>\n"
            )
    return svg.page(pic.title, "".join(body))


class _Picture:
    """Layout of one timeline: rows, x scale, and the drawing of each part."""

    def __init__(self, view: S.TimelineView, width: int) -> None:
        self.tl = tl = view.timeline
        self.width = width
        self.rows = [_Row("workflow", 0, None, 0), *_rows(tl, "", 0, 0)]
        _mark_critical(self.rows, view.critical_path)
        self.scale = (width - _LABEL_W - _PAD) / max(tl.duration, 1)
        self.title = f"execution {tl.exec_id or '?'}: node timeline"

    def x(self, t: int) -> float:
        """Pixel of an absolute time (ns)."""
        return _LABEL_W + (t - self.tl.start) * self.scale

    def offset_x(self, offset: int) -> float:
        """Pixel of an offset from the execution's start (ns)."""
        return _LABEL_W + offset * self.scale

    def render(self) -> str:
        """The whole picture as SVG."""
        tl, c = self.tl, svg.Canvas()
        bottom = _TOP + len(self.rows) * _ROW_H
        c.text(8, 18, self.title, class_="title")
        sub = f"{len(self.rows) - 1} nodes · {format_duration(tl.duration)} · phase {tl.phase or '?'}"
        c.text(8, 34, sub)
        if not tl.lifecycle:
            c.text(
                _LABEL_W, 34, "no lifecycle records: node times are handleNode first/last seen", class_="note"
            )
        svg.stripes(c, self.width, _TOP, len(self.rows), _ROW_H)
        svg.axis(c, self.offset_x, tl.duration, _TOP - 2, bottom)
        for i, row in enumerate(self.rows):
            self._row(c, i, row, _TOP + i * _ROW_H)
        arrays = any(r.node is not None and r.node.array is not None for r in self.rows)
        legend_h = _legend(c, 8, bottom + 14, self.width - 16, tl.lifecycle, arrays)
        return c.render(self.width, bottom + 14 + legend_h + 8, _STYLE, self.title)

    def _row(self, c: svg.Canvas, i: int, row: _Row, y: float) -> None:
        n = row.node
        kind = n.kind if n is not None else "execution"
        c.open(id_=f"row-{i}", class_="row crit" if row.critical else "row", data_node=row.key, data_kind=kind,
               data_critical="true" if row.critical else None)  # fmt: skip
        indent = 8 + row.depth * _INDENT
        info = _info(n, self.tl.lifecycle)
        room = int((_LABEL_W - indent - 16) / _CHAR_W) - len(info) - 2  # ids are bold on the path: wider
        c.text(indent, y + _ROW_H - 5, _shorten(row.key, room), class_="id")
        c.text(_LABEL_W - 8, y + _ROW_H - 5, info, class_="info")
        mid = y + _ROW_H / 2
        if n is None:
            self._bars(c, row.key, self.tl.sections, mid, _BAR_H)
        elif not self.tl.lifecycle:
            c.rect(self.x(n.queued), mid - _BAR_H / 2, n.duration * self.scale, _BAR_H,
                   f"{row.key} · seen {format_duration(n.duration)}", class_=SEEN)  # fmt: skip
        else:
            self._bars(c, row.key, n.waiting, mid, _WAIT_H)
            self._bars(c, row.key, n.sections, mid, _BAR_H)
            if n.array is not None:
                self._band(c, n, mid + _BAR_H / 2)
        for start, end in _merged(row.critical):
            c.rect(
                self.x(start), mid - _BAR_H / 2 - 1, (end - start) * self.scale, _BAR_H + 2, class_="critical"
            )
        c.close()

    def _bars(self, c: svg.Canvas, key: str, sections: Iterable[S.Section], mid: float, h: float) -> None:
        for s in sections:
            title = (f"{key} · {s.segment} · start +{format_duration(s.start - self.tl.start)}"
                     f" · {format_duration(s.duration)}")  # fmt: skip
            c.rect(self.x(s.start), mid - h / 2, s.duration * self.scale, h, title,
                   class_=S.SEGMENT_CATEGORY[s.segment], data_segment=s.segment)  # fmt: skip

    def _band(self, c: svg.Canvas, n: S.NodeTimeline, base: float) -> None:
        """How many sub-tasks run at each moment, as an area rising from the bar's bottom (height ∝ count)."""
        subs = [a for a in n.attempts if a.index is not None]
        if not subs:
            return
        lo, hi = min(a.start for a in subs), max(a.end for a in subs)
        bins = max(int((hi - lo) * self.scale / _BAND_BIN), 1)
        edges = np.linspace(lo, hi, bins + 1)
        starts = np.array([a.start for a in subs], dtype=np.int64)
        ends = np.array([a.end for a in subs], dtype=np.int64)
        # running in a bin = started before its end and not ended before its start
        running = np.searchsorted(np.sort(starts), edges[1:], side="left") - np.searchsorted(
            np.sort(ends), edges[:-1], side="right"
        )
        peak = max(int(running.max()), 1)
        pts = [f"M{svg.num(self.x(lo))} {svg.num(base)}"]
        for k, count in enumerate(running.tolist()):
            yk = svg.num(base - _BAR_H * count / peak)
            pts.append(f"L{svg.num(self.x(int(edges[k])))} {yk}L{svg.num(self.x(int(edges[k + 1])))} {yk}")
        pts.append(f"L{svg.num(self.x(hi))} {svg.num(base)}Z")
        c.path("".join(pts), class_="band", data_peak=peak)

    def subtasks_svg(self, row: _Row) -> str:
        """An array's sub-tasks, one row per index, on the timeline's x scale (for the HTML page)."""
        n = row.node
        assert n is not None
        by_index: dict[int, list[S.Attempt]] = {}
        for a in sorted((a for a in n.attempts if a.index is not None), key=lambda a: (a.start, a.number)):
            by_index.setdefault(int(a.index or 0), []).append(a)
        c = svg.Canvas()
        svg.stripes(c, self.width, 18, len(by_index), _ROW_H)
        svg.axis(c, self.offset_x, self.tl.duration, 14, 18 + len(by_index) * _ROW_H)
        for i, (index, chain) in enumerate(sorted(by_index.items())):
            y = 18 + i * _ROW_H
            key = f"{row.key}[{index}]"
            c.open(id_=f"sub-{i}", class_="row", data_node=key)
            c.text(8 + _INDENT, y + _ROW_H - 5, key, class_="id")
            pieces = [p for pos, a in enumerate(chain) for p in a.sections(key, last=pos == len(chain) - 1)]
            self._bars(c, key, pieces, y + _ROW_H / 2, _BAR_H)
            c.close()
        return c.render(self.width, 18 + len(by_index) * _ROW_H + 4, _STYLE, f"{row.key}: sub-tasks")


def _rows(tl: S.ExecutionTimeline, prefix: str, depth: int, level: int) -> list[_Row]:
    """Nodes in nesting order; top-level start/end nodes are the workflow's own setup/teardown, not rows."""
    out: list[_Row] = []

    def visit(n: S.NodeTimeline, d: int) -> None:
        out.append(_Row(prefix + n.node_id, d, n, level))
        if n.child is not None:
            out.extend(_rows(n.child, f"{prefix}{n.node_id}/", d + 1, level + 1))
        for child in _in_order(tl.nodes[k] for k in n.children if k in tl.nodes):
            visit(child, d + 1)

    anchors = (sc.NodeKind.START, sc.NodeKind.END)
    for n in _in_order(n for n in tl.scope(None) if n.kind not in anchors):
        visit(n, depth)
    return out


def _in_order(nodes: Iterable[S.NodeTimeline]) -> list[S.NodeTimeline]:
    return sorted(nodes, key=lambda n: (n.ready, n.queued, n.node_id))


def _local(label: str) -> str:
    """The node id a critical-path section names ("n0[3]" is sub-task 3 of array node n0)."""
    return label.split("[", 1)[0]


def _mark_critical(rows: list[_Row], path: Iterable[S.Section]) -> None:
    """Attach each critical-path section to its row: the node it names, among same-named nodes the most
    deeply nested (launch plan child) one whose life contains it; the workflow's own sections to the row
    of the innermost launch plan (or the workflow) that contains them."""
    by_id: dict[str, list[_Row]] = {}
    for r in rows:
        if r.node is not None:
            by_id.setdefault(r.node.node_id, []).append(r)
    lp = [r for r in rows if r.node is not None and r.node.child is not None]
    for s in path:
        candidates = by_id.get(_local(s.node), []) if s.node else [rows[0], *lp]
        inside = [
            r
            for r in candidates
            if r.node is None or _life(r.node)[0] <= s.start and s.end <= _life(r.node)[1]
        ]
        chosen = max(inside or candidates, key=lambda r: r.level if r.node is not None else -1, default=None)
        if chosen is not None:
            chosen.critical.append(s)


def _merged(sections: Iterable[S.Section]) -> list[tuple[int, int]]:
    """Touching or overlapping sections as one interval each, so a row's stretch of the path is one outline."""
    out: list[tuple[int, int]] = []
    for s in sorted(sections, key=lambda s: s.start):
        if out and s.start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], s.end))
        else:
            out.append((s.start, s.end))
    return out


def _life(n: S.NodeTimeline) -> tuple[int, int]:
    return min(n.ready, n.queued), n.end


def _info(n: S.NodeTimeline | None, lifecycle: bool) -> str:
    """Kind and the node's own overhead shares (flyte and k8s time over its queued -> terminal duration)."""
    if n is None:
        return "execution"
    kind = f"{n.kind} ×{n.array.subtasks}" if n.array is not None else n.kind
    if not lifecycle or n.duration <= 0:
        return kind
    own = S.totals(n.sections)
    return f"{kind} · flyte {own.get(S.FLYTE, 0) / n.duration:.0%} · k8s {own.get(S.K8S, 0) / n.duration:.0%}"


def _shorten(text: str, room: int) -> str:
    room = max(room, 4)
    return text if len(text) <= room else "…" + text[-(room - 1) :]


def _legend(c: svg.Canvas, x0: float, y0: float, right: float, lifecycle: bool, arrays: bool) -> float:
    """Swatches (css class, top, height, text) left to right, wrapping at `right`; returns the height used."""
    if lifecycle:
        items = [(cat, 0, 10, text) for cat, (_, text) in COLOURS.items()]
        items.append(("critical", 0, 10, "critical path"))
        if arrays:
            items.append(("band", 4, 6, "array sub-tasks running (height)"))
    else:
        items = [(SEEN, 0, 10, "handleNode first → last seen")]
    c.open(class_="legend")
    x, y = x0, y0
    for cls, top, h, text in items:
        w = 18 + len(text) * _LEGEND_CHAR_W + 18
        if x + w > right and x > x0:
            x, y = x0, y + 16
        c.rect(x, y + top, 14, h, class_=cls)
        c.text(x + 18, y + 9, text)
        x += w
    c.close()
    return y - y0 + 16
