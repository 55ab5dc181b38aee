"""`otel-fold bench [WORKFLOW...]`: run the portfolio N times each, serially, and write one benchmark YAML.

The executor is the propeller simulator (default: virtual clock, traces into the local store through
flyte_otel's file exporter) or, with --remote CONFIG, a real Flyte cluster through flytekit's FlyteRemote
(register, launch, wait), whose traces are then fetched from the backend the source flags name. Each run
becomes a report (analyzer.cli.report's), each workflow one ``flyte.benchmark.<workflow>`` entry with its
runs kept as samples.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from pathlib import Path
from typing import Any, Protocol

from analyzer import progress, source
from analyzer.cli.report import execution_report, write_document
from analyzer.errors import AnalyzerError, BackendError, DecodeError
from analyzer.store.files import default_store

__all__ = ["HELP", "add_arguments", "bench", "require_flytekit", "run"]

# The subcommand's one line in `otel-fold --help`.
HELP = "run portfolio workflows N times each (simulator, or a Flyte cluster) and write one benchmark YAML"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Which workflows, how often, on which executor, and where the YAML goes."""
    from propeller_sim.dialects import DIALECTS
    from propeller_sim.portfolio import BY_NAME

    parser.add_argument("workflows", nargs="*", metavar="WORKFLOW",
                        help=f"portfolio workflows (default all): {', '.join(BY_NAME)}")  # fmt: skip
    parser.add_argument(
        "-n", "--runs", type=_positive, default=3, help="repetitions per workflow (default 3)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the YAML here instead of stdout")
    parser.add_argument("--json", action="store_true", help="JSON with exact nanoseconds instead of YAML")
    sim = parser.add_argument_group("simulator (the default executor)")
    sim.add_argument("--profile", default="default", help="latency profile: a YAML path or the name of one "
                     "shipped in propeller_sim/profiles (default: default)")  # fmt: skip
    sim.add_argument("--seed", type=int, default=0, help="seed of the latency draws (default 0)")
    sim.add_argument("--dialect", choices=tuple(DIALECTS), default="flyte_otel",
                     help="flyte_otel: one trace per execution with lifecycle records; upstream: FlytePropeller's")  # fmt: skip
    sim.add_argument("--clock", choices=("virtual", "real"), default="virtual",
                     help="virtual: instant and exact (default); real: operations take their latency in wall time")  # fmt: skip
    sim.add_argument(
        "--max-streak-length", type=_positive, default=8, help="propeller's max-streak-length (default 8)"
    )
    sim.add_argument(
        "--small", action="store_true", help="the local-run sizes (e.g. a 50-way map, not 5,000)"
    )
    remote = parser.add_argument_group(
        "a Flyte cluster instead (traces then come from the source flags below)"
    )
    remote.add_argument("--remote", metavar="CONFIG", help="flytekit config file (e.g. ~/.flyte/config.yaml); "
                        "--project/--domain default to flytesnacks/development")  # fmt: skip
    source.add_arguments(parser)


