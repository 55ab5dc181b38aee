"""The orchestration waterfall: propeller rounds → streaks → operations over time, one row per fold line.

Draws a ``analyzer.reduce.fold.Fold`` (so a run of many alike siblings is already one row, drawn paler,
and ``--node`` / ``--depth`` narrow it as they narrow the text fold), without flyte_otel's lifecycle
records and user code, which the node timeline draws. Rows are labelled as the text fold labels its
lines; each bar is coloured by its span's category. SVG or a self-contained HTML page, no script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analyzer import table as T
from analyzer.render import fold_text, svg
from analyzer.results.fold import Fold
from analyzer.units import format_duration
from flyte_otel import semconv as sc

__all__ = ["COLOURS", "HIDDEN", "MAX_ROWS", "WIDTH", "html_text", "svg_text"]

C = sc.Category
# Category -> fill colour, in legend order; propeller's own loop in greys, I/O in hues per system.
COLOURS: Mapping[str, str] = {
    C.ROUND: "#636363",
    C.STREAK: "#969696",
    C.NODE_HANDLE: "#bdbdbd",
    C.TASK_HANDLE: "#d9d9d9",
    C.ETCD_READ: "#9ecae1",
    C.ETCD_WRITE: "#08519c",
    C.EVENT_WORKFLOW: "#54278f",
    C.EVENT_NODE: "#807dba",
    C.EVENT_TASK: "#bcbddc",
    C.BLOBSTORE_READ: "#fdae6b",
    C.BLOBSTORE_WRITE: "#e6550d",
    C.CACHE_LOOKUP: "#74c476",
    C.CACHE_WRITE: "#238b45",
    C.K8S: "#f2c12e",
    C.ADMIN: "#e377c2",
    C.OTHER: "#8c6d31",
}
HIDDEN = frozenset({C.LIFECYCLE, C.USER})  # drawn by the node timeline
MAX_ROWS = 10_000  # beyond this a browser struggles; the picture says how many lines it left out

# The picture's default width in px.
WIDTH = 1400
_LABEL_W = 520
_PAD = 16
_TOP = 60
_ROW_H = 14
_BAR_H = 10
_INDENT = 10
_CHAR_W = 5.6  # generous glyph width at the label size
_CUT_PX = 6  # an idle gap, drawn this wide
_MIN_CUT = 0.01  # only gaps longer than this share of the execution are cut
_MAX_CUTS_PER_PX = 24  # at most one cut per this many px of plot


def _css(category: str) -> str:
    """A category as a CSS class name ("etcd.write" -> "c-etcd-write")."""
    return "c-" + category.replace(".", "-")


_STYLE = (
    f"text{{{svg.FONT};font-size:10px;fill:#222}}.title{{font-size:14px;font-weight:bold}}"
    ".tick{font-size:9px;fill:#666;text-anchor:middle}.grid{stroke:#e6e6e6}.note{fill:#a33}"
    ".run{opacity:0.55}.stripe{fill:#f6f6f6}.cut{fill:#e4e4e4}"
    + "".join(f".{_css(cat)}{{fill:{colour}}}" for cat, colour in COLOURS.items())
)


def svg_text(fold: Fold, *, width: int = WIDTH, max_rows: int = MAX_ROWS) -> str:
    """The waterfall as one SVG document."""
    ex = fold.execution
    df = ex.table.df
    categories = df[T.CATEGORY].astype(str).to_numpy()[fold.rows]
    shown = ~np.isin(categories, list(HIDDEN))
    records = [r for r, keep in zip(fold_text.records(fold), shown.tolist(), strict=True) if keep]
    cats = categories[shown].tolist()
    left_out = max(len(records) - max_rows, 0)
    records, cats = records[:max_rows], cats[:max_rows]
    base = min((r["depth"] for r in records), default=0)
    span = max(ex.end_ns - ex.start_ns, 1)
    axis = _Axis.build([(r["offset_ns"], r["offset_ns"] + r["duration_ns"]) for r in records], span, width)
    x = axis.x

    c = svg.Canvas()
    title = f"execution {ex.exec_id or '?'}: orchestration waterfall"
    bottom = _TOP + len(records) * _ROW_H
    c.text(8, 18, title, class_="title")
    c.text(8, 34, f"{len(records)} lines · {len(ex)} spans · {format_duration(span)}"
           f" · {len(axis.cuts)} idle gaps cut (grey, not to scale)")  # fmt: skip
    if left_out:
        c.text(_LABEL_W, 34, f"{left_out} more lines not drawn: narrow with --node or --depth", class_="note")
    svg.stripes(c, width, _TOP, len(records), _ROW_H)
    axis.draw(c, _TOP - 2, bottom)
    for i, (rec, cat) in enumerate(zip(records, cats, strict=True)):
        y = _TOP + i * _ROW_H
        c.open(id_=f"line-{i}", class_="line", data_number=rec["number"], data_category=cat)
        indent = 8 + (rec["depth"] - base) * _INDENT
        room = max(int((_LABEL_W - indent - 8) / _CHAR_W), 4)
        label = rec["label"] if len(rec["label"]) <= room else rec["label"][: room - 1] + "…"
        c.text(indent, y + _ROW_H - 3, label)
        hover = f"{rec['label']} · start +{format_duration(rec['offset_ns'])} · {format_duration(rec['duration_ns'])}"
        cls = _css(cat if cat in COLOURS else C.OTHER) + (" run" if rec.get("count", 1) > 1 else "")
        x0 = x(rec["offset_ns"])
        # at least a hairline, so a 1 µs etcd write in a one-minute execution is still seen
        w = max(x(rec["offset_ns"] + rec["duration_ns"]) - x0, 0.5)
        c.rect(x0, y + (_ROW_H - _BAR_H) / 2, w, _BAR_H, hover, class_=cls)
        c.close()
    legend_h = _legend(c, 8, bottom + 14, width - 16)
    return c.render(width, bottom + 14 + legend_h + 8, _STYLE, title)


@dataclass(frozen=True)
class _Axis:
    """Time offset -> px, piecewise linear: busy stretches share one scale, long idle gaps are cut to _CUT_PX.

    Propeller's rounds take milliseconds in executions of minutes; drawn to one scale they are slivers.
    Cutting the idle time between them (marked, with its length on hover) keeps every bar to scale.
    """

    times: np.ndarray  # breakpoints, ns from the execution's start
    pixels: np.ndarray
    cuts: tuple[tuple[int, int], ...]  # the idle stretches drawn _CUT_PX wide

    @classmethod
    def build(cls, intervals: list[tuple[int, int]], span: int, width: int) -> _Axis:
        plot = width - _LABEL_W - _PAD
        busy: list[list[int]] = []
        for s, e in sorted(intervals):
            if busy and s <= busy[-1][1]:
                busy[-1][1] = max(busy[-1][1], e)
            else:
                busy.append([s, e])
        edges = [0, *(t for b in busy for t in b), span]
        gaps = [(edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2) if edges[i + 1] - edges[i] > 0]
        longest = sorted(gaps, key=lambda g: g[0] - g[1])[: int(plot // _MAX_CUTS_PER_PX)]
        cuts = tuple(sorted(g for g in longest if g[1] - g[0] > span * _MIN_CUT))
        scale = (plot - len(cuts) * _CUT_PX) / max(span - sum(e - s for s, e in cuts), 1)
        times, pixels, px, at = [0], [float(_LABEL_W)], float(_LABEL_W), 0
        for s, e in cuts:
            px += (s - at) * scale
            times += [s, e]
            pixels += [px, px + _CUT_PX]
            px, at = px + _CUT_PX, e
        times.append(span)
        pixels.append(px + (span - at) * scale)
        return cls(np.array(times, dtype=np.float64), np.array(pixels), cuts)

    def x(self, offset: int) -> float:
        """Pixel of an offset (ns from the execution's start)."""
        return float(np.interp(offset, self.times, self.pixels))

    def draw(self, c: svg.Canvas, top: float, bottom: float) -> None:
        """Offset labels where each busy stretch starts (when there is room), grid lines, and the cuts."""
        c.open(class_="axis")
        for s, e in self.cuts:
            c.rect(
                self.x(s),
                top,
                _CUT_PX,
                bottom - top,
                f"idle {format_duration(e - s)}, not to scale",
                class_="cut",
            )
        free = -1e9  # where the next label may start
        step = 10 ** max(len(str(int(self.times[-1]))) - 4, 0)  # labels to 4 significant digits of the span
        for t in [0, *(e for _, e in self.cuts)]:
            px, label = self.x(t), "+" + format_duration(round(t / step) * step)
            if px - len(label) * _CHAR_W / 2 >= free:
                c.line(px, top, px, bottom, class_="grid")
                c.text(px, top - 4, label, class_="tick")
                free = px + len(label) * _CHAR_W / 2 + 6
        c.close()


def html_text(fold: Fold, *, width: int = WIDTH, max_rows: int = MAX_ROWS) -> str:
    """The waterfall as a self-contained HTML page."""
    return svg.page(f"execution {fold.execution.exec_id or '?'}: orchestration waterfall",
                    svg_text(fold, width=width, max_rows=max_rows))  # fmt: skip


def _legend(c: svg.Canvas, x0: float, y0: float, right: float) -> float:
    """Category swatches left to right, wrapping at `right`; returns the height used."""
    c.open(class_="legend")
    x, y = x0, y0
    for cat in COLOURS:
        w = 18 + len(cat) * _CHAR_W + 18
        if x + w > right and x > x0:
            x, y = x0, y + 16
        c.rect(x, y, 14, 10, class_=_css(cat))
        c.text(x + 18, y + 9, cat)
        x += w
    c.close()
    return y - y0 + 16
