"""Start-up (issue 18): the modules each path of otel-fold loads, each in a fresh interpreter.

Building the parser (`--version`, `--help`, every subcommand's `--help`) loads none of the heavy packages. Folding an
execution from the store, its report and a diff of two reports load only what their work needs: never the
receiver's grpc, the progress bars' tqdm, the significance test's scipy (one run a side), the OpenTelemetry SDK
or its exporters, the simulator or flytekit. The program keeps numpy's BLAS from starting its threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from analyzer import framing
from analyzer.cli import COMMANDS, main
from flyte_otel.otlp_encode import encode_json
from propeller_sim.clock import VirtualClock
from propeller_sim.engine import Simulator, configure
from propeller_sim.portfolio import BY_NAME
from propeller_sim.profile import load_profile

# Top-level packages that take tens or hundreds of milliseconds to import: the parser needs none of them.
_HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "grpc",
    "google.protobuf",
    "opentelemetry",
    "tqdm",
    "msgspec",
    "orjson",
    "yaml",
    "flytekit",
)
# What reading traces and reports never needs (the decoders' opentelemetry.proto is not in it; the parser's
# `bench --help` reads the portfolio's names and the dialects', but not the simulator).
_NOT_FOR_READING = (
    "grpc",
    "scipy",
    "tqdm",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "propeller_sim.engine",
    "flytekit",
)
# Runs otel-fold's main in this interpreter, then writes its exit code and every module it loaded to argv[1].
_PROBE = """
import json, sys
from analyzer.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as e:
    code = e.code
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def _env(tmp_path: Path) -> dict[str, str]:
    """No settings file and no OTEL_FOLD_* variable: the flags alone decide."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_FOLD_")}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "config")}


def _loaded(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return [p for p in packages if any(m == p or m.startswith(f"{p}.") for m in modules)]


def _otel_fold(tmp_path: Path, argv: list[str]) -> list[str]:
    """The modules `otel-fold ARGV` loaded, in a fresh interpreter; it must have succeeded."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *argv],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(out.read_text(encoding="utf-8"))
    assert found["code"] in (0, None), done.stderr
    return list(found["modules"])


