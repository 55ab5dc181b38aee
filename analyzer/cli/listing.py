"""`otel-fold list`: the executions a store, a file or a backend holds (in the window), newest first."""

from __future__ import annotations

import argparse

from analyzer import source
from analyzer.cli.output import emit
from analyzer.render.formats import formats, renderer

__all__ = ["HELP", "add_arguments", "run"]

# The subcommand's one line in `otel-fold --help`.
HELP = "the executions a store, a file or a backend holds, newest first: id, workflow, start, duration, spans"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The source flags and the output format."""
    source.add_arguments(parser)
    show = parser.add_argument_group("what to print")
    show.add_argument(
        "--format", choices=formats("list"), default=formats("list")[0], help="json or yaml for scripts"
    )


def run(args: argparse.Namespace) -> int:
    """List, render, print (the renderer is picked before anything is read)."""
    render = renderer("list", args.format)
    emit(render(source.from_args(args).executions()), None, "listing")
    return 0
