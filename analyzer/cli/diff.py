"""`otel-fold diff BASE NEW`: two reports compared, signed deltas, and whether each change beats the noise.

A benchmark file holds one entry per workflow: entries are matched by key, one on one side only is added/removed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from analyzer.cli.output import emit
from analyzer.errors import AnalyzerError, NotFound
from analyzer.reduce.defaults import DEFAULT_LEVEL, DEFAULT_NOISE
from analyzer.render.formats import renderer

__all__ = ["HELP", "add_arguments", "run"]

# The subcommand's one line in `otel-fold --help`.
HELP = "compare two reports or benchmark files (YAML or JSON): signed deltas; with several runs, significance"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), e.g. 0.05, not {value}")
    return value


def _level(text: str) -> float:
    value = _fraction(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be above 0, e.g. 0.05")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The two report files and the significance settings."""
    parser.add_argument("base", metavar="BASE", help="the report to compare against")
    parser.add_argument("new", metavar="NEW", help="the report being judged")
    parser.add_argument(
        "--noise",
        type=_fraction,
        default=DEFAULT_NOISE,
        help=f"noise band around a ratio of 1 (default {DEFAULT_NOISE}: ±{DEFAULT_NOISE * 100:.0f}%%)",
    )
    parser.add_argument(
        "--level",
        type=_level,
        default=DEFAULT_LEVEL,
        help=f"false discovery rate over all the diff's values, Benjamini-Yekutieli (default {DEFAULT_LEVEL}: "
        "two benchmarks of one profile flag something in about 1 diff in 100)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    parser.add_argument(
        "--only-changes",
        action="store_true",
        help="print only regressed/improved values (any change when not assessed) and added/removed ones, "
        "then one line: values tested, flagged, too few runs",
    )


def run(args: argparse.Namespace) -> int:
    """Read both reports, diff, print."""
    from analyzer.reduce.diff import diff_documents, notable, summary
    from analyzer.render.diff_text import render_summary

    base, new = _read(args.base), _read(args.new)
    diffs = diff_documents(base, new, noise=args.noise, level=args.level, seed=args.seed)
    if not args.only_changes:
        emit(renderer("diff", "text")(diffs), None, "diff")
        return 0
    text = renderer("diff", "text")([notable(d) for d in diffs]) + render_summary(*summary(diffs))
    emit(text, None, "diff")
    return 0


def _read(path: str) -> dict[str, Any]:
    from analyzer.decode.report import decode_report

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such report file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnalyzerError(f"{path}: cannot read ({e})") from None
    return decode_report(text, path)