def test_building_the_parser_loads_no_heavy_module(tmp_path: Path) -> None:
    code = (
        "import analyzer.cli, json, sys; analyzer.cli.build_parser(); print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert _loaded(json.loads(done.stdout), _HEAVY) == []


@pytest.mark.parametrize(
    "module", ["analyzer.source.tempo", "analyzer.source.jaeger", "analyzer.render.structured"]
)
def test_the_backends_and_the_structured_fold_load_no_pandas(tmp_path: Path, module: str) -> None:
    """Folding from Tempo or Jaeger, or as JSON/YAML, needs no pandas on import: listings import it when they
    list."""
    code = f"import {module}, json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert _loaded(json.loads(done.stdout), ("pandas",)) == []


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], *([name, "--help"] for name in COMMANDS)],
    ids=["--version", "--help", *(f"{name} --help" for name in COMMANDS)],
)
def test_version_and_help_load_no_heavy_module(tmp_path: Path, argv: list[str]) -> None:
    assert _loaded(_otel_fold(tmp_path, argv), _HEAVY) == []


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A store holding one tiny_chain run, written by `otel-fold bench` (flyte_otel's file exporter): the store,
    the execution id, and the run's report."""
    tmp = tmp_path_factory.mktemp("tiny-store")
    report = tmp / "report.yaml"
    rc = main(["bench", "tiny_chain", "-n", "1", "--small", "--store", str(tmp / "store"), "-o", str(report)])
    assert rc == 0
    exec_id = yaml.safe_load(report.read_text())["flyte.benchmark.tiny_chain"][
        "execution"
    ]  # one run: no "runs" list
    return tmp / "store", exec_id, report


@pytest.mark.slow
def test_fold_report_diff_and_list_load_only_what_their_work_needs(
    tmp_path: Path, tiny_store: tuple[Path, str, Path]
) -> None:
    store, exec_id, report = tiny_store
    fold = _otel_fold(tmp_path, [exec_id, "--store", str(store)])
    assert _loaded(fold, (*_NOT_FOR_READING, "yaml")) == []  # a text fold, no settings file: no YAML
    assert _loaded(fold, ("pyarrow", "opentelemetry.proto")) == ["pyarrow", "opentelemetry.proto"]  # it read
    assert _loaded(_otel_fold(tmp_path, ["report", exec_id, "--store", str(store)]), _NOT_FOR_READING) == []
    assert _loaded(_otel_fold(tmp_path, ["diff", str(report), str(report)]), _NOT_FOR_READING) == []
    assert _loaded(_otel_fold(tmp_path, ["list", "--store", str(store)]), _NOT_FOR_READING) == []


@pytest.fixture(scope="module")
def upstream_stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One tiny_chain run in the upstream dialect (a trace per round) stored twice, in records of 50 spans: as
    length-prefixed OTLP protobuf (the SDK's encoder) and as OTLP/JSON lines (flyte_otel's encoder). The two
    stores and the execution id."""
    exporter = InMemorySpanExporter()
    configure("upstream", exporter=exporter, batch=False)
    try:
        sim = Simulator(load_profile("default"), clock=VirtualClock(), dialect="upstream")
        sim.run(BY_NAME["tiny_chain"].plan(small=True), exec_id="upstream-tiny")
        spans = list(exporter.get_finished_spans())
    finally:
        fo.shutdown()
    proto, lines = tmp_path_factory.mktemp("upstream-proto"), tmp_path_factory.mktemp("upstream-json")
    batches = [spans[i : i + 50] for i in range(0, len(spans), 50)]
    (proto / f"sim{framing.PROTO_SUFFIX}").write_bytes(
        b"".join(framing.frame(encode_spans(b).SerializeToString()) for b in batches)
    )
    (lines / f"sim{framing.JSON_LINES_SUFFIX}").write_text(
        "".join(json.dumps(encode_json(b)) + "\n" for b in batches)
    )
    return proto, lines, "upstream-tiny"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["bench store", "upstream store (protobuf)", "upstream store (JSON lines)"])
def test_folding_from_the_store_loads_no_pandas(
    tmp_path: Path,
    tiny_store: tuple[Path, str, Path],
    upstream_stores: tuple[Path, Path, str],
    which: str,
) -> None:
    proto, lines, upstream = upstream_stores
    store, exec_id = {
        "bench store": tiny_store[:2],
        "upstream store (protobuf)": (proto, upstream),
        "upstream store (JSON lines)": (lines, upstream),
    }[which]
    fold = _otel_fold(tmp_path, [exec_id, "--store", str(store)])
    assert _loaded(fold, ("pandas", "pyarrow")) == ["pyarrow"]  # read, stitched, folded, rendered: no pandas
    assert _loaded(fold, ("pyarrow.compute",)) == []  # Arrow's kernels called by name (analyzer.arrays)
    # the command line names its subcommand: the others' modules (and what their flags need) are not loaded
    others = tuple(path for name, path in COMMANDS.items() if name != "fold")
    assert _loaded(fold, (*others, "propeller_sim", "analyzer.collect")) == []
    # the probe sees pandas where a path does use it: the statistics are a pandas reduction
    stats = _otel_fold(tmp_path, [exec_id, "--store", str(store), "--stats", "name"])
    assert _loaded(stats, ("pandas",)) == ["pandas"]


# What folding a protobuf store whose index is up to date never needs: the JSON decoders and their parsers, the
# indexer's record reader, and the protobuf view made for records the compiled walk leaves (built on first use).
_NOT_FOR_A_PROTOBUF_STORE = (
    "msgspec",
    "analyzer.decode.json_lines",
    "analyzer.decode.otlp_json",
    "analyzer.decode.jaeger_v1",
    "analyzer.decode.jaeger_domain",
    "analyzer.decode.keys",
    "google.protobuf.descriptor_pb2",
)


@pytest.mark.slow
def test_folding_an_indexed_protobuf_store_loads_no_json_decoder(
    tmp_path: Path, tiny_store: tuple[Path, str, Path]
) -> None:
    store, exec_id, _ = tiny_store
    _otel_fold(
        tmp_path, [exec_id, "--store", str(store)]
    )  # the index made (its reader loaded), or up to date
    fold = _otel_fold(tmp_path, [exec_id, "--store", str(store)])
    assert _loaded(fold, ("analyzer.decode.otlp_proto",)) == [
        "analyzer.decode.otlp_proto"
    ]  # it read protobuf
    assert _loaded(fold, _NOT_FOR_A_PROTOBUF_STORE) == []


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("3", "3")])
def test_the_program_starts_numpy_without_blas_threads_unless_told(
    tmp_path: Path, given: str | None, expected: str
) -> None:
    code = (
        "import atexit, os, sys\n"
        "atexit.register(lambda: print(os.environ.get('OPENBLAS_NUM_THREADS')))\n"
        "from analyzer.cli import console\n"
        "sys.argv = ['otel-fold', '--version']\n"
        "console()\n"
    )
    env = {k: v for k, v in _env(tmp_path).items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == expected
