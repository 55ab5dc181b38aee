"""The report document's shape: which leaves are durations, shares, counts or text, and its flat form.

A report (DESIGN.md's YAML shape) is plain dicts whose leaves are numbers, never formatted: ns (ints) for
durations, fractions (floats) for shares, ints for counts. FIELD_KIND says which is which by key, so a
renderer formats, a decoder parses and the diff compares without a schema of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "COUNT", "DOCUMENTS", "DURATION", "FIELD_KIND", "LEAVES", "LISTS", "LIST_OF_MAPS", "MAX_DEPTH", "NAMED_MAPS",
    "RATIO", "SKETCH", "TEXT", "field_kind", "flatten", "map_leaves", "unflatten",
]  # fmt: skip

# What a leaf holds: ns, a fraction, a count, or text.
DURATION, RATIO, COUNT, TEXT = "duration", "ratio", "count", "text"

# The key of a category's sketch in a benchmark run (analyzer/results/sketch.py).
SKETCH = "sketch"
# Leaf kinds: (enclosing key or None, leaf key or None, kind); first match wins, default DURATION.
FIELD_KIND: tuple[tuple[str | None, str | None, str], ...] = (
    ("method", None, TEXT),
    ("warnings", None, TEXT),
    ("absent", None, TEXT),
    (None, "count", COUNT),
    (None, "attempts", COUNT),
    (None, "size", COUNT),
    (None, "subtasks", COUNT),
    (None, "retries", COUNT),
    ("streaksPerRound", None, COUNT),
    ("nodesPerStreak", None, COUNT),
    ("etcdWritesPerStreak", None, COUNT),
    ("etcdBytes", None, COUNT),
    (None, "flyteOverhead", RATIO),
    (None, "aggregateOverhead", RATIO),
    (None, "k8sOverhead", RATIO),
    (None, "userCode", RATIO),
    (None, "held", RATIO),
    (None, "retriedShare", RATIO),
    (None, "kind", TEXT),
    (None, "execution", TEXT),
    (None, "childExecution", TEXT),
    (None, "lifecycle", TEXT),  # reports written before the `absent` block said it here
    (None, SKETCH, TEXT),  # a run's durations of a category (results/sketch.py), checked as a sketch
)
# What a list under each key holds; a list under any other key is not part of a report (a reader refuses it).
# NAMED_MAPS: single-key maps, as the RFC writes nodes; DOCUMENTS: runs, each a report body of its own;
# LEAVES: values of the key's FIELD_KIND.
NAMED_MAPS, DOCUMENTS, LEAVES = "named maps", "documents", "leaves"
LISTS: Mapping[str, str] = {"nodes": NAMED_MAPS, "runs": DOCUMENTS, "warnings": LEAVES}
LIST_OF_MAPS = frozenset(k for k, held in LISTS.items() if held == NAMED_MAPS)
# How deep a report may nest, counting the root and the leaf (a node's segment in a run is 9 deep).
MAX_DEPTH = 32


def field_kind(path: Sequence[str]) -> str:
    """DURATION, RATIO, COUNT or TEXT for the leaf at `path` (keys from the document root)."""
    leaf = path[-1] if path else ""
    for parent, key, kind in FIELD_KIND:
        # a block's key may be the leaf itself: `warnings` is a list of text
        if (parent is None or parent in path) and (key is None or key == leaf):
            return kind
    return DURATION


def flatten(doc: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Leaves by path; node lists become path steps by node id; other lists stay leaves."""
    out: dict[tuple[str, ...], Any] = {}
    for k, v in doc.items():
        path = (*prefix, str(k))
        if isinstance(v, Mapping):
            out.update(flatten(v, path))
        elif k in LIST_OF_MAPS and isinstance(v, list):
            for item in v:
                out.update(flatten(item, path))
        else:
            out[path] = v
    return out


def unflatten(flat: Iterable[tuple[tuple[str, ...], Any]] | Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """The inverse of flatten (order of first appearance kept)."""
    items = flat.items() if isinstance(flat, Mapping) else flat
    root: dict[str, Any] = {}
    for path, v in items:
        d = root
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = v
    return _relist(root)


def _relist(d: dict[str, Any]) -> dict[str, Any]:
    for k, v in d.items():
        if isinstance(v, dict):
            d[k] = [{nid: _relist(sub)} for nid, sub in v.items()] if k in LIST_OF_MAPS else _relist(v)
    return d


def map_leaves(doc: Any, leaf: Callable[[Sequence[str], Any], Any], path: tuple[str, ...] = ()) -> Any:
    """The document with every leaf replaced by ``leaf(path, value)``; lists of values are leaves one by one,
    each run under ``runs`` is a document of its own."""
    if isinstance(doc, Mapping):
        return {k: map_leaves(v, leaf, (*path, str(k))) for k, v in doc.items()}
    if isinstance(doc, list):
        if path and path[-1] in LIST_OF_MAPS:
            return [map_leaves(item, leaf, path) for item in doc]
        if path and path[-1] == "runs":
            return [map_leaves(item, leaf, ()) for item in doc]
        return [leaf(path, item) for item in doc]
    return leaf(path, doc)
