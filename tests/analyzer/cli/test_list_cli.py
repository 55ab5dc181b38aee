"""`otel-fold list` on a store and a file written by flyte_otel's file exporter: the table, JSON and YAML, the
errors, and the ids a wrong one is told about (`otel-fold <id>`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from analyzer.cli import main
from tests.builders import MID, NEW, NOWF, OLD, Written, write_store

OFFSET = "+05:30"  # the reader's zone in these tests (TZ below): the table's times carry it


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Written]:
    directory = tmp_path_factory.mktemp("list") / "store"
    return directory, write_store(directory)


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX form: no tz database needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_lists_newest_first_in_the_readers_zone(
    capsys: pytest.CaptureFixture[str], written: tuple[Path, Written], zone: None
) -> None:
    directory, w = written
    code, out, err = _run(capsys, "list", "--store", str(directory))
    assert code == 0, err
    header, *rows = [re.split(r" {2,}", line) for line in out.splitlines()]
    assert header == ["EXECUTION", "WORKFLOW", "START", "DURATION", "SPANS", "WHERE"]
    # builders.T0 is 2023-11-14T22:13:20Z, 03:43:20 at +05:30; the executions start 10 s apart; their lengths
    # follow from the segments write_store gave them (setup 1 ms, a 17 ms task or two, teardown 2 ms)
    a, b, c = (str(directory / n) for n in ("a.jsonl", "b.jsonl", "c.jsonl"))
    assert rows == [
        [NEW, "wf", f"2023-11-15 03:43:50{OFFSET}", "20ms", str(w.spans(NEW)), b],
        [NOWF, "-", f"2023-11-15 03:43:40{OFFSET}", "7ms", str(w.spans(NOWF)), b],
        [MID, "wf", f"2023-11-15 03:43:30{OFFSET}", "37ms", str(w.spans(MID)), f"{a}, {b}"],
        [OLD, "wf", f"2023-11-15 03:43:20{OFFSET}", "20ms", str(w.spans(OLD)), f"{a}, {c}"],
    ]
    assert [w.times[e][1] - w.times[e][0] for e in (NEW, NOWF, MID, OLD)] == [
        20_000_000,
        7_000_000,
        37_000_000,
        20_000_000,
    ]


def _row(w: Written, exec_id: str) -> dict[str, Any]:
    e = w.expected(exec_id)
    utc = {OLD: "22:13:20", MID: "22:13:30", NOWF: "22:13:40", NEW: "22:13:50"}[exec_id]
    return {
        "exec_id": exec_id,
        "workflow": e.workflow,
        "start": f"2023-11-14T{utc}+00:00",
        "start_ns": e.start_ns,
        "duration_ns": e.end_ns - e.start_ns,
        "spans": e.spans,
        "where": list(e.where),
    }


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_json_and_yaml_parse_back_to_the_same_rows(
    capsys: pytest.CaptureFixture[str], written: tuple[Path, Written], fmt: str
) -> None:
    directory, w = written
    code, out, err = _run(capsys, "list", "--store", str(directory), "--format", fmt)
    doc = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert code == 0, err
    assert doc == {"executions": [_row(w, e) for e in (NEW, NOWF, MID, OLD)]}


def test_a_file_lists_what_it_holds(
    capsys: pytest.CaptureFixture[str], written: tuple[Path, Written]
) -> None:
    directory, _ = written
    a = str(directory / "a.jsonl")
    code, out, err = _run(capsys, "list", "--file", a, "--format", "json")
    assert code == 0, err
    assert [(e["exec_id"], e["where"]) for e in json.loads(out)["executions"]] == [(MID, [a]), (OLD, [a])]


def test_a_wrong_id_names_the_nearest_and_newest_in_one_line(
    capsys: pytest.CaptureFixture[str], written: tuple[Path, Written]
) -> None:
    directory, _ = written
    typo = OLD[:-1] + "9"
    for argv in ([typo], ["report", typo]):
        code, out, err = _run(capsys, *argv, "--store", str(directory))
        assert (code, out) == (1, "")
        assert err == (
            f"otel-fold: {directory}: no span has exec_id={typo!r}; nearest: {MID}, {OLD}; "
            f"newest: {NEW}, {NOWF}, {MID} (of 4: otel-fold list shows them all)\n"
        )


def test_an_empty_store_is_one_line_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, "list", "--store", str(tmp_path))
    assert (code, out, err) == (1, "", f"otel-fold: {tmp_path}: no execution (no span has an exec_id)\n")


def test_a_missing_store_is_one_line_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "list", "--store", str(tmp_path / "nowhere"))
    assert code == 1 and err.count("\n") == 1 and f"no trace store at {tmp_path / 'nowhere'}" in err


def test_a_bad_format_is_refused_before_anything_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["list", "--format", "svg"])
    assert e.value.code == 2 and "invalid choice: 'svg'" in capsys.readouterr().err
