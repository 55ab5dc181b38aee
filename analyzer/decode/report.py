"""A report or benchmark file (YAML or JSON, as `analyzer.render.report_yaml` writes it) back into its document.

Leaves go back to what the reductions produce: durations (``1m53s``) to ns, shares (``14.2%``) to fractions,
counts to numbers, as `analyzer.results.document.FIELD_KIND` says by key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from analyzer.errors import DecodeError
from analyzer.results.document import COUNT, DURATION, RATIO, field_kind, map_leaves
from analyzer.units import parse_duration

__all__ = ["decode_report"]


def decode_report(text: str, source: str) -> dict[str, Any]:
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
        return dict(map_leaves(doc, _parse))
    except ValueError as e:
        raise DecodeError(f"{source}: {e}") from None


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
