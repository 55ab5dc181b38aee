"""The report as YAML (human durations and percentages, read back by `analyzer.decode.report`) or JSON (exact ns)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from analyzer.render.yaml_text import dump_yaml
from analyzer.results.document import DURATION, RATIO, field_kind, map_leaves
from analyzer.units import format_duration

__all__ = ["format_ratio", "render_json", "render_yaml"]


def render_yaml(doc: Mapping[str, Any]) -> str:
    """YAML of a report document: durations like ``1m53s``/``21ms``, shares like ``14.2%``."""
    return dump_yaml(map_leaves(doc, _format), width=120)


def render_json(doc: Mapping[str, Any]) -> str:
    """JSON of a report document: durations in exact ns, shares as fractions."""
    return json.dumps(doc, indent=2) + "\n"


def format_ratio(x: float, *, signed: bool = False) -> str:
    """A fraction as a percentage with one decimal (``14%``, ``14.2%``); signed adds ``+`` (points)."""
    text = f"{x * 100:+.1f}" if signed else f"{x * 100:.1f}"
    return text.removesuffix(".0") + "%"


def _format(path: Sequence[str], v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v
    kind = field_kind(path)
    if kind == DURATION:
        return format_duration(int(round(v)))
    if kind == RATIO:
        return format_ratio(v)
    return v
