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
from tests.flyte_otel.stored import store_spans

pytestmark = pytest.mark.slow  # a flytekit process start each (~1 s)

EXEC, PROJECT, DOMAIN = "fpodtest1", "flytesnacks", "development"
TASKS = """
from flytekit import task

@task(enable_deck=True)
def double(x: int) -> int:
    return 2 * x

@task
def boom(x: int) -> int:
    raise ValueError("user code failed")
"""
# Subworkflow n1's node n0, attempt 1: the output prefix propeller gives that pod (flyte_otel.flytekit_instrumentor
# node_path cites the layout)
PREFIX = f"metadata/propeller/{PROJECT}-{DOMAIN}-{EXEC}/n1/data/0/n0/1"


# One pod: its entrypoint, the inputs flytekit writes for it, its output prefix and what the k8s plugin (and, for
# an array sub-node, propeller's array handler) adds to its environment.
_POD = {"command": "pyflyte-execute", "inputs": "{'x': 21}", "types": "{'x': int}", "prefix": PREFIX,
        "resolver": ["flytekit.core.python_auto_container.default_task_resolver", "--"], "env": {}}  # fmt: skip
_MAP_POD = {
    "command": "pyflyte-map-execute", "inputs": "{'x': [1, 2, 3]}", "types": "{'x': typing.List[int]}",
    "prefix": f"metadata/propeller/{PROJECT}-{DOMAIN}-{EXEC}/n2/data/0/1/0",  # array node n2, sub-node 1, attempt 0
    "resolver": ["flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver", "--", "vars", "", "resolver",
                 "flytekit.core.python_auto_container.default_task_resolver"],
    "env": {"BATCH_JOB_ARRAY_INDEX_VAR_NAME": "FLYTE_K8S_ARRAY_INDEX", "FLYTE_K8S_ARRAY_INDEX": "1",
            "FLYTE_ATTEMPT_NUMBER": "0"},
}  # fmt: skip


def _run(
    tmp_path: Path, task_name: str, *, enabled: bool = True, pod: dict[str, Any] = _POD
) -> list[dict[str, Any]]:
    """Run `task_name` through flytekit's pod entrypoint; the spans it stored (JSON, as the file exporter wrote them)."""
    (tmp_path / "podtasks.py").write_text(TASKS)
    inputs = tmp_path / "inputs.pb"
    subprocess.run(
        [sys.executable, "-c", "import typing; from flytekit.core.context_manager import FlyteContextManager as M;"
         "from flytekit.core.type_engine import TypeEngine as T; from flytekit.core.utils import write_proto_to_file as w;"
         f"w(T.dict_to_literal_map(M.current_context(), {pod['inputs']}, {pod['types']}).to_flyte_idl(), {str(inputs)!r})"],
        check=True,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OTEL_TRACES_EXPORTER": "file",
           "OTEL_FOLD_STORE": str(tmp_path / "store"), "FLYTE_INTERNAL_EXECUTION_ID": EXEC,
           "FLYTE_INTERNAL_EXECUTION_PROJECT": PROJECT, "FLYTE_INTERNAL_EXECUTION_DOMAIN": DOMAIN,
           "FLYTE_ATTEMPT_NUMBER": "1", "FLYTE_INTERNAL_TASK_NAME": f"podtasks.{task_name}",
           "FLYTE_INTERNAL_TASK_VERSION": "v7", "FLYTE_OTEL_FLYTEKIT": "true" if enabled else "false",
           **pod["env"]}  # fmt: skip
    entry = Path(sys.executable).with_name(pod["command"])
    subprocess.run(
        [str(entry), "--inputs", inputs.as_uri(), "--output-prefix", (tmp_path / pod["prefix"]).as_uri(),
         "--raw-output-data-prefix", (tmp_path / "raw").as_uri(), "--resolver", *pod["resolver"],
         "task-module", "podtasks", "task-name", task_name],
        env=env, cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    return store_spans(tmp_path / "store") if (tmp_path / "store").exists() else []


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
                 sc.POD_UPLOAD, sc.POD_DECK):  # fmt: skip
        assert name in by_name, name
    down = _attrs(by_name[sc.POD_DOWNLOAD])
    uploads = [s for s in spans if s["name"] == sc.POD_UPLOAD]
    up = next(
        _attrs(s) for s in uploads if _attrs(s)[sc.BLOB_KEY] == (tmp_path / PREFIX).as_uri()
    )  # the outputs
    deck = by_name[sc.POD_DECK]  # enable_deck=True: the deck is written, and uploaded inside its span
    assert any(s["parentSpanId"] == deck["spanId"] for s in uploads)
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


