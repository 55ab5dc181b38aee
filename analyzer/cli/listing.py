"""`otel-fold list`: the executions a store, a file or a backend holds (in the window), newest first.

Parsing the flags imports nothing heavy: the sources and the renderers (pandas and all) are imported by `run`.
"""

from __future__ import annotations

import argparse

__all__ = ["FORMATS", "HELP", "add_arguments", "run"]

# The subcommand's one line in `otel-fold --help`.
HELP = "the executions a store, a file or a backend holds, newest first: id, workflow, start, duration, spans"
FORMATS = ("text", "json", "yaml")  # render.formats.RENDERERS["list"]'s, checked by the tests


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The source flags and the output format."""
    from analyzer import source

    source.add_arguments(parser)
    show = parser.add_argument_group("what to print")
    show.add_argument("--format", choices=FORMATS, default=FORMATS[0], help="json or yaml for scripts")


def run(args: argparse.Namespace) -> int:
    """List, render, print."""
    from analyzer import source
    from analyzer.cli.output import emit
    from analyzer.render.formats import renderer

    render = renderer("list", args.format)
    emit(render(source.from_args(args).executions()), None, "listing")
    return 0
