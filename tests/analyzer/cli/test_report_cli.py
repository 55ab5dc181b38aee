"""`otel-fold report` and `otel-fold diff` end to end: a recorded payload on disk -> YAML/JSON -> diff text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from analyzer.cli import main
from analyzer.execution import select_execution
from analyzer.reduce.report import report, run_report
from analyzer.render.report_yaml import render_yaml
from tests import builders as B
from tests.builders import MS, Task


def _payload(tmp_path: Path, runtimes: list[int], *, launch_plan: bool = False) -> Path:
    """One OTLP protobuf file holding one chain execution per runtime (ex0, ex1, ...)."""
    with B.recording() as rec:
        for i, r in enumerate(runtimes):
            B.chain(rec, [Task(1 * MS, 2 * MS, 3 * MS, r, 1 * MS, 2 * MS)], setup=5 * MS, teardown=4 * MS,
                    exec_id=f"ex{i}")  # fmt: skip
        if launch_plan:
            B.launch_plan(rec, Task(1 * MS, 1 * MS, 2 * MS, 10 * MS, 1 * MS, 1 * MS), transition=2 * MS,
                          launch=7 * MS, child_setup=3 * MS, child_teardown=4 * MS, node_teardown=5 * MS,
                          setup=1 * MS, teardown=1 * MS)  # fmt: skip
        path = tmp_path / "spans.binpb.raw"
        path.write_bytes(rec.payload())
    return path


def test_report_json_of_one_execution_has_exact_durations(tmp_path, capsys):
    path = _payload(tmp_path, [10 * MS])
    assert main(["report", "ex0", "--file", str(path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)["ex0"]
    assert body["duration"] == 5 * MS + (1 + 2 + 3 + 10 + 1 + 2) * MS + 4 * MS


def test_report_of_several_runs_keeps_them_under_the_benchmark_name(tmp_path, capsys):
    path = _payload(tmp_path, [10 * MS, 20 * MS, 30 * MS])
    out = tmp_path / "r.yaml"
    assert main(["report", "ex0", "ex1", "ex2", "--name", "chain", "--file", str(path), "-o", str(out)]) == 0
    body = yaml.safe_load(out.read_text())["flyte.benchmark.chain"]
    assert [r["execution"] for r in body["runs"]] == ["ex0", "ex1", "ex2"]
    assert body["duration"] == "38ms"  # the median run: 5 + (1 + 2 + 3 + 20 + 1 + 2) + 4


def test_report_follows_a_launch_plan_into_its_child_execution(tmp_path, capsys):
    path = _payload(tmp_path, [], launch_plan=True)
    assert main(["report", "ex-parent", "--file", str(path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)["ex-parent"]
    nodes = {k: v for n in body["nodes"] for k, v in n.items()}
    assert nodes["n0/n0"]["segments"]["TASK_RUNTIME"] == 10 * MS
    assert not any("not available" in w for w in body.get("warnings", []))


def test_diff_cli_prints_signed_deltas_of_two_report_files(tmp_path, capsys):
    path = _payload(tmp_path, [10 * MS, 25 * MS])
    base, new = tmp_path / "base.yaml", tmp_path / "new.yaml"
    assert main(["report", "ex0", "--name", "c", "--file", str(path), "-o", str(base)]) == 0
    assert main(["report", "ex1", "--name", "c", "--file", str(path), "-o", str(new)]) == 0
    capsys.readouterr()
    assert main(["diff", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out)["flyte.benchmark.c"]["duration"] == "+15ms"
    assert "significance not assessed" in out


def test_unknown_execution_is_a_one_line_not_found(tmp_path, capsys):
    path = _payload(tmp_path, [10 * MS])
    assert main(["report", "nope", "--file", str(path)]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "code", "says"), [(None, 1, "no such report file"), ("[1, 2]\n", 2, "not a report")]
)
def test_diff_of_a_bad_file_names_it_without_a_traceback(tmp_path, capsys, content, code, says):
    good = tmp_path / "good.yaml"
    good.write_text("x:\n  duration: 1s\n")
    bad = tmp_path / "bad.yaml"
    if content is not None:
        bad.write_text(content)
    assert main(["diff", str(good), str(bad)]) == code
    err = capsys.readouterr().err
    assert str(bad) in err and says in err and "Traceback" not in err


def _bench_file(path: Path, runtimes: dict[str, list[int]]) -> Path:
    """A benchmark file as `otel-fold bench` writes it: per workflow, the report of its runs (one-task chains)."""
    doc: dict = {}
    with B.recording() as rec:
        for name, rs in runtimes.items():
            for i, r in enumerate(rs):
                B.chain(rec, [Task(1 * MS, 2 * MS, 3 * MS, r, 1 * MS, 2 * MS)], setup=5 * MS, teardown=4 * MS,
                        exec_id=f"{name}-{i}")  # fmt: skip
        table = rec.table()
    for name, rs in runtimes.items():
        runs = [run_report(select_execution(table, f"{name}-{i}")) for i in range(len(rs))]
        doc.update(report(runs, name))
    path.write_text(render_yaml(doc), encoding="utf-8")
    return path


def test_diff_cli_compares_two_benchmark_files_workflow_by_workflow(tmp_path, capsys):
    base = _bench_file(tmp_path / "base.yaml", {"a": [10 * MS] * 3, "b": [20 * MS] * 3, "gone": [5 * MS]})
    new = _bench_file(tmp_path / "new.yaml", {"b": [50 * MS] * 3, "a": [15 * MS] * 3, "fresh": [7 * MS]})
    assert main(["diff", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    parsed = yaml.safe_load(out)
    assert list(parsed) == [
        "flyte.benchmark.a",
        "flyte.benchmark.b",
        "flyte.benchmark.gone",
        "flyte.benchmark.fresh",
    ]
    assert parsed["flyte.benchmark.a"]["duration"] == "+5ms"
    assert parsed["flyte.benchmark.b"]["duration"] == "+30ms"
    assert parsed["flyte.benchmark.b"]["nodes"][1]["n0"]["segments"]["TASK_RUNTIME"] == "+30ms"
    assert (
        parsed["flyte.benchmark.gone"]["duration"] == "23ms"
    )  # its own value: 5 + (1 + 2 + 3 + 5 + 1 + 2) + 4
    assert "flyte.benchmark.gone:  # removed" in out and "flyte.benchmark.fresh:  # added" in out
