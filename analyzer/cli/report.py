"""`otel-fold report EXECUTION_ID... [--name NAME]`: the YAML (or JSON) report of one or several runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from analyzer import source
from analyzer.errors import AnalyzerError
from analyzer.reduce.report import report, run_report
from analyzer.reduce.segments import node_timelines
from analyzer.render.report_yaml import render_json, render_yaml
from analyzer.source import config
from analyzer.source.executions import child_executions, execution_table
from analyzer.source.flyteadmin import FlyteAdminMetrics, merge

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
    src, admin = source.from_args(args), admin_metrics(args)
    runs = [execution_report(src, exec_id, admin) for exec_id in args.exec_ids]
    write_document(report(runs, args.name), args, "report")
    return 0


def write_document(doc: dict[str, Any], args: argparse.Namespace, what: str) -> None:
    """Render a report-shaped document as YAML (or JSON with --json) to --output, else to stdout."""
    text = render_json(doc) if args.json else render_yaml(doc)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as e:
            raise AnalyzerError(f"{args.output}: cannot write the {what} ({e.strerror})") from None
    else:
        sys.stdout.write(text)


def execution_report(
    src: source.Source, exec_id: str, admin: FlyteAdminMetrics | None = None
) -> dict[str, Any]:
    """One run's report from a source, its launch plans' children included (also used by `otel-fold bench`).

    With `admin`, a trace without lifecycle records (upstream dialect) gets its node segments from FlyteAdmin.
    """
    table = execution_table(src, exec_id)
    tl = node_timelines(table, child_executions(src, table, exec_id))
    if admin is not None and not tl.lifecycle:
        tl = merge(tl, admin.timeline(exec_id))
    return run_report(table, timeline=tl)


def admin_metrics(args: argparse.Namespace) -> FlyteAdminMetrics | None:
    """FlyteAdmin's execution metrics when --admin-url (or OTEL_FOLD_ADMIN_URL, or the config file) names it."""
    cfg = config.from_args(args)
    return FlyteAdminMetrics(cfg) if cfg.admin_url else None
