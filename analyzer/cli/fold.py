"""`otel-fold [fold] EXECUTION_ID`: an execution's spans as a fold, or its self-time statistics (--stats BY)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from analyzer import source
from analyzer.cli.output import emit
from analyzer.clock import LOCAL, TIME_FORMATS, UTC, Clock
from analyzer.errors import AnalyzerError
from analyzer.reduce.defaults import DEFAULT_COLLAPSE
from analyzer.render.formats import formats, picture_renderer, renderer

if TYPE_CHECKING:
    from analyzer.execution import Execution

__all__ = ["HELP", "SHORTHAND", "add_arguments", "load_execution", "run"]

# The subcommand's one line in `otel-fold --help`.
HELP = "an execution's spans, one line each (the fold), or its self-time statistics"
# The end of `otel-fold fold --help`: the shorthand (`otel-fold --help` says it too, without importing this).
SHORTHAND = (
    "fold is the default command: `otel-fold EXECUTION_ID [flags]` is short for "
    "`otel-fold fold EXECUTION_ID [flags]`."
)
log = logging.getLogger("analyzer")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The execution id, the source flags, and how to show it."""
    parser.epilog = SHORTHAND
    parser.add_argument(
        "exec_id", nargs="?", metavar="EXECUTION_ID", help="optional with --file: then every span"
    )
    source.add_arguments(parser)
    show = parser.add_argument_group("what to print")
    show.add_argument("--format", choices=formats("fold"), default=formats("fold")[0])
    show.add_argument(
        "--stats", metavar="BY", help="self-time statistics by service, name, category or an attribute"
    )
    show.add_argument(
        "--collapse",
        type=_count,
        default=DEFAULT_COLLAPSE,
        metavar="N",
        help=f"more than N consecutive alike siblings become one line (default {DEFAULT_COLLAPSE}; 0: never)",
    )
    show.add_argument("--depth", type=_count, metavar="N", help="show N levels only")
    show.add_argument(
        "--time-format",
        choices=tuple(TIME_FORMATS),
        default=next(iter(TIME_FORMATS)),
        help="the Timestamp column: " + "; ".join(f"{k}: {v}" for k, v in TIME_FORMATS.items()),
    )
    show.add_argument(
        "--tz",
        default=UTC,
        metavar="ZONE",
        help=f"time zone of the timestamps: {UTC} (default), {LOCAL} (this machine's), or an IANA name such as "
        "Europe/Paris; each time at its own offset (daylight saving time)",
    )
    show.add_argument(
        "--ids",
        action="store_true",
        help="end each line with its span's trace and span id, and with --backend tempo or jaeger (over HTTP) "
        "a link to the trace in that backend (Jaeger UI: the span picked out)",
    )
    show.add_argument(
        "--node",
        metavar="ID",
        help="only spans of node ID (and nested nodes), their ancestors and descendants",
    )
    for picture, (what, _) in _PICTURES.items():
        show.add_argument(f"--{picture}", metavar="PATH", help=f"draw {what} to PATH (.svg or .html)")


def run(args: argparse.Namespace) -> int:
    """Fetch, stitch, reduce, render; warnings to stderr. Renderers are chosen before anything is fetched."""
    pictures = [(p, path, picture_renderer(p, path)) for p in _PICTURES if (path := getattr(args, p))]
    clock = Clock.named(args.time_format, args.tz)  # a bad zone is told before anything is fetched
    src = source.from_args(args)
    text = renderer("stats", args.format) if args.stats else _fold_renderer(args, src, clock)
    ex = load_execution(args, src)
    _warn(ex.warnings)
    if pictures:  # pictures instead of text
        for picture, path, render in pictures:
            emit(render(_PICTURES[picture][1](args, src, ex)), path, picture)
        return 0
    if args.stats:
        emit(text(_statistics(args, src, ex)), None, "statistics")
    else:
        emit(text(_fold(args, src, ex)), None, "fold")
    return 0


def _fold_renderer(args: argparse.Namespace, src: source.Source, clock: Clock) -> Callable[[Any], str]:
    from analyzer.results.fold import FoldView

    view = FoldView(clock, args.ids, src.trace_link() if args.ids else None)
    return renderer("fold", args.format, view=view)


def load_execution(args: argparse.Namespace, src: source.Source) -> Execution:
    """The stitched execution the flags name, from `src` (the source the flags name)."""
    from analyzer.execution import stitch
    from analyzer.source.executions import named_execution

    if not args.exec_id and not args.file:
        raise AnalyzerError("an execution id is required (or --file PATH to read every span of one file)")
    table = named_execution(src, args.exec_id) if args.exec_id else src.execution(args.exec_id)
    return stitch(table, args.exec_id)


def _fold(args: argparse.Namespace, src: source.Source, ex: Execution) -> Any:
    from analyzer.reduce.fold import fold

    return fold(ex, collapse=args.collapse, max_depth=args.depth, node=args.node)


def _statistics(args: argparse.Namespace, src: source.Source, ex: Execution) -> Any:
    from analyzer.reduce.self_time import statistics  # pandas: the fold itself does without it

    return statistics(ex, args.stats)


def _timeline(args: argparse.Namespace, src: source.Source, ex: Execution) -> Any:
    from analyzer.reduce.critical_path import timeline_view
    from analyzer.reduce.segments import node_timelines
    from analyzer.source.executions import child_executions

    tl = node_timelines(ex.table, child_executions(src, ex.table, args.exec_id))
    _warn(tl.warnings)
    return timeline_view(tl)


def _warn(warnings: Iterable[str]) -> None:
    for warning in warnings:
        log.warning("warning: %s", warning)


# picture flag -> (what it draws, for --help; the reduction its renderer is given)
_PICTURES: dict[str, tuple[str, Callable[[argparse.Namespace, source.Source, Execution], Any]]] = {
    "timeline": ("the node timeline", _timeline),
    "waterfall": ("rounds, streaks, operations", _fold),
}
