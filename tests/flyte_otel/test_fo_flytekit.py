"""Pod-side spans: a real flytekit task run through flytekit's real pod entrypoint (`pyflyte-execute`, inputs
written by flytekit, `file://` paths) in a subprocess, switched on by the environment alone, spans to the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flyte_otel import ids
from flyte_otel import semconv as sc
from flyte_otel.flytekit_instrumentor import FlytekitInstrumentor, node_path, pod_attributes

pytestmark = pytest.mark.slow  # a flytekit process start each (~1 s)

EXEC, PROJECT, DOMAIN = "fpodtest1", "flytesnacks", "development"
TASKS = """
from flytekit import task

@task
def double(x: int) -> int:
    return 2 * x

@task
def boom(x: int) -> int:
    raise ValueError("user code failed")
"""
# Subworkflow n1's node n0, attempt 1: the output prefix propeller gives that pod (flyte_otel.flytekit_instrumentor
# node_path cites the layout)
PREFIX = f"metadata/propeller/{PROJECT}-{DOMAIN}-{EXEC}/n1/data/0/n0/1"


def _run(tmp_path: Path, task_name: str, *, enabled: bool = True) -> list[dict[str, Any]]:
    """pyflyte-execute `task_name` on x=21; the spans it stored (JSON, as the file exporter wrote them)."""
    (tmp_path / "podtasks.py").write_text(TASKS)
    inputs = tmp_path / "inputs.pb"
    subprocess.run(
        [sys.executable, "-c", "from flytekit.core.context_manager import FlyteContextManager as M;"
         "from flytekit.core.type_engine import TypeEngine as T; from flytekit.core.utils import write_proto_to_file as w;"
         f"w(T.dict_to_literal_map(M.current_context(), {{'x': 21}}, {{'x': int}}).to_flyte_idl(), {str(inputs)!r})"],
        check=True,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OTEL_TRACES_EXPORTER": "file",
           "OTEL_FOLD_STORE": str(tmp_path / "store"), "FLYTE_INTERNAL_EXECUTION_ID": EXEC,
           "FLYTE_INTERNAL_EXECUTION_PROJECT": PROJECT, "FLYTE_INTERNAL_EXECUTION_DOMAIN": DOMAIN,
           "FLYTE_ATTEMPT_NUMBER": "1", "FLYTE_INTERNAL_TASK_NAME": f"podtasks.{task_name}",
           "FLYTE_INTERNAL_TASK_VERSION": "v7", "FLYTE_OTEL_FLYTEKIT": "true" if enabled else "false"}  # fmt: skip
    pyflyte_execute = Path(sys.executable).with_name("pyflyte-execute")
    subprocess.run(
        [str(pyflyte_execute), "--inputs", inputs.as_uri(), "--output-prefix", (tmp_path / PREFIX).as_uri(),
         "--raw-output-data-prefix", (tmp_path / "raw").as_uri(),
         "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--",
         "task-module", "podtasks", "task-name", task_name],
        env=env, cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    spans = []
    for f in sorted((tmp_path / "store").glob("*.jsonl")) if (tmp_path / "store").exists() else ():
        for line in f.read_text().splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                spans += [s for ss in rs["scopeSpans"] for s in ss["spans"]]
    return spans


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", ())}


def test_a_task_pod_is_one_tree_in_the_execution_s_trace(tmp_path: Path) -> None:
    spans = _run(tmp_path, "double")
    by_name = {s["name"]: s for s in spans}
    root = by_name[sc.POD_TASK]
    assert _attrs(root) == {sc.EXEC_ID: EXEC, sc.PROJECT: PROJECT, sc.DOMAIN: DOMAIN, sc.ATTEMPT_NUMBER: "1",
                            sc.TASK_NAME: "podtasks.double", sc.TASK_VERSION: "v7", sc.NODE_ID: "n1/n0"}  # fmt: skip
    trace_id, _ = ids.execution_ids(EXEC)  # the trace flyte_otel's propeller side puts the execution in
    attempt = ids.attempt_span_id(EXEC, "n1/n0", 1)  # and the id it gives that node's attempt 1 record
    assert {s["traceId"] for s in spans} == {f"{trace_id:032x}"} and root["parentSpanId"] == f"{attempt:016x}"
    ids_of = {s["spanId"]: s for s in spans}

    def under_root(s: dict[str, Any]) -> bool:
        while s is not root:
            if s["parentSpanId"] not in ids_of:
                return False
            s = ids_of[s["parentSpanId"]]
        return True

    assert all(under_root(s) for s in spans)
    for name in (sc.POD_LOAD_TASK, sc.POD_DOWNLOAD, sc.POD_TO_PYTHON, sc.POD_USER_CODE, sc.POD_TO_LITERAL,
                 sc.POD_UPLOAD):  # fmt: skip
        assert name in by_name, name
    down, up = _attrs(by_name[sc.POD_DOWNLOAD]), _attrs(by_name[sc.POD_UPLOAD])
    assert (
        down[sc.BLOB_SCHEME] == "file" and int(down[sc.BLOB_SIZE]) == (tmp_path / "inputs.pb").stat().st_size
    )
    assert up[sc.BLOB_KEY] == (tmp_path / PREFIX).as_uri()
    assert int(up[sc.BLOB_SIZE]) == (tmp_path / PREFIX / "outputs.pb").stat().st_size
    # names stay bounded: flytekit's "Download data to local from <uri>" keeps its URI as an attribute
    assert not any("://" in s["name"] for s in spans)
    assert any(_attrs(s).get(sc.URI) == (tmp_path / "inputs.pb").as_uri() for s in spans)


def test_a_failing_user_function_marks_its_span_with_the_exception(tmp_path: Path) -> None:
    spans = _run(tmp_path, "boom")
    user = next(s for s in spans if s["name"] == sc.POD_USER_CODE)
    assert user["status"]["code"] == 2 and "user code failed" in user["status"]["message"]  # OTLP: 2 = ERROR
    assert [e["name"] for e in user["events"]] == ["exception"]
    assert any(s["name"] == sc.POD_UPLOAD for s in spans)  # flytekit still uploads the error document


def test_off_the_pod_writes_no_span(tmp_path: Path) -> None:
    assert _run(tmp_path, "double", enabled=False) == []


def test_uninstrument_gives_flytekit_its_own_functions_back() -> None:
    from flytekit.bin import entrypoint
    from flytekit.core import utils
    from flytekit.core.data_persistence import FileAccessProvider

    before = (entrypoint._dispatch_execute, utils.timeit.__enter__, FileAccessProvider.get_data)
    inst = FlytekitInstrumentor()
    inst.instrument(skip_dep_check=True)
    inst.instrument(skip_dep_check=True)  # idempotent: wrapped once
    assert entrypoint._dispatch_execute is not before[0]
    assert not hasattr(entrypoint._dispatch_execute.__wrapped__, "__wrapped__")
    inst.uninstrument()
    assert (entrypoint._dispatch_execute, utils.timeit.__enter__, FileAccessProvider.get_data) == before


@pytest.mark.parametrize(
    ("prefix", "want"),
    [
        (f"s3://b/metadata/propeller/{PROJECT}-{DOMAIN}-{EXEC}/n3/data/0", ("n3", 0)),
        (f"s3://b/metadata/propeller/{PROJECT}-{DOMAIN}-{EXEC}/n1/data/2/dn0/0/n4/3", ("n1/dn0/n4", 3)),
        (
            f"gs://b/x/{PROJECT}-{DOMAIN}-{EXEC}/n0/data/0/7",
            ("n0", 0),
        ),  # a map task's index after the attempt
        (f"s3://b/metadata/propeller/{PROJECT}-{DOMAIN}-other/n3/data/0", None),
        ("s3://b/somewhere/else", None),
    ],
)
def test_node_path_follows_propeller_s_output_dirs(prefix: str, want: tuple[str, int] | None) -> None:
    assert node_path(prefix, PROJECT, DOMAIN, EXEC) == want


def test_a_malformed_variable_leaves_its_attribute_out() -> None:
    attrs = pod_attributes({"FLYTE_INTERNAL_EXECUTION_ID": EXEC, "FLYTE_ATTEMPT_NUMBER": "x"}, "")
    assert attrs == {sc.EXEC_ID: EXEC}


class _BrokenTracer:
    def start_span(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("SDK broken")

    def start_as_current_span(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("SDK broken")


class _BrokenProvider:
    def get_tracer(self, *a: Any, **k: Any) -> _BrokenTracer:
        return _BrokenTracer()


def test_a_broken_sdk_never_stops_the_task(tmp_path: Path) -> None:
    from flytekit.core.data_persistence import FileAccessProvider
    from flytekit.core.utils import timeit

    inst = FlytekitInstrumentor()
    inst.instrument(tracer_provider=_BrokenProvider(), skip_dep_check=True)
    try:
        ran = []
        with timeit("Execute user level code"):
            ran.append("user code")
        (tmp_path / "a.txt").write_text("payload")
        fa = FileAccessProvider(
            local_sandbox_dir=str(tmp_path / "sandbox"), raw_output_prefix=str(tmp_path / "raw")
        )
        fa.get_data(str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    finally:
        inst.uninstrument()
    assert ran == ["user code"] and (tmp_path / "b.txt").read_text() == "payload"
