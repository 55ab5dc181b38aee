"""The fold, the trace statistics and the execution listing as JSON or YAML documents (the same content as the
text forms)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from analyzer.clock import moment
from analyzer.render import fold_text
from analyzer.render.yaml_text import dump_yaml
from analyzer.results.fold import Fold, FoldView
from analyzer.results.listing import ExecutionSummary

if TYPE_CHECKING:
    import pandas as pd

_PLAIN = FoldView()

__all__ = [
    "dump",
    "fold_document",
    "list_document",
    "render_fold",
    "render_list",
    "render_stats",
    "stats_document",
]


def fold_document(fold: Fold, view: FoldView = _PLAIN) -> dict[str, Any]:
    """Execution id, warnings, the total and one mapping per fold line (times in ns since the epoch, durations in
    ns; with the view's ids, each line's trace and span id and link)."""
    ex = fold.execution
    return {
        "execution": ex.exec_id,
        "start_ns": ex.start_ns,
        "spans": len(ex),
        "warnings": list(ex.warnings),
        "total": fold_text.total_record(fold),
        "lines": list(fold_text.records(fold, view)),
    }


def stats_document(stats: pd.DataFrame) -> dict[str, Any]:
    """Group-by key and one mapping per group (durations in ns, percent of the trace's duration)."""
    groups = {
        str(key): {col: (int(v) if col == "count" else round(float(v), 3)) for col, v in row.items()}
        for key, row in stats.iterrows()
    }
    return {"group_by": stats.index.name, "unit": "ns", "groups": groups}


def list_document(executions: Sequence[ExecutionSummary]) -> dict[str, Any]:
    """One mapping per execution, newest first: start as ISO 8601 in UTC (to the microsecond) and exactly in
    ns since the epoch, duration in ns, spans (null where the backend does not say), where (a list)."""
    return {
        "executions": [
            {
                "exec_id": e.exec_id,
                "workflow": e.workflow,
                "start": moment(e.start_ns, UTC).isoformat(),
                "start_ns": e.start_ns,
                "duration_ns": e.duration_ns,
                "spans": e.spans,
                "where": list(e.where),
            }
            for e in executions
        ]
    }


def render_list(executions: Sequence[ExecutionSummary], fmt: str) -> str:
    """The execution listing as a ``json`` or ``yaml`` document."""
    return dump(list_document(executions), fmt)


def render_fold(fold: Fold, fmt: str, view: FoldView = _PLAIN) -> str:
    """The fold as a ``json`` or ``yaml`` document (times in ns: the view's clock is the text form's)."""
    return dump(fold_document(fold, view), fmt)


def render_stats(stats: pd.DataFrame, fmt: str) -> str:
    """The trace statistics as a ``json`` or ``yaml`` document."""
    return dump(stats_document(stats), fmt)


def dump(document: dict[str, Any], fmt: str) -> str:
    """``json`` (indented) or ``yaml`` (block style, keys in insertion order, no aliases)."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return dump_yaml(document)
