"""`otel-fold`: the command line. Each subcommand is a module of this package, listed in COMMANDS.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
``otel-fold <execution-id> ...`` with no subcommand means ``otel-fold fold <execution-id> ...``.

Every subcommand module is imported to build the parser for `--version` and `--help` (a command line naming
its subcommand builds that one's only), so they cost what the modules' top-level imports cost. At its top a subcommand module imports only what its flags need: the standard library
and modules that import nothing heavy (analyzer.errors, analyzer.cli.output, analyzer.source and
analyzer.source.config for the source flags, analyzer.reduce.defaults, analyzer.render.formats, the constants
of analyzer.collect.connections). Whatever the work needs (decoders, reductions, the receiver; pandas, numpy,
pyarrow, scipy, grpc, yaml, tqdm, the OpenTelemetry SDK) is imported inside `run` or the function that uses
it. tests/analyzer/cli/test_import_set.py holds every subcommand in COMMANDS to this.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from analyzer import __version__
from analyzer.errors import AnalyzerError
from analyzer.safe_text import printable

__all__ = ["COMMANDS", "DEFAULT_COMMAND", "build_parser", "console", "main"]

# name -> module under analyzer.cli; the first is the default.
COMMANDS: dict[str, str] = {
    "fold": "analyzer.cli.fold",
    "list": "analyzer.cli.listing",  # a submodule `list` would shadow the builtin in this package
    "report": "analyzer.cli.report",
    "diff": "analyzer.cli.diff",
    "collect": "analyzer.cli.collect",
    "bench": "analyzer.cli.bench",
    "demo": "analyzer.cli.demo",
}
DEFAULT_COMMAND = "fold"
# Subcommands whose work ends with what they print: their process ends without the interpreter's teardown,
# which frees every module and object (~50 ms of a fold, measured), as mypy's hard_exit does
# (python/mypy mypy/util.py: "faster than a normal exit() since objects are not freed").
_QUICK_EXIT = frozenset({"fold"})
# The analyzer's own dependencies, the `analyzer` extra: a task image installs flyte-otel without them.
_EXTRA_MODULES = frozenset({"pandas", "numpy", "pyarrow", "orjson", "msgspec", "yaml", "scipy", "tqdm"})


def _available(names: Iterable[str]) -> dict[str, Any]:
    mods = {}
    for name in names:
        path = COMMANDS[name]
        try:
            mods[name] = importlib.import_module(path)
        except ModuleNotFoundError as e:  # a subcommand still being built is simply not offered
            if e.name != path:
                raise
    return mods


def build_parser(commands: Iterable[str] = COMMANDS) -> argparse.ArgumentParser:
    """The `otel-fold` parser: global flags and one subparser per available subcommand (of `commands`: a
    command line that names its subcommand needs only that one's module and flags)."""
    parser = argparse.ArgumentParser(
        prog="otel-fold",
        description="Where did the time go in a Flyte execution?",
        epilog="`otel-fold EXECUTION_ID [flags]` is short for `otel-fold fold EXECUTION_ID [flags]` "
        "(fold is the default command; `otel-fold fold --help` lists its flags).",
    )
    parser.add_argument("--version", action="version", version=f"otel-fold {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in _available(commands).items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `otel-fold`; returns the exit code (0 ok, 1 not found, 2 bad input, 3 backend)."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in _EXTRA_MODULES:
            raise
        print(
            f"otel-fold: the analyzer needs {e.name}, which is not installed: pip install 'flyte-otel[analyzer]'",
            file=sys.stderr,
        )
        return 2


def console() -> NoReturn:
    """The `otel-fold` program (its console script, ``python -m analyzer``): `main`, then exit with its code."""
    # numpy's OpenBLAS starts a thread per core at import that spins while it waits: the analyzer does no linear
    # algebra, and on a 2-core machine those threads cost a fold ~0.1 s of CPU (measured). A user's setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    argv = sys.argv[1:]
    code = main(argv)
    if _command(argv) in _QUICK_EXIT:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError):  # a reader that went away (| head) was answered by main
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand a command line runs (the default one when it names none); None for --help and
    --version, or no arguments."""
    if not argv or argv[0] in ("-h", "--help", "--version"):
        return None
    return argv[0] if argv[0] in COMMANDS else DEFAULT_COMMAND


class _InertFormatter(logging.Formatter):
    """Log lines (warnings quote span names, node ids, files) with control characters shown escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def _main(args_list: list[str]) -> int:
    command = _command(args_list)
    if command is not None and args_list[0] != command:
        args_list.insert(0, command)
    parser = build_parser(COMMANDS if command is None else [command])
    args = parser.parse_args(args_list)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 2
    handler = logging.StreamHandler()
    handler.setFormatter(_InertFormatter("otel-fold: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, handlers=[handler])
    try:
        return int(args._run(args))
    except AnalyzerError as e:
        if args.debug:
            raise
        print(f"otel-fold: {printable(str(e))}", file=sys.stderr)  # messages may quote trace content
        return e.exit_code
    except KeyboardInterrupt:
        print("otel-fold: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    console()
