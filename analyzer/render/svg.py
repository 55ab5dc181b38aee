"""SVG drawing shared by the pictures (timeline, waterfall): a canvas of rounded elements, a time axis, an HTML page.

Output is deterministic: coordinates are rounded to 0.01 px, attributes are written in a fixed order, ids
are given by the caller. Hover text is SVG ``<title>`` (shown natively by browsers), so a picture needs no
script and fetches nothing when opened.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping

from analyzer.safe_text import xml_text
from analyzer.units import format_duration

__all__ = ["FONT", "Canvas", "axis", "escape", "num", "page", "stripes", "ticks"]

# The pictures' font, as CSS.
FONT = "font-family:Helvetica,Arial,sans-serif"
_TICK_STEPS = (1, 2, 5)  # axis ticks fall on 1, 2 or 5 times a power of ten ns


def num(x: float) -> str:
    """A coordinate rounded to 0.01 with trailing zeros dropped (``12``, ``3.5``, ``0.25``)."""
    text = f"{round(x, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attrs(attrs: Mapping[str, object]) -> str:
    out = []
    for k, v in attrs.items():
        if v is None:
            continue
        value = num(v) if isinstance(v, float) else str(v)
        out.append(f' {k.rstrip("_").replace("_", "-")}="{escape(value)}"')
    return "".join(out)


class Canvas:
    """Collects SVG elements in drawing order; ``render`` wraps them in one ``<svg>``."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, title: str | None = None, **attrs: object) -> None:
        """A rectangle (attributes as keywords: ``class_`` → ``class``, ``data_node`` → ``data-node``)."""
        head = f'<rect x="{num(x)}" y="{num(y)}" width="{num(max(w, 0.0))}" height="{num(h)}"{_attrs(attrs)}'
        self.parts.append(f"{head}><title>{escape(title)}</title></rect>" if title else head + "/>")

    def text(self, x: float, y: float, text: str, **attrs: object) -> None:
        """A text label at (x, y baseline)."""
        self.parts.append(f'<text x="{num(x)}" y="{num(y)}"{_attrs(attrs)}>{escape(text)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, **attrs: object) -> None:
        """A straight line."""
        self.parts.append(
            f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}"{_attrs(attrs)}/>'
        )

    def path(self, d: str, **attrs: object) -> None:
        """A path with data ``d`` (the caller rounds its numbers with :func:`num`)."""
        self.parts.append(f'<path d="{d}"{_attrs(attrs)}/>')

    def open(self, **attrs: object) -> None:
        """Start a ``<g>`` group."""
        self.parts.append(f"<g{_attrs(attrs)}>")

    def close(self) -> None:
        """End the innermost group."""
        self.parts.append("</g>")

    def render(self, width: float, height: float, style: str, title: str) -> str:
        """The document: one ``<svg>`` with a ``<title>``, a ``<style>`` and the elements."""
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(width)}" height="{num(height)}" '
            f'viewBox="0 0 {num(width)} {num(height)}">\n<title>{escape(title)}</title>\n'
            f"<style>{style}</style>\n" + "\n".join(self.parts) + "\n</svg>\n"
        )


def ticks(span_ns: int, target: int = 10) -> list[int]:
    """Offsets (ns) for about `target` axis ticks over [0, span_ns], on 1-2-5 steps."""
    if span_ns <= 0:
        return [0]
    raw = span_ns / target
    power = 10 ** math.floor(math.log10(raw))
    step = next((m * power for m in _TICK_STEPS if m * power >= raw), 10 * power)
    step = max(int(step), 1)
    return list(range(0, span_ns + 1, step))


def axis(c: Canvas, x: Callable[[int], float], span_ns: int, top: float, bottom: float) -> None:
    """Tick labels (offset from the start) above `top`, faint grid lines from `top` to `bottom`."""
    c.open(class_="axis")
    for t in ticks(span_ns):
        c.line(x(t), top, x(t), bottom, class_="grid")
        c.text(x(t), top - 4, format_duration(t), class_="tick")
    c.close()


def stripes(c: Canvas, width: float, top: float, rows: int, row_h: float) -> None:
    """Every other row's background. Drawn before the axis and the rows: a stripe drawn over them hides the
    grid lines and the idle cuts, and takes the pointer from the cuts' hover text, on every other row."""
    c.open(class_="stripes")
    for i in range(1, rows, 2):
        c.rect(0, top + i * row_h, width, row_h, class_="stripe")
    c.close()


def escape(text: str) -> str:
    """Text for SVG/HTML: escaped, and without the characters XML cannot hold (trace content may have them)."""
    return html.escape(xml_text(text), quote=True)


def page(title: str, body: str) -> str:
    """A self-contained HTML page around already-rendered SVG/HTML fragments (no script, no external fetch)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        f"<style>body{{{FONT};margin:12px}}details{{margin:6px 0}}summary{{cursor:pointer}}</style>"
        f"</head><body>\n{body}</body></html>\n"
    )
