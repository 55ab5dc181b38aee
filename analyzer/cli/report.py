"""`otel-fold report EXECUTION_ID... [--name NAME]`: the YAML (or JSON) report of one or several runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from analyzer import source
from analyzer.cli.output import emit
from analyzer.render.formats import renderer
from analyzer.source import config

if TYPE_CHECKING:
    from analyzer.source.flyteadmin import FlyteAdmin

__all__ = ["HELP", "add_arguments", "admin_source", "execution_report", "run", "write_document"]

# The subcommand's one line in `otel-fold --help`.
HELP = "the report of one or several executions (several runs of one benchmark are kept as samples)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Execution ids, the report's name and format, and the source flags."""
    parser.add_argument(
        "exec_ids", nargs="+", metavar="EXECUTION_ID", help="one or several runs of one benchmark"
    )
    parser.add_argument(
        "--name", help="key the report flyte.benchmark.NAME (default: the first execution id)"
    )
    parser.add_argument("--json", action="store_true", help="JSON with exact nanoseconds instead of YAML")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    source.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Fetch every execution (and its launch plans' children, and FlyteAdmin's metrics if asked), reduce, render."""
    from analyzer.reduce.report import report

    src, admin = source.from_args(args), admin_source(args)
    runs = [execution_report(src, exec_id, admin) for exec_id in args.exec_ids]
    write_document(report(runs, args.name), args, "report")
    return 0


def write_document(doc: dict[str, Any], args: argparse.Namespace, what: str) -> None:
    """Render a report-shaped document as YAML (or JSON with --json) to --output, else to stdout."""
    emit(renderer("report", "json" if args.json else "yaml")(doc), args.output, what)


def execution_report(
    src: source.Source, exec_id: str, admin: FlyteAdmin | None = None, *, sketches: bool = False
) -> dict[str, Any]:
    """One run's report (also `otel-fold bench`'s, with `sketches`): everything is fetched first (its spans, its
    launch plans' children, and FlyteAdmin's segments when the trace has no lifecycle records), then reduced once."""
    from analyzer.reduce.report import run_report
    from analyzer.reduce.segments import has_lifecycle
    from analyzer.source.executions import child_executions, execution_table

    table = execution_table(src, exec_id)
    children = child_executions(src, table, exec_id)
    segments = admin.execution(exec_id) if admin is not None and not has_lifecycle(table) else None
    return run_report(table, children, segments, sketches=sketches)


def admin_source(args: argparse.Namespace) -> FlyteAdmin | None:
    """FlyteAdmin when --admin-config or --admin-url (or OTEL_FOLD_ADMIN_*, or the config file) names it."""
    from analyzer.source.flyteadmin import FlyteAdmin

    cfg = config.from_args(args)
    return FlyteAdmin(cfg) if cfg.admin_config or cfg.admin_url else None
