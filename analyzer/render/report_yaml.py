"""The report as YAML (human durations and percentages, parseable back) or JSON (exact ns), and reading either."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from analyzer.errors import DecodeError
from analyzer.reduce.report import COUNT, DURATION, LIST_OF_MAPS, RATIO, field_kind
from analyzer.units import format_duration, parse_duration


def render_yaml(doc: Mapping[str, Any]) -> str:
    """YAML of a report document: durations like ``1m53s``/``21ms``, shares like ``14.2%``."""
    return yaml.safe_dump(_walk(doc, (), _format), sort_keys=False, allow_unicode=True, width=120)


def render_json(doc: Mapping[str, Any]) -> str:
    """JSON of a report document: durations in exact ns, shares as fractions."""
    return json.dumps(doc, indent=2) + "\n"


def load(text: str, source: str) -> dict[str, Any]:
    """A report document (one entry, or one per benchmark) from its YAML or JSON text, leaves back to ns etc."""
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise DecodeError(f"{source}: not a report ({e})") from None
    if not isinstance(doc, dict) or not doc:
        raise DecodeError(f"{source}: not a report (expected keys each holding a mapping)")
    for key, body in doc.items():
        if not isinstance(body, dict):
            raise DecodeError(
                f"{source}: not a report (entry {key!r} holds {type(body).__name__}, not a mapping)"
            )
    try:
        return _walk(doc, (), _parse)
    except ValueError as e:
        raise DecodeError(f"{source}: {e}") from None


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


def _parse(path: Sequence[str], v: Any) -> Any:
    if not isinstance(v, str):
        return v
    kind = field_kind(path)
    where = "/".join(path)
    if kind == DURATION:
        try:
            return parse_duration(v)
        except ValueError as e:
            raise ValueError(f"at {where}: {e}") from None
    if kind == RATIO:
        if not v.endswith("%"):
            raise ValueError(f"at {where}: {v!r} is not a percentage")
        try:
            return float(v[:-1]) / 100
        except ValueError:
            raise ValueError(f"at {where}: {v!r} is not a percentage") from None
    if kind == COUNT:
        try:
            return float(v) if "." in v else int(v)
        except ValueError:
            raise ValueError(f"at {where}: {v!r} is not a count") from None
    return v


def _walk(doc: Any, path: tuple[str, ...], leaf: Any) -> Any:
    if isinstance(doc, Mapping):
        return {k: _walk(v, (*path, str(k)), leaf) for k, v in doc.items()}
    if isinstance(doc, list):
        if path and path[-1] in LIST_OF_MAPS:
            return [_walk(item, path, leaf) for item in doc]
        if path and path[-1] == "runs":
            return [_walk(item, (), leaf) for item in doc]
        return [leaf(path, item) for item in doc]
    return leaf(path, doc)