def test_off_the_hook_loads_none_of_flyte_otel_s_modules() -> None:
    """flytekit imports the hook in every pod of an image with flyte-otel: off, it costs one variable lookup."""
    code = "import sys, flyte_otel.flytekit_plugin\nprint(sorted(m for m in sys.modules if m.startswith(('flyte_otel', 'opentelemetry'))))"
    env = {k: v for k, v in os.environ.items() if k != "FLYTE_OTEL_FLYTEKIT"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "['flyte_otel', 'flyte_otel.flytekit_plugin']"


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
        # an array node's sub-node 12, attempt 2: the array node, with the sub-node's attempt
        (f"s3://b/m/{PROJECT}-{DOMAIN}-{EXEC}/n1/data/0/12/2", ("n1", 2)),
        (f"s3://b/m/{PROJECT}-{DOMAIN}-{EXEC}/n1/data/0/n2/1/3/0", ("n1/n2", 0)),  # one in a subworkflow
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


def test_a_map_task_sub_node_hangs_under_its_indexed_attempt(tmp_path: Path) -> None:
    """pyflyte-map-execute of sub-node 1 of array node n2 (ArrayNodeMapTaskResolver, as flytekit's map_task
    builds the command): the index from the variable propeller names, the attempt id derived with it."""
    spans = _run(tmp_path, "double", pod=_MAP_POD)
    root = next(s for s in spans if s["name"] == sc.POD_TASK)
    attrs = _attrs(root)
    assert (attrs[sc.NODE_ID], attrs[sc.ARRAY_INDEX], attrs[sc.ATTEMPT_NUMBER]) == ("n2", "1", "0")
    assert root["parentSpanId"] == f"{ids.attempt_span_id(EXEC, 'n2', 0, 1):016x}"
    assert (tmp_path / _MAP_POD["prefix"] / "outputs.pb").exists()  # the sub-task ran: it doubled x[1]


def test_the_report_splits_the_task_run_at_the_user_s_function_on_real_pod_spans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pod's real spans (pyflyte-execute) plus propeller's records of the same attempt (flyte_otel, one trace):
    TASK_RUNTIME is the function's own span, the rest of the container's run is TASK_PREPARE / TASK_FINALIZE."""
    import flyte_otel as fo
    from analyzer.cli import main
    from analyzer.results import timeline as TL

    spans = _run(tmp_path, "double")
    root = next(s for s in spans if s["name"] == sc.POD_TASK)
    code = next(s for s in spans if s["name"] == sc.POD_USER_CODE)
    r0, r1 = int(root["startTimeUnixNano"]), int(root["endTimeUnixNano"])
    c0, c1 = int(code["startTimeUnixNano"]), int(code["endTimeUnixNano"])
    ms = 1_000_000
    fo.configure(exporter="file", path=tmp_path / "store" / "propeller.jsonl", one_trace=True, batch=False)
    try:  # propeller's side: subworkflow n1 holding n0, whose attempt 1 ran that pod
        ex = fo.execution(EXEC, start=r0 - 50 * ms)
        n1 = ex.node("n1", kind=sc.NodeKind.SUBWORKFLOW, start=r0 - 40 * ms)
        n0 = ex.node("n1/n0", kind=sc.NodeKind.TASK, parent=n1, start=r0 - 30 * ms)
        a = n0.attempt(1, start=r0 - 20 * ms)
        a.user_code(start=r0, end=r1)  # the container's run as the pod's status reports it
        a.end(sc.Phase.SUCCEEDED, at=r1 + 10 * ms)
        for rec, at in ((n0, r1 + 20 * ms), (n1, r1 + 30 * ms), (ex, r1 + 40 * ms)):
            rec.end(sc.Phase.SUCCEEDED, at=at)
    finally:
        fo.shutdown()
    assert main(["report", EXEC, "--json", "--store", str(tmp_path / "store")]) == 0
    body = json.loads(capsys.readouterr().out)[EXEC]
    node = next(n["n1/n0"] for n in body["nodes"] if "n1/n0" in n)
    seg = node["segments"]
    assert (seg[TL.TASK_PREPARE], seg[TL.TASK_RUNTIME], seg[TL.TASK_FINALIZE]) == (c0 - r0, c1 - c0, r1 - c1)
    assert sum(v for k, v in seg.items() if k != TL.NODE_TRANSITION) == node["duration"]
