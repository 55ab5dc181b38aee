"""Which renderer formats which result, by format name: the one table the command line picks renderers from.

Every renderer is a function from one reduction's result to text (``result -> str``): the fold, the trace
statistics, the node timeline (with its critical path), the waterfall, the report document, the diffs and
the execution listing. A picture's format is its file's suffix. Adding a format is one row here and one module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.render import (
    diff_text,
    fold_text,
    list_text,
    report_yaml,
    stats_text,
    structured,
    timeline,
    waterfall,
)

__all__ = ["RENDERERS", "Renderer", "formats", "picture_renderer", "renderer"]

Renderer = Callable[[Any], str]  # a reduction's result -> the text written out

# result -> format -> renderer; a result's first format is its default.
RENDERERS: Mapping[str, Mapping[str, Renderer]] = {
    "fold": {
        "text": fold_text.render,
        "json": partial(structured.render_fold, fmt="json"),
        "yaml": partial(structured.render_fold, fmt="yaml"),
    },
    "stats": {
        "text": stats_text.render,
        "json": partial(structured.render_stats, fmt="json"),
        "yaml": partial(structured.render_stats, fmt="yaml"),
    },
    "timeline": {"svg": timeline.svg_text, "html": timeline.html_text},
    "waterfall": {"svg": waterfall.svg_text, "html": waterfall.html_text},
    "report": {"yaml": report_yaml.render_yaml, "json": report_yaml.render_json},
    "diff": {"text": diff_text.render_diffs},
    "list": {
        "text": list_text.render,
        "json": partial(structured.render_list, fmt="json"),
        "yaml": partial(structured.render_list, fmt="yaml"),
    },
}


def formats(result: str) -> tuple[str, ...]:
    """The formats a result can be written in, the default first."""
    return tuple(RENDERERS[result])


def renderer(result: str, fmt: str) -> Renderer:
    """The renderer of `result` as `fmt`; AnalyzerError naming the choices when there is none."""
    by_format = RENDERERS[result]
    if fmt not in by_format:
        raise AnalyzerError(f"the {result} is written as {' or '.join(by_format)}, not {fmt!r}")
    return by_format[fmt]


def picture_renderer(result: str, path: str | Path) -> Renderer:
    """The renderer of a picture for the file `path`, chosen by its suffix (checked before any work is done)."""
    suffix = Path(path).suffix.lower()
    by_format = RENDERERS[result]
    if suffix[1:] not in by_format:
        shown = " or ".join(f".{f}" for f in by_format)
        raise AnalyzerError(f"{path}: the {result} is written as {shown}, not {suffix or 'no suffix'!r}")
    return by_format[suffix[1:]]
