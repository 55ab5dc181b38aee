"""The RFC's workflow portfolio: flytekit workflows, each exposing one orchestration bottleneck (module docstring).

PORTFOLIO lists them as data: how to run each locally in a test (smaller where the registrable default is
large), and what the simulator needs that a compiled closure cannot say (a map's fan-out, planned failures).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

__all__ = ["BY_NAME", "PORTFOLIO", "SMALL", "Entry"]

if TYPE_CHECKING:  # not at run time: a task pod imports this package with flytekit alone
    from propeller_sim.plan import Plan


@dataclass(frozen=True)
class Entry:
    """One portfolio workflow."""

    name: str  # module of this package and the entity's variable name
    local_inputs: Mapping[str, Any] = field(default_factory=dict)  # a small local run (test)
    local_build: int | None = None  # for a workflow built by `build(n)`: n for the local run
    array_sizes: Mapping[str, str] = field(default_factory=dict)  # map node id -> input giving its fan-out
    failures: Mapping[str, str] = field(default_factory=dict)  # node id -> input giving its failing attempts

    @property
    def module(self) -> Any:
        """The workflow's module."""
        return importlib.import_module(f"{__name__}.{self.name}")

    @property
    def entity(self) -> Any:
        """The registrable workflow or launch plan (default sizes)."""
        return getattr(self.module, self.name)

    @property
    def bottleneck(self) -> str:
        """First line of the module's docstring."""
        return (self.module.__doc__ or "").strip().splitlines()[0]

    def inputs(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The execution's inputs: the workflow's defaults, then `overrides`."""
        wf = getattr(self.entity, "workflow", self.entity)
        values = {k: v for k, (_, v) in wf.python_interface.inputs_with_defaults.items()}
        return {**values, **(overrides or {})}

    def plan(self, overrides: Mapping[str, Any] | None = None, *, small: bool = False) -> Plan:
        """The compiled workflow, as the simulator runs it; `small`: the local-run sizes."""
        if small:
            overrides = {**self.local_inputs, **(overrides or {})}
        inputs = self.inputs(overrides)
        sizes = {node: int(inputs[var]) for node, var in self.array_sizes.items()}
        entity = self.module.build(self.local_build) if small and self.local_build else self.entity
        from propeller_sim.compile import compile_plan  # late: flytekit takes seconds to import

        return compile_plan(entity, inputs, sizes)

    def sim_failures(self, overrides: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Node id -> attempts that fail, as the workflow's inputs plan them."""
        inputs = self.inputs(overrides)
        return {node: int(inputs[var]) for node, var in self.failures.items()}


PORTFOLIO: tuple[Entry, ...] = (
    Entry("tiny_chain"),
    Entry("tiny_parallel"),
    Entry("chained_cache"),
    Entry("large_workflow", local_build=20),
    Entry("big_map", local_inputs={"n": 50}, array_sizes={"n1": "n"}),
    Entry("nested_dynamic", local_inputs={"width": 2}),
    Entry("launch_plans"),
    Entry("parallel_subworkflows"),
    Entry("retries", failures={"n1": "fail_attempts"}),
    Entry("branch"),
    Entry("gate"),
    Entry("max_parallelism"),
    Entry("large_payload", local_inputs={"size": 4096}),
)
BY_NAME: Mapping[str, Entry] = {e.name: e for e in PORTFOLIO}  # the entries by workflow name
# The demo's small portfolio: one of each cheap shape.
SMALL: tuple[str, ...] = ("tiny_chain", "tiny_parallel", "chained_cache", "retries", "branch")
