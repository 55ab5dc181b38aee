"""flytekit entity -> Plan: compile with flytekit's translator, read the flyteidl models once, keep them here."""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.launch_plan import LaunchPlan
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.models.admin.workflow import WorkflowSpec
from flytekit.models.core.workflow import Node, WorkflowTemplate
from flytekit.models.launch_plan import LaunchPlan as LaunchPlanModel
from flytekit.models.task import TaskSpec
from flytekit.tools.translator import get_serializable

from flyte_otel.semconv import NodeKind
from propeller_sim.plan import START_NODE, Plan, PlanNode, with_start_end

__all__ = ["compile_plan"]

_SETTINGS = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="flytesnacks", domain="development", version="sim"
)
# The node id a binding to the workflow's own inputs names: flytekit writes "", the compiled closure START_NODE.
_WORKFLOW_INPUTS = ("", START_NODE)


def compile_plan(
    entity: Any, inputs: Mapping[str, Any] | None = None, array_sizes: Mapping[str, int] | None = None
) -> Plan:
    """Compile a flytekit workflow or launch plan into a Plan.

    `inputs` are the execution's inputs (defaults filled in): dynamic nodes are compiled with them, as the
    dynamic task's pod would. `array_sizes` gives a map node's fan-out by node id (it is only known at run
    time); otherwise it is the length of a literal list input, else 1.
    """
    mapping: OrderedDict[Any, Any] = OrderedDict()
    spec = get_serializable(mapping, _SETTINGS, entity)
    return _Compiler(mapping, dict(array_sizes or {})).top(spec, _defaults(entity, inputs))