def require_flytekit() -> None:
    """The portfolio is flytekit code, an optional extra: without it, say how to install it, in one line."""
    try:
        importlib.import_module("flytekit")
    except ModuleNotFoundError as e:
        if e.name != "flytekit":
            raise
        raise AnalyzerError(
            "the portfolio workflows need flytekit: pip install 'flyte-otel[portfolio]'"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Run every workflow N times with a progress bar on stderr, then report them all in one document."""
    write_document(bench(args), args, "benchmark")
    return 0


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark document (``flyte.benchmark.<workflow>`` -> report over its runs) the flags ask for."""
    from analyzer.reduce.report import report
    from propeller_sim.portfolio import BY_NAME

    unknown = [w for w in args.workflows if w not in BY_NAME]
    if unknown:
        raise AnalyzerError(
            f"bench: no portfolio workflow {', '.join(unknown)} (there are: {', '.join(BY_NAME)})"
        )
    require_flytekit()
    entries = [BY_NAME[w] for w in (args.workflows or BY_NAME)]
    executor: _Executor = _Cluster(args) if args.remote else _Simulated(args)
    exec_ids: dict[str, list[str]] = {}
    with progress.bar(len(entries) * args.runs, "bench", "run") as bar:
        try:
            for e in entries:
                bar.set_postfix_str(e.name)
                for _ in range(args.runs):
                    exec_ids.setdefault(e.name, []).append(executor.run(e))
                    bar.update()
        finally:
            src = executor.finish()
    return {k: v for e in entries for k, v in report([execution_report(src, i, sketches=True) for i in exec_ids[e.name]],
                                                      e.name).items()}  # fmt: skip


class _Executor(Protocol):
    def run(self, entry: Any) -> str:
        """Execute one run of a portfolio entry to completion; its execution id."""
        ...

    def finish(self) -> source.Source:
        """Stop; where the runs' traces are read from."""
        ...


class _Simulated:
    """The propeller simulator, writing one trace file of its own into the local store."""

    def __init__(self, args: argparse.Namespace) -> None:
        from analyzer.framing import PROTO_SUFFIX
        from propeller_sim.clock import RealClock, VirtualClock
        from propeller_sim.engine import Simulator, configure
        from propeller_sim.profile import ProfileError, load_profile

        try:
            profile = load_profile(args.profile)
        except ProfileError as e:  # the simulator's own error; the CLI maps only AnalyzerErrors to exit codes
            raise DecodeError(str(e)) from None
        store = Path(args.store) if args.store else default_store()
        try:
            store.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AnalyzerError(f"{store}: cannot create the trace store ({e.strerror})") from None
        self.path = store / f"bench-{os.getpid()}-{time.time_ns()}{PROTO_SUFFIX}"
        # The file exporter's own batches (many spans a record, read fast): bounded, and nothing dropped.
        configure(args.dialect, exporter="file", path=self.path)
        clock = VirtualClock() if args.clock == "virtual" else RealClock()
        self._sim = Simulator(profile, seed=args.seed, clock=clock, dialect=args.dialect,
                              max_streak_length=args.max_streak_length)  # fmt: skip
        self._small = args.small
        self._plans: dict[str, Any] = {}

    def run(self, entry: Any) -> str:
        """One simulated execution."""
        plan = self._plans.get(entry.name)
        if plan is None:
            plan = self._plans[entry.name] = entry.plan(small=self._small)
        overrides = entry.local_inputs if self._small else None
        return self._sim.run(plan, failures=entry.sim_failures(overrides)).exec_id

    def finish(self) -> source.Source:
        """Flush the file and read it back once."""
        import flyte_otel as fo
        from analyzer.source.local import FileSource

        fo.shutdown()
        return FileSource(self.path)


class _Cluster:
    """A Flyte cluster through flytekit's FlyteRemote: register the workflow once, then launch and wait per run."""

    def __init__(self, args: argparse.Namespace) -> None:
        from flytekit.configuration import Config
        from flytekit.remote import FlyteRemote

        import propeller_sim

        self._args = args
        # flytekit's script mode uploads the loaded modules that lie under source_path: the directory
        # propeller_sim is imported from (from site-packages it uploads none; the task image must have it).
        self._source_root = str(Path(propeller_sim.__file__).resolve().parents[1])
        try:
            self._remote = FlyteRemote(Config.auto(config_file=args.remote),
                                       default_project=args.project or "flytesnacks",
                                       default_domain=args.domain or "development")  # fmt: skip
        except Exception as e:  # flytekit raises many types for a bad or unreachable config
            raise BackendError(f"flyte config {args.remote}: {type(e).__name__}: {e}") from None
        self._version = f"otel-fold-bench-{time.strftime('%Y%m%d%H%M%S')}"
        self._registered: dict[str, Any] = {}

    def run(self, entry: Any) -> str:
        """Register (first time), launch, wait; the execution id."""
        try:
            flyte_entity = self._registered.get(entry.name)
            if flyte_entity is None:
                flyte_entity = self._registered[entry.name] = self._remote.register_script(
                    entry.entity, version=self._version, source_path=self._source_root,
                    module_name=entry.module.__name__,
                )  # fmt: skip
            execution = self._remote.execute(flyte_entity, inputs=entry.inputs(), wait=True)
        except AnalyzerError:
            raise
        except Exception as e:
            raise BackendError(f"flyte cluster ({self._args.remote}), workflow {entry.name}: "
                               f"{type(e).__name__}: {e}") from None  # fmt: skip
        return str(execution.id.name)

    def finish(self) -> source.Source:
        """The backend the source flags name (Jaeger, Tempo, FlyteAdmin, a store)."""
        return source.from_args(self._args)
