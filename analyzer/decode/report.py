"""A report or benchmark file (YAML or JSON, as `analyzer.render.report_yaml` writes it) back into its document.

Leaves go back to what the reductions produce: durations (``1m53s``) to ns, shares (``14.2%``) to fractions,
counts to numbers, as `analyzer.results.document.FIELD_KIND` says by key.

The files come from elsewhere (CI artifacts), so the document is checked on the way in, and a bad one is one
line naming the file and the place in it, never a traceback: YAML without anchors, aliases or tags
(`analyzer.plain_yaml`); mappings with text keys; lists only where `document.LISTS` puts them, holding
what it says; numbers finite and within ±2**63; text where FIELD_KIND says text; at most
`document.MAX_DEPTH` levels; a category's `sketch` is version 1 of `results.sketch`'s format and holds as many
durations as its block's `count`.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

from analyzer import plain_yaml
from analyzer.errors import DecodeError
from analyzer.results.document import (
    COUNT,
    DOCUMENTS,
    DURATION,
    LEAVES,
    LISTS,
    MAX_DEPTH,
    NAMED_MAPS,
    RATIO,
    SKETCH,
    TEXT,
    field_kind,
)
from analyzer.results.sketch import SketchError, parse_sketch
from analyzer.units import parse_duration

__all__ = ["NUMBER_LIMIT", "decode_report"]

# The largest magnitude of a number: ns in an int64 (292 years); two of them still subtract and divide exactly
# enough in a diff, where 1e308 - -1e308 overflows to infinity.
NUMBER_LIMIT = 2**63
_LONGEST_NUMBER_TEXT = 64  # a duration, share or count written as text is never longer
# A lone surrogate: valid in a Python str (JSON's "\ud800", YAML's "\ud800"), but no stream can encode it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _Bad(ValueError):
    """A problem at a place in the document (keys joined by dots, list items as [i])."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)


def decode_report(text: str, source: str) -> dict[str, Any]:
    """A report document (one entry, or one per benchmark) from its YAML or JSON text, leaves back to ns etc."""
    doc = _load(text, source)
    try:
        return _document(doc)
    except _Bad as e:
        raise DecodeError(f"{source}: {e}") from None


