"""examples/instrument_component.py runs, and its spans are what it says: rounds, lifecycle records opened when the work starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import analyzer
from analyzer.load import load
from analyzer.table import END, NAME, PARENT_ID, SPAN_ID, START
from flyte_otel import semconv as sc

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "instrument_component.py"
EXEC_ID = "fexample0instrument"


def _spans(tmp_path: Path) -> pd.DataFrame:
    store = tmp_path / "store"
    command = [sys.executable, str(EXAMPLE), "--store", str(store), "--exec-id", EXEC_ID]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == EXEC_ID  # what the user folds next
    return load(store, exec_id=EXEC_ID).df


def _one(df: pd.DataFrame, name: str, node: str | None = None) -> pd.Series:
    rows = df[(df[NAME] == name) & ((df[sc.NODE_ID] == node) if node else True)]
    assert len(rows) == 1, (name, node, len(rows))
    return rows.iloc[0]


def test_example_writes_operation_spans_and_lifecycle_records(tmp_path: Path) -> None:
    df = _spans(tmp_path)
    names = set(df[NAME])
    operations = {sc.ROUND, sc.STREAK, sc.WORKFLOW_STORE_GET, sc.WORKFLOW_STORE_UPDATE, sc.HANDLE_NODE}
    events = {sc.CREATE_WORKFLOW_EVENT, sc.CREATE_NODE_EVENT, sc.CREATE_TASK_EVENT}
    lifecycle = {sc.EXECUTION, sc.NODE, sc.ATTEMPT, sc.USER_CODE}
    assert operations | events | lifecycle <= names
    assert (df[NAME] == sc.ROUND).sum() == 2
    assert set(df.loc[df[NAME] == sc.NODE, sc.NODE_ID]) == {"start-node", "n0", "end-node"}
    assert set(df.loc[df[NAME].isin(lifecycle), sc.PHASE].dropna()) == {sc.Phase.SUCCEEDED}


def test_user_code_lies_inside_its_attempt_inside_its_node(tmp_path: Path) -> None:
    df = _spans(tmp_path)
    node, attempt, user = (_one(df, name, "n0") for name in (sc.NODE, sc.ATTEMPT, sc.USER_CODE))
    assert user[PARENT_ID] == attempt[SPAN_ID] and attempt[PARENT_ID] == node[SPAN_ID]
    assert node[START] <= attempt[START] <= user[START] <= user[END] <= attempt[END] <= node[END]


def test_records_start_when_the_work_starts_not_when_it_is_reported(tmp_path: Path) -> None:
    df = _spans(tmp_path)
    first, second = df[df[NAME] == sc.ROUND].sort_values(START).itertuples(index=False)
    first_start, first_end = getattr(first, START), getattr(first, END)
    # The execution exists before its first round; n0 is queued and its pod created during that round.
    assert _one(df, sc.EXECUTION)[START] <= first_start
    assert first_start <= _one(df, sc.NODE, "n0")[START] <= _one(df, sc.ATTEMPT, "n0")[START] <= first_end
    # The attempt starts once its pod exists: after the Kubernetes create call.
    create = df[df[NAME] == sc.K8S_CLIENT_PREFIX + "Create"]
    assert len(create) == 1 and create[END].iloc[0] <= _one(df, sc.ATTEMPT, "n0")[START]
    assert _one(df, sc.EXECUTION)[END] >= getattr(second, END)


def test_its_report_puts_the_user_code_on_the_critical_path_without_skew(tmp_path: Path) -> None:
    df = _spans(tmp_path)
    body = analyzer.report(tmp_path / "store", exec_id=EXEC_ID)
    assert "warnings" not in body, body["warnings"]
    user, execution = _one(df, sc.USER_CODE, "n0"), _one(df, sc.EXECUTION)
    # one task in a chain: its whole user code is TASK_RUNTIME on the critical path
    share = (user[END] - user[START]) / (execution[END] - execution[START])
    assert body["userCode"] == pytest.approx(share) and body["userCode"] > 0
