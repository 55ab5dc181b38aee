"""Where an execution's spans come from: the Source protocol and the table of backends that provide it.

A backend is one entry of BACKENDS: a factory from the parsed command line to a Source. Adding a backend
is adding a row (and its flags), never an ``if``. A factory imports its backend's module when it is called:
the flags are added (and `otel-fold --help` printed) without the decoders, pandas or numpy.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from analyzer.errors import AnalyzerError
from analyzer.source import config
from analyzer.store.files import STORE_ENV

if TYPE_CHECKING:
    from analyzer.results.listing import ExecutionSummary
    from analyzer.table import SpanTable

__all__ = ["BACKENDS", "Source", "add_arguments", "from_args"]


class Source(Protocol):
    """Anything that can hand over one execution's spans, and list the executions it holds."""

    def execution(self, exec_id: str) -> SpanTable:
        """All spans of all traces of that execution, each trace whole; NotFound (saying what was searched) if none."""
        ...

    def trace_link(self) -> str | None:
        """A str.format template of the URL of a trace's page at the backend ({trace_id}, {span_id}), None if
        it has none (a local file, Jaeger over gRPC)."""
        ...

    def executions(self) -> list[ExecutionSummary]:
        """Every execution it holds (a backend: in the window), newest first; NotFound (saying what was
        searched) if none."""
        ...


def _store(args: argparse.Namespace) -> Source:
    from analyzer.source.local import StoreSource

    return StoreSource(args.store)


def _file(args: argparse.Namespace) -> Source:
    from analyzer.source.local import FileSource

    return FileSource(args.file)


def _tempo(args: argparse.Namespace) -> Source:
    from analyzer.source.tempo import TempoSource

    return TempoSource(config.from_args(args))


def _jaeger(args: argparse.Namespace) -> Source:
    from analyzer.source.jaeger import JaegerSource

    return JaegerSource(config.from_args(args))


# Backend name -> the Source it builds from the parsed command line.
BACKENDS: dict[str, Callable[[argparse.Namespace], Source]] = {
    "store": _store,
    "file": _file,
    "tempo": _tempo,
    "jaeger": _jaeger,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that choose a source: --backend, --file, --store, and --url/--since/--start/--end for remote ones."""
    group = parser.add_argument_group("where the spans come from")
    group.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default=None,
        help="default: file when --file is given, else store",
    )
    group.add_argument("--file", metavar="PATH", help="one payload of any supported format (auto-detected)")
    group.add_argument(
        "--store",
        metavar="DIR",
        help=f"local trace store directory (default ${STORE_ENV}, else $XDG_DATA_HOME/otel-fold/store, else ~/.local/share/otel-fold/store)",
    )
    group.add_argument("--url", help="base URL of a remote backend")
    group.add_argument(
        "--since", metavar="DURATION", help="remote search window: the last DURATION (e.g. 6h)"
    )
    group.add_argument(
        "--start", metavar="TIME", help="remote search window start (RFC 3339 or unix seconds)"
    )
    group.add_argument("--end", metavar="TIME", help="remote search window end (RFC 3339 or unix seconds)")
    config.add_arguments(parser, skip=("--backend", "--url", "--since", "--start", "--end"))


def from_args(args: argparse.Namespace) -> Source:
    """The Source the flags ask for."""
    explicit = "file" if args.file else "store" if args.store else None
    backend = args.backend or explicit or config.configured_backend(args) or "store"
    if backend not in BACKENDS:
        raise AnalyzerError(
            f"unknown backend {backend!r} (OTEL_FOLD_BACKEND or config file): one of {', '.join(BACKENDS)}"
        )
    return BACKENDS[backend](args)
