"""examples/notebook.ipynb runs in a real kernel (nbclient, ipykernel) on a store the simulator writes, and shows
what the notebook API computes: the newest execution, its dtypes, its critical path and its report."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

import analyzer
from analyzer.cli import main
from analyzer.results.timeline import SEGMENTS

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook.ipynb"
# The dtypes the notebook must show (the frame's contract, docs/notebook.md).
DTYPES = {
    "start": "datetime64[ns, UTC]",
    "end": "datetime64[ns, UTC]",
    "duration": "timedelta64[ns]",
    **dict.fromkeys(("exec_id", "node", "phase", "name", "service", "category"), "category"),
    **dict.fromkeys(("flyte.attempt", "flyte.etcd.size", "flyte.blob.size"), "Int64"),
}

pytestmark = pytest.mark.slow  # a simulated store and a kernel: ~10 s


def _text(cell: Any) -> str:
    """A cell's printed and displayed text."""
    parts = []
    for out in cell.outputs:
        assert out.output_type != "error", "".join(out.get("traceback", []))
        parts.append(out.text if out.output_type == "stream" else out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_the_notebook_runs_on_a_simulated_store_and_shows_the_newest_execution(tmp_path: Path) -> None:
    store, bench = tmp_path / "store", tmp_path / "bench.yaml"
    argv = [
        "bench",
        "tiny_chain",
        "-n",
        "2",
        "--small",
        "--seed",
        "3",
        "--store",
        str(store),
        "-o",
        str(bench),
    ]
    assert main(argv) == 0
    (entry,) = yaml.safe_load(bench.read_text()).values()
    newest = entry["runs"][-1]["execution"]

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    client.execute(env={**env, "OTEL_FOLD_STORE": str(store)})  # STORE = None: the default store
    cells = {cell.id: _text(cell) for cell in nb.cells if cell.cell_type == "code"}

    shown, *dtypes = cells["dtypes"].splitlines()
    expected = analyzer.frame(store, exec_id=newest)
    assert shown == f"{newest} {len(expected)} spans"
    columns = dict(line.split(None, 1) for line in dtypes if line and not line.startswith("dtype:"))
    assert {k: columns.get(k) for k in DTYPES} == DTYPES

    assert "flyte.task.user_code" in cells["self-time"] and "percent" in cells["self-time"]
    report = analyzer.report(store, exec_id=newest)
    shares = ast.literal_eval(cells["critical-path"])
    assert sum(shares.values()) == pytest.approx(1, abs=1e-3)  # the path tiles the execution
    assert shares["user"] == pytest.approx(report["userCode"], abs=1e-4)
    segments = [s for s in SEGMENTS if s in cells["segments"]]
    assert {"WORKFLOW_SETUP", "TASK_RUNTIME", "WORKFLOW_TEARDOWN"} <= set(segments) and "n9" in cells[
        "segments"
    ]
    assert sorted(segments, key=cells["segments"].index) == segments  # in a node's order, not A-Z
    keys = ("execution", "duration", "flyteOverhead", "k8sOverhead", "userCode")
    assert ast.literal_eval(cells["report"]) == {k: report[k] for k in keys}
