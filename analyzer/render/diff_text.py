"""A diff as YAML text in the report's hierarchy: signed deltas (``duration: -10s``), verdicts as comments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analyzer.render.report_yaml import format_ratio
from analyzer.results.diff import ADDED, CHANGED, REMOVED, Change, Diff
from analyzer.results.document import COUNT, DURATION, RATIO
from analyzer.safe_text import printable
from analyzer.units import format_duration

__all__ = ["render_diff", "render_diffs", "render_summary"]

_INDENT = "  "


def render_diff(d: Diff) -> str:
    """The diff, one leaf per line; a header comment names the inputs and the significance method."""
    lines = [
        f"# base: {d.base_key} ({d.base_runs} run{'s' * (d.base_runs != 1)}), "
        f"new: {d.new_key} ({d.new_runs} run{'s' * (d.new_runs != 1)})",
        f"# significance: {d.method}",
        f"{d.new_key}:" + ("" if d.status == CHANGED else f"  # {d.status}"),
    ]
    _mapping(d.tree, 1, lines)
    return "\n".join(map(printable, lines)) + "\n"  # keys come from others' files: shown inert


def render_diffs(diffs: Sequence[Diff]) -> str:
    """Every entry's diff, in order, as one YAML document (an entry on one side only marked added/removed)."""
    return "".join(render_diff(d) for d in diffs)


def _mapping(tree: Mapping[str, Any], depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    for key, v in tree.items():
        if isinstance(v, Change):
            lines.append(f"{pad}{key}: {_leaf(v)}")
        elif isinstance(v, list):
            lines.append(f"{pad}{key}:")
            for item in v:
                ((name, sub),) = item.items()
                lines.append(f"{pad}- {name}:{_whole_status(sub)}")
                _mapping(sub, depth + 2, lines)
        else:
            lines.append(f"{pad}{key}:")
            _mapping(v, depth + 1, lines)


def _whole_status(sub: Mapping[str, Any]) -> str:
    """' # added' when every leaf under a node is new (or removed), so the node itself is."""
    statuses = {c.status for c in _leaves(sub)}
    return f"  # {statuses.pop()}" if len(statuses) == 1 and statuses <= {ADDED, REMOVED} else ""


def _leaves(tree: Mapping[str, Any]) -> list[Change]:
    out: list[Change] = []
    for v in tree.values():
        if isinstance(v, Change):
            out.append(v)
        elif isinstance(v, Mapping):
            out.extend(_leaves(v))
    return out


def _leaf(c: Change) -> str:
    if c.status == ADDED:
        return f"{_value(c.kind, c.new)}  # added"
    if c.status == REMOVED:
        return f"{_value(c.kind, c.base)}  # removed"
    text = _signed(c.kind, c.delta or 0)
    if c.verdict is None:
        return text
    if c.ratio is None or c.ci is None or c.p is None:
        needed = f" ({c.runs_needed} a side would do)" if c.runs_needed else ""
        return f"{text}  # {c.verdict}{needed}"
    judged = f"{text}  # {c.verdict}: ratio {c.ratio:.3f} [{c.ci[0]:.3f}, {c.ci[1]:.3f}], p={c.p:.3g}"
    return judged + (f", q={c.q:.3g}" if c.q is not None else "") + (f", mde x{c.mde:.3g}" if c.mde else "")


def render_summary(tested: int, flagged: int, too_few: int) -> str:
    """The one line `--only-changes` ends with: how many values were judged, flagged, or could not be."""
    return f"# values tested: {tested}, flagged: {flagged}, too few runs: {too_few}\n"


def _value(kind: str, v: float | None) -> str:
    if v is None:
        return "~"
    if kind == DURATION:
        return format_duration(int(round(v)))
    if kind == RATIO:
        return format_ratio(v)
    return _count(v)


def _signed(kind: str, d: float) -> str:
    if kind == DURATION:
        text = format_duration(int(round(d)))
        return text if text.startswith("-") else "+" + text
    if kind == RATIO:
        return format_ratio(d, signed=True)
    if kind == COUNT:
        return ("+" if d >= 0 else "") + _count(d)
    return str(d)


def _count(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
