"""Which renderer formats which result, by format name: the one table the command line picks renderers from.

Every renderer is a function from one reduction's result to text (``result -> str``): the fold, the trace
statistics, the node timeline (with its critical path), the waterfall, the report document, the diffs and
the execution listing. A picture's format is its file's suffix. Adding a format is one row here and one module.

The table names each renderer's module rather than importing it: renderers import pandas, numpy and yaml, and
the command line offers the formats (``--format``'s choices) before it knows whether it will render at all. A
renderer's module is imported when the renderer is picked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from analyzer.errors import AnalyzerError

__all__ = ["RENDERERS", "Renderer", "RendererName", "formats", "picture_renderer", "renderer"]

Renderer = Callable[[Any], str]  # a reduction's result -> the text written out


class RendererName(NamedTuple):
    """A renderer by name: `function` of `analyzer.render.<module>`, given ``fmt=fmt`` when `fmt` is set."""

    module: str
    function: str
    fmt: str | None = None

    def load(self, **options: Any) -> Renderer:
        """The renderer itself, its module imported, given `options` (e.g. the fold's ``view``)."""
        render: Callable[..., str] = getattr(
            importlib.import_module(f"analyzer.render.{self.module}"), self.function
        )
        given = {**({"fmt": self.fmt} if self.fmt is not None else {}), **options}
        return partial(render, **given) if given else render


# result -> format -> the renderer, by name; a result's first format is its default.
RENDERERS: Mapping[str, Mapping[str, RendererName]] = {
    "fold": {
        "text": RendererName("fold_text", "render"),
        "json": RendererName("structured", "render_fold", fmt="json"),
        "yaml": RendererName("structured", "render_fold", fmt="yaml"),
    },
    "stats": {
        "text": RendererName("stats_text", "render"),
        "json": RendererName("structured", "render_stats", fmt="json"),
        "yaml": RendererName("structured", "render_stats", fmt="yaml"),
    },
    "timeline": {"svg": RendererName("timeline", "svg_text"), "html": RendererName("timeline", "html_text")},
    "waterfall": {
        "svg": RendererName("waterfall", "svg_text"),
        "html": RendererName("waterfall", "html_text"),
    },
    "report": {
        "yaml": RendererName("report_yaml", "render_yaml"),
        "json": RendererName("report_yaml", "render_json"),
    },
    "diff": {"text": RendererName("diff_text", "render_diffs")},
    "list": {
        "text": RendererName("list_text", "render"),
        "json": RendererName("structured", "render_list", fmt="json"),
        "yaml": RendererName("structured", "render_list", fmt="yaml"),
    },
}


def formats(result: str) -> tuple[str, ...]:
    """The formats a result can be written in, the default first."""
    return tuple(RENDERERS[result])


def renderer(result: str, fmt: str, **options: Any) -> Renderer:
    """The renderer of `result` as `fmt`, given `options` as keywords (pyinstrument's renderers take theirs when
    made); AnalyzerError naming the choices when there is none."""
    by_format = RENDERERS[result]
    if fmt not in by_format:
        raise AnalyzerError(f"the {result} is written as {' or '.join(by_format)}, not {fmt!r}")
    return by_format[fmt].load(**options)


def picture_renderer(result: str, path: str | Path) -> Renderer:
    """The renderer of a picture for the file `path`, chosen by its suffix (checked before any work is done)."""
    suffix = Path(path).suffix.lower()
    by_format = RENDERERS[result]
    if suffix[1:] not in by_format:
        shown = " or ".join(f".{f}" for f in by_format)
        raise AnalyzerError(f"{path}: the {result} is written as {shown}, not {suffix or 'no suffix'!r}")
    return by_format[suffix[1:]].load()