def _defaults(entity: Any, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    wf = entity.workflow if isinstance(entity, LaunchPlan) else entity
    values = {k: v for k, (_, v) in wf.python_interface.inputs_with_defaults.items()}
    if isinstance(entity, LaunchPlan):
        values.update(entity.saved_inputs)
    values.update(inputs or {})
    return values


class _Compiler:
    def __init__(self, mapping: OrderedDict[Any, Any], array_sizes: dict[str, int]) -> None:
        self._array_sizes = array_sizes
        self._tasks: dict[tuple[str, str], tuple[Any, TaskSpec]] = {}
        self._workflows: dict[tuple[str, str], WorkflowTemplate] = {}
        self._launch_plans: dict[tuple[str, str], LaunchPlanModel] = {}
        for ent, model in mapping.items():
            self._index(ent, model)

    def _index(self, ent: Any, model: Any) -> None:
        if isinstance(model, TaskSpec):
            self._tasks[_key(model.template.id)] = (ent, model)
        elif isinstance(model, WorkflowSpec):
            for t in (model.template, *model.sub_workflows):
                self._workflows[_key(t.id)] = t
        elif isinstance(model, LaunchPlanModel):
            self._launch_plans[_key(model.id)] = model

    def top(self, spec: Any, inputs: dict[str, Any]) -> Plan:
        if isinstance(spec, LaunchPlanModel):
            tpl = self._workflows[_key(spec.spec.workflow_id)]
            return self._workflow(tpl, inputs, spec.spec.max_parallelism or 0)
        return self._workflow(spec.template, inputs, 0)

    def _workflow(self, tpl: WorkflowTemplate, inputs: dict[str, Any], max_parallelism: int) -> Plan:
        return with_start_end(tpl.id.name, [self._node(n, inputs) for n in tpl.nodes], max_parallelism)

    def _node(self, n: Node, inputs: dict[str, Any]) -> PlanNode:
        for field, build in _BY_TARGET:
            target = getattr(n, field)
            if target is not None:
                return build(self, n, target, inputs)
        raise ValueError(f"node {n.id}: none of {[f for f, _ in _BY_TARGET]} is set")

    def _task(self, n: Node, tn: Any, inputs: dict[str, Any]) -> PlanNode:
        ent, ts = self._tasks[_key(tn.reference_id)]
        md = ts.template.metadata
        kind, sub = (
            (NodeKind.DYNAMIC, self._dynamic(ent, n, inputs)) if _is_dynamic(ent) else (NodeKind.TASK, None)
        )
        return PlanNode(
            n.id,
            kind,
            tuple(n.upstream_node_ids),
            _retries(n) or md.retries.retries,
            cacheable=bool(md.discoverable),
            interruptible=bool(n.metadata and n.metadata.interruptible) or bool(md.interruptible),
            tasktype=ts.template.type,
            task=ts.template.id.name,
            sub=sub,
        )

    def _workflow_node(self, n: Node, wn: Any, inputs: dict[str, Any]) -> PlanNode:
        up = tuple(n.upstream_node_ids)
        if wn.launchplan_ref is not None:
            lp = self._launch_plans[_key(wn.launchplan_ref)]
            tpl = self._workflows[_key(lp.spec.workflow_id)]
            sub = self._workflow(tpl, _literal_inputs(n, inputs), lp.spec.max_parallelism or 0)
            return PlanNode(n.id, NodeKind.LAUNCH_PLAN, up, _retries(n), sub=sub, task=tpl.id.name)
        tpl = self._workflows[_key(wn.sub_workflow_ref)]
        return PlanNode(n.id, NodeKind.SUBWORKFLOW, up, _retries(n), sub=self._workflow(tpl, {}, 0))

    def _branch(self, n: Node, bn: Any, inputs: dict[str, Any]) -> PlanNode:
        # The condition is evaluated at run time; the simulator takes the first case.
        # Its upstream ids name nodes of the enclosing workflow: inside the branch it is the only node.
        chosen = replace(self._node(bn.if_else.case.then_node, inputs), upstream=())
        sub = with_start_end(f"{n.id}-branch", [chosen])
        return PlanNode(n.id, NodeKind.BRANCH, tuple(n.upstream_node_ids), sub=sub)

    def _gate(self, n: Node, g: Any, inputs: dict[str, Any]) -> PlanNode:
        wait = g.sleep.duration.total_seconds() if g.sleep is not None else 0.0
        return PlanNode(n.id, NodeKind.GATE, tuple(n.upstream_node_ids), gate_wait_s=wait)

    def _array(self, n: Node, an: Any, inputs: dict[str, Any]) -> PlanNode:
        inner = self._node(an.node, inputs)
        return replace(
            inner,
            id=n.id,
            kind=NodeKind.ARRAY,
            upstream=tuple(n.upstream_node_ids),
            retries=_retries(n) or inner.retries,
            array_size=self._array_sizes.get(n.id) or _list_len(an.node) or 1,
            array_parallelism=an._parallelism or 0,  # the model has no public accessor
        )

    def _dynamic(self, ent: PythonFunctionTask, n: Node, inputs: dict[str, Any]) -> Plan:
        """Compile the DAG the dynamic task's pod would produce, with its inputs where they are known."""
        kwargs = _literal_inputs(n, inputs)
        missing = set(ent.python_interface.inputs) - set(kwargs)
        if missing:
            raise ValueError(
                f"dynamic node {n.id} ({ent.name}): inputs {sorted(missing)} come from upstream outputs"
            )
        ctx = FlyteContextManager.current_context().with_serialization_settings(_SETTINGS).build()
        # flytekit keeps the first compiled DAG on the task (`_wf`, compiled once: one pod runs one dynamic);
        # the simulator compiles it again for every set of inputs, so a wider run is not given a narrower DAG
        ent._wf = None
        with FlyteContextManager.with_context(ctx.new_builder()) as c:
            djs = ent.compile_into_workflow(c, ent._task_function, **kwargs)
        for t in getattr(djs, "tasks", ()):
            if _key(t.id) not in self._tasks:
                self._tasks[_key(t.id)] = (_resolve(t.id.name), TaskSpec(t))
        for w in getattr(djs, "subworkflows", ()):
            self._workflows.setdefault(_key(w.id), w)
        nodes = [self._node(dn, {}) for dn in getattr(djs, "nodes", ())]
        return with_start_end(f"{ent.name}-dynamic", nodes)


# Which field of a flyteidl Node is set decides its kind; the first set one wins.
_BY_TARGET: tuple[tuple[str, Callable[[_Compiler, Node, Any, dict[str, Any]], PlanNode]], ...] = (
    ("task_node", _Compiler._task),
    ("workflow_node", _Compiler._workflow_node),
    ("branch_node", _Compiler._branch),
    ("gate_node", _Compiler._gate),
    ("array_node", _Compiler._array),
)


def _retries(n: Node) -> int:
    return n.metadata.retries.retries if n.metadata and n.metadata.retries else 0


def _is_dynamic(ent: Any) -> bool:
    return (
        isinstance(ent, PythonFunctionTask)
        and ent.execution_mode == PythonFunctionTask.ExecutionBehavior.DYNAMIC
    )


def _key(identifier: Any) -> tuple[str, str]:
    return (identifier.name, identifier.version)


def _resolve(name: str) -> Any:
    module, attr = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attr)


def _literal_inputs(n: Node, inputs: dict[str, Any]) -> dict[str, Any]:
    """A node's inputs that are known before it runs: literals, or the workflow's own inputs."""
    out: dict[str, Any] = {}
    for b in n.inputs:
        if b.binding.scalar is not None and b.binding.scalar.primitive is not None:
            out[b.var] = b.binding.scalar.primitive.value
        elif b.binding.promise is not None and b.binding.promise.node_id in _WORKFLOW_INPUTS:
            var = b.binding.promise.var
            if var in inputs:
                out[b.var] = inputs[var]
    return out


def _list_len(n: Node) -> int:
    for b in n.inputs:
        if b.binding.collection is not None:
            return len(b.binding.collection.bindings)
    return 0
