"""Every portfolio workflow runs locally under flytekit and returns what its definition implies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from flytekit.exceptions.user import FlyteRecoverableException

from flyte_otel.semconv import NodeKind
from propeller_sim.plan import END_NODE, START_NODE
from propeller_sim.portfolio import BY_NAME, PORTFOLIO
from propeller_sim.portfolio import _tasks as tasks


def _run(name: str, **inputs: object) -> object:
    e = BY_NAME[name]
    entity = e.module.build(e.local_build) if e.local_build else e.entity
    return entity(**{**e.local_inputs, **inputs})


# Expected outputs from each workflow's definition (module constants, closed forms), never from a run.
def _expected(name: str) -> object:
    m = BY_NAME[name].module
    return {
        "tiny_chain": lambda: m.LENGTH,
        "tiny_parallel": lambda: m.WIDTH,
        "chained_cache": lambda: m.LENGTH,
        "big_map": lambda: sum(i * i for i in range(50)),
        "nested_dynamic": lambda: 2 * 2,  # width 2: 2 inner dynamics of 2 incs of 0
        "launch_plans": lambda: m.CHILDREN * 2,
        "parallel_subworkflows": lambda: m.BRANCHES * 2,
        "retries": lambda: 3,
        "branch": lambda: (3 + 1) ** 2 + 1,  # inc(3) = 4 > 3: squared, then inc
        "gate": lambda: 2,
        "max_parallelism": lambda: m.WIDTH,
        "large_payload": lambda: 4096,
    }[name]()


def test_portfolio_has_every_bottleneck_of_the_issue() -> None:
    assert len(PORTFOLIO) >= 12
    for e in PORTFOLIO:
        assert e.bottleneck, f"{e.name}: module docstring must name the bottleneck"
        assert "Bottleneck:" in (e.module.__doc__ or ""), e.name


@pytest.mark.parametrize("name", [e.name for e in PORTFOLIO if e.name != "large_workflow"])
def test_workflow_runs_locally_and_returns_its_defined_output(name: str) -> None:
    assert _run(name) == _expected(name)


def test_large_workflow_sums_one_per_chained_task() -> None:
    small = BY_NAME["large_workflow"].module.build(20)
    incs = [n for n in small.nodes if n.flyte_entity is tasks.inc]
    assert small(x=0) == len(incs)


def test_branch_takes_the_else_case_for_small_inputs() -> None:
    assert _run("branch", x=1) == (1 + 1) + 1 + 1


def test_flaky_task_fails_on_a_cluster_attempt_before_its_planned_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "1")
    with pytest.raises(FlyteRecoverableException):
        tasks.flaky_inc(x=0, fail_attempts=2)
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "2")
    assert tasks.flaky_inc(x=0, fail_attempts=2) == 1


def test_registrable_defaults_keep_the_issue_sizes() -> None:
    big = BY_NAME["large_workflow"].plan()
    assert sum(1 for n in big.nodes if n.id not in (START_NODE, END_NODE)) >= 500
    (array,) = [n for n in BY_NAME["big_map"].plan().nodes if n.kind == NodeKind.ARRAY]
    assert array.array_size >= 5000
    assert BY_NAME["max_parallelism"].plan().max_parallelism == BY_NAME["max_parallelism"].module.LIMIT


# A task pod imports its workflow's module with flytekit and the standard library only. Without flyte-otel
# installed there is no flytekit.plugins entry point naming it either (flytekit loads its plugins on import).
_POD_IMPORTS = """
import importlib, importlib.metadata as md, pkgutil, sys
everything = md.entry_points
md.entry_points = lambda **kw: (
    [e for e in everything(**kw) if not e.value.startswith("flyte_otel")] if "group" in kw else everything(**kw)
)
for absent in ("flyte_otel", "opentelemetry", "numpy", "analyzer"):
    sys.modules[absent] = None
import propeller_sim.portfolio as p
for m in pkgutil.iter_modules(p.__path__, "propeller_sim.portfolio."):
    importlib.import_module(m.name)
"""


def test_workflow_modules_import_with_flytekit_alone_as_in_a_task_pod() -> None:
    done = subprocess.run([sys.executable, "-c", _POD_IMPORTS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
