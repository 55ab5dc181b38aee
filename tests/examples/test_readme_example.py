"""The README's instrumentation example, run exactly as printed, gives sensible figures: its lifecycle records
span the work, `userCode` is the task's share of the run, and the analyzer warns of no clock skew."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Instrumenting a component with `flyte_otel`"


def _block() -> str:
    """The first Python block of the README's instrumentation section, as printed."""
    text = README.read_text(encoding="utf-8")
    found = re.compile(r"```python\n(.*?)```", re.S).search(text, text.index(SECTION))
    assert found is not None, f"no python block under {SECTION}"
    return found.group(1)


def _sleep(tree: ast.Module, function: str) -> float:
    """The seconds that `function` of the example sleeps (its stand-in for real work)."""
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    calls = [n for n in ast.walk(body) if isinstance(n, ast.Call) and ast.unparse(n.func) == "time.sleep"]
    assert len(calls) == 1, f"{function} should sleep once"
    return float(ast.literal_eval(calls[0].args[0]))


def _calls(tree: ast.Module, function: str) -> int:
    return sum(isinstance(n, ast.Call) and ast.unparse(n.func) == function for n in ast.walk(tree))


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def test_the_readme_example_runs_as_printed_and_reports_its_work(tmp_path: Path) -> None:
    block = _block()
    script = tmp_path / "example.py"
    script.write_text(block, encoding="utf-8")
    # The example writes to the store otel-fold reads by default: here under a temporary XDG_DATA_HOME.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "XDG_"))}
    env.update(
        HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path / "cache")
    )
    ran = _run([sys.executable, str(script)], env, tmp_path)
    assert ran.stderr == ""
    assert list((tmp_path / "data" / "otel-fold" / "store").iterdir()), "nothing written to the default store"

    # What it printed is the command to run next: run it (as `python -m analyzer`), for exact JSON figures.
    command = shlex.split(ran.stdout.strip().splitlines()[-1])
    assert command[:2] == ["otel-fold", "report"] and len(command) == 3, ran.stdout
    reported = _run([sys.executable, "-m", "analyzer", *command[1:], "--json"], env, tmp_path)
    assert "skew" not in reported.stderr and "warning" not in reported.stderr, reported.stderr
    (body,) = json.loads(reported.stdout).values()
    assert "warnings" not in body, body["warnings"]

    tree = ast.parse(block)
    work, call = _sleep(tree, "task"), _sleep(tree, "remote_call")
    calls = _calls(tree, "remote_call")
    duration = body["duration"] / 1e9
    assert duration >= work + calls * call  # the execution's record spans all of the work
    # TASK_RUNTIME holds at least the task's sleep, and none of the calls' sleeps (they run before and after)
    assert work / duration <= body["userCode"] <= (duration - calls * call) / duration
    (n0,) = [node["n0"] for node in body["nodes"] if "n0" in node]
    assert n0["segments"]["TASK_RUNTIME"] >= work * 1e9
    assert {"start-node", "n0", "end-node"} == {key for node in body["nodes"] for key in node}
