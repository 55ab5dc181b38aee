"""`otel-fold [fold] EXECUTION_ID`: an execution's spans as a fold, or its self-time statistics (--stats BY)."""

from __future__ import annotations

import argparse
import logging
import sys

from analyzer import source
from analyzer.errors import AnalyzerError
from analyzer.execution import Execution, stitch
from analyzer.reduce.fold import DEFAULT_COLLAPSE, fold
from analyzer.reduce.segments import node_timelines
from analyzer.reduce.self_time import statistics
from analyzer.render import fold_text, stats_text, structured, timeline, waterfall
from analyzer.source.executions import child_executions

HELP = "an execution's spans, one line each (the fold), or its self-time statistics"
log = logging.getLogger("analyzer")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The execution id, the source flags, and how to show it."""
    parser.add_argument(
        "exec_id", nargs="?", metavar="EXECUTION_ID", help="optional with --file: then every span"
    )
    source.add_arguments(parser)
    show = parser.add_argument_group("what to print")
    show.add_argument("--format", choices=("text", *structured.FORMATS), default="text")
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
        "--node",
        metavar="ID",
        help="only spans of node ID (and nested nodes), their ancestors and descendants",
    )
    show.add_argument("--timeline", metavar="PATH", help="draw the node timeline to PATH (.svg or .html)")
    show.add_argument(
        "--waterfall", metavar="PATH", help="draw rounds, streaks, operations to PATH (.svg or .html)"
    )


def run(args: argparse.Namespace) -> int:
    """Fetch, stitch, reduce, render to stdout; warnings to stderr."""
    src = source.from_args(args)
    ex = load_execution(args, src)
    for warning in ex.warnings:
        log.warning("warning: %s", warning)
    if args.timeline or args.waterfall:  # pictures instead of text
        if args.timeline:
            tl = node_timelines(ex.table, child_executions(src, ex.table, args.exec_id))
            for warning in tl.warnings:
                log.warning("warning: %s", warning)
            timeline.write(tl, args.timeline)
        if args.waterfall:
            waterfall.write(
                fold(ex, collapse=args.collapse, max_depth=args.depth, node=args.node), args.waterfall
            )
        return 0
    if args.stats:
        stats = statistics(ex, args.stats)
        out = (
            stats_text.render(stats)
            if args.format == "text"
            else structured.dump(structured.stats_document(stats), args.format)
        )
        sys.stdout.write(out)
        return 0
    lines = fold(ex, collapse=args.collapse, max_depth=args.depth, node=args.node)
    if args.format == "text":
        sys.stdout.writelines(line + "\n" for line in fold_text.lines(lines))
    else:
        sys.stdout.write(structured.dump(structured.fold_document(lines), args.format))
    return 0


def load_execution(args: argparse.Namespace, src: source.Source) -> Execution:
    """The stitched execution the flags name, from `src` (the source the flags name)."""
    if not args.exec_id and not args.file:
        raise AnalyzerError("an execution id is required (or --file PATH to read every span of one file)")
    return stitch(src.execution(args.exec_id), args.exec_id)