def _load(text: str, source: str) -> Any:
    if not text.lstrip().startswith("{"):
        return plain_yaml.load(text, source, max_depth=MAX_DEPTH)
    try:
        return json.loads(text)  # NaN and Infinity load, and are refused below with their place
    except json.JSONDecodeError as e:
        raise DecodeError(f"{source}: line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise DecodeError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # the one other ValueError json raises: an integer too long to convert
        raise DecodeError(f"{source}: an integer of over {sys.get_int_max_str_digits()} digits") from None


def _document(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not doc:
        got = "an empty mapping" if doc == {} else _noun(doc)
        raise _Bad("", f"not a report (expected keys each holding a mapping, got {got})")
    for key, body in doc.items():
        if not isinstance(body, dict):
            raise _Bad(str(key), f"not a report (expected a mapping, got {_noun(body)})")
    return _mapping(doc, (), "", 1)


def _value(v: Any, path: tuple[str, ...], where: str, depth: int) -> Any:
    """`v` checked and its leaves parsed; `path` is what FIELD_KIND reads (from the entry, or the run)."""
    if depth > MAX_DEPTH:
        raise _Bad(where, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(v, dict):
        return _mapping(v, path, where, depth)
    if isinstance(v, list):
        held = LISTS.get(path[-1]) if path else None
        if held is None:
            raise _Bad(where, f"expected a mapping or {_KINDS[field_kind(path)][0]}, got a list")
        return _LIST_READERS[held](v, path, where, depth)
    return _leaf(v, path, where)


def _mapping(m: dict[Any, Any], path: tuple[str, ...], where: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in m.items():
        try:
            key = _text(k) if isinstance(k, str) else _not_text(k)
        except ValueError as e:
            raise _Bad(where, f"a key: {e}") from None
        out[key] = _value(v, (*path, key), f"{where}.{key}" if where else key, depth + 1)
    if isinstance(out.get(SKETCH), str):
        _check_sketch(out, f"{where}.{SKETCH}" if where else SKETCH)
    return out


def _check_sketch(block: dict[str, Any], where: str) -> None:
    """A category's sketch: version 1 of the format, holding as many durations as the block's count."""
    try:
        held = parse_sketch(block[SKETCH]).count
    except SketchError as e:
        raise _Bad(where, str(e)) from None
    if "count" in block and held != block["count"]:
        raise _Bad(where, f"holds {held} durations, but the count beside it is {block['count']}")


def _named_maps(items: list[Any], path: tuple[str, ...], where: str, depth: int) -> list[dict[str, Any]]:
    """Nodes: ``[{node id: {...}}, ...]``; a node's place is its id, as in `document.flatten`."""
    seen: set[Any] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or len(item) != 1 or not isinstance(next(iter(item.values())), dict):
            raise _Bad(f"{where}[{i}]", f"expected a mapping of one id to a mapping, got {_node_noun(item)}")
        if (name := next(iter(item))) in seen:  # flatten would merge the two into one node
            raise _Bad(f"{where}[{i}]", f"a second node {_quote(name)}")
        seen.add(name)
    return [_mapping(item, path, where, depth + 1) for item in items]


def _node_noun(item: Any) -> str:
    if not isinstance(item, dict):
        return _noun(item)
    return (
        f"a mapping of {len(item)} keys"
        if len(item) != 1
        else f"one id to {_noun(next(iter(item.values())))}"
    )


def _documents(items: list[Any], path: tuple[str, ...], where: str, depth: int) -> list[dict[str, Any]]:
    """Runs: each a report body of its own, its leaves' kinds read from its own root."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Bad(f"{where}[{i}]", f"expected a mapping, got {_noun(item)}")
    return [_mapping(item, (), f"{where}[{i}]", depth + 1) for i, item in enumerate(items)]


def _leaves(items: list[Any], path: tuple[str, ...], where: str, depth: int) -> list[Any]:
    """Warnings: values of the list's own FIELD_KIND, never containers."""
    return [_leaf(item, path, f"{where}[{i}]") for i, item in enumerate(items)]


# How each kind of list in `document.LISTS` is read.
_LIST_READERS: dict[str, Callable[[list[Any], tuple[str, ...], str, int], list[Any]]] = {
    NAMED_MAPS: _named_maps,
    DOCUMENTS: _documents,
    LEAVES: _leaves,
}


def _leaf(v: Any, path: tuple[str, ...], where: str) -> Any:
    kind = field_kind(path)
    expected, from_text = _KINDS[kind]
    try:
        if isinstance(v, str):
            if kind != TEXT and len(v) > _LONGEST_NUMBER_TEXT:
                raise ValueError(f"expected {expected}, got {len(v)} characters of text")
            v = from_text(v)
        elif kind == TEXT or isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"expected {expected}, got {_noun(v)}")
        return v if kind == TEXT else _number(v)
    except ValueError as e:
        raise _Bad(where, str(e)) from None


def _number(x: float) -> float:
    if abs(x) > NUMBER_LIMIT or not math.isfinite(x):  # in this order: isfinite(10**400) overflows
        raise ValueError(f"expected a finite number within ±2**63, got {_quote(x)}")
    return x


def _text(v: str) -> str:
    if _SURROGATE.search(v):
        raise ValueError(f"text with a lone surrogate, which cannot be printed: {_quote(v)}")
    return v


def _not_text(k: Any) -> str:
    raise ValueError(f"expected text, got {_noun(k)} ({_quote(k)})")


def _percent(v: str) -> float:
    try:
        if v.endswith("%"):
            return float(v[:-1]) / 100
    except ValueError:
        pass
    raise ValueError(f"{_quote(v)} is not a percentage")


def _count(v: str) -> float:
    try:
        return float(v) if "." in v else int(v)
    except ValueError:
        raise ValueError(f"{_quote(v)} is not a count") from None


# Per leaf kind: what is expected (for messages) and how a value written as text is read.
_KINDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    TEXT: ("text", _text),
    DURATION: ("a duration (1.2s, or ns)", parse_duration),
    RATIO: ("a share (14.2%, or a fraction)", _percent),
    COUNT: ("a count", _count),
}

# How a value of each type is named in messages; the first match wins (bool before int).
_NOUNS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "a number"),
    (float, "a number"),
    (str, "text"),
    (dict, "a mapping"),
    (list, "a list"),
    (type(None), "null"),
)


def _noun(v: Any) -> str:
    return next((noun for t, noun in _NOUNS if isinstance(v, t)), type(v).__name__)


def _quote(v: Any) -> str:
    text = repr(v)  # repr escapes lone surrogates and control characters
    return text if len(text) <= 40 else text[:37] + "..."
