"""flytekit's compiled closure -> Plan: node ids, upstream ids, kinds, retries, cache flags, sizes."""

from __future__ import annotations

from collections import OrderedDict

from flytekit.tools.translator import get_serializable

from flyte_otel.semconv import NodeKind as K
from propeller_sim import compile as C
from propeller_sim.plan import END_NODE, START_NODE
from propeller_sim.portfolio import BY_NAME


def _closure_nodes(entity: object) -> dict[str, list[str]]:
    spec = get_serializable(OrderedDict(), C._SETTINGS, entity)
    return {n.id: sorted(n.upstream_node_ids) for n in spec.template.nodes}


def test_plan_keeps_the_closure_node_ids_and_upstream_ids() -> None:
    for name in ("tiny_chain", "tiny_parallel", "gate", "parallel_subworkflows"):
        entity = BY_NAME[name].entity
        plan = BY_NAME[name].plan()
        closure = _closure_nodes(entity)
        body = {n.id: sorted(n.upstream) for n in plan.nodes if n.id not in (START_NODE, END_NODE)}
        assert set(body) == set(closure), name
        for node_id, ups in closure.items():
            assert body[node_id] == (ups or [START_NODE]), (name, node_id)


def test_plan_starts_with_start_node_and_ends_with_end_node_fed_by_every_sink() -> None:
    plan = BY_NAME["tiny_parallel"].plan()
    assert plan.nodes[0].kind == K.START and plan.nodes[-1].kind == K.END
    fed = {u for n in plan.nodes[:-1] for u in n.upstream}
    sinks = {n.id for n in plan.nodes[1:-1] if n.id not in fed}
    assert set(plan.nodes[-1].upstream) == sinks
    position = {n.id: i for i, n in enumerate(plan.nodes)}
    assert all(position[u] < position[n.id] for n in plan.nodes for u in n.upstream)


def test_node_kinds_follow_the_closure() -> None:
    kinds = {name: [n.kind for n in BY_NAME[name].plan().nodes[1:-1]] for name in BY_NAME}
    assert K.ARRAY in kinds["big_map"]
    assert K.GATE in kinds["gate"]
    assert K.BRANCH in kinds["branch"]
    assert kinds["launch_plans"].count(K.LAUNCH_PLAN) == BY_NAME["launch_plans"].module.CHILDREN
    assert (
        kinds["parallel_subworkflows"].count(K.SUBWORKFLOW)
        == BY_NAME["parallel_subworkflows"].module.BRANCHES
    )
    assert kinds["nested_dynamic"] == [K.DYNAMIC]


def test_retries_and_cache_flags_come_from_task_metadata() -> None:
    retries = {n.id: n.retries for n in BY_NAME["retries"].plan().nodes}
    assert retries["n1"] == 3 and retries["n0"] == 0
    assert all(n.cacheable for n in BY_NAME["chained_cache"].plan().nodes[1:-1])
    assert not any(n.cacheable for n in BY_NAME["tiny_chain"].plan().nodes)


def test_nested_dynamic_is_compiled_with_its_inputs_two_levels_deep() -> None:
    width = 3
    (outer,) = BY_NAME["nested_dynamic"].plan({"width": width}).nodes[1:-1]
    assert outer.sub is not None
    inner = [n for n in outer.sub.nodes if n.kind == K.DYNAMIC]
    assert len(inner) == width
    for n in inner:
        assert n.sub is not None
        assert sum(1 for m in n.sub.nodes if m.kind == K.TASK) == width + 1  # width incs and a total


def test_map_fan_out_comes_from_the_named_input() -> None:
    (array,) = [n for n in BY_NAME["big_map"].plan({"n": 123}).nodes if n.kind == K.ARRAY]
    assert array.array_size == 123


def test_a_dynamic_compiled_again_with_other_inputs_gets_their_dag() -> None:
    """flytekit caches a dynamic's compiled DAG on the task; each plan must still follow its own inputs."""
    for width in (2, 4, 3):
        (outer,) = BY_NAME["nested_dynamic"].plan({"width": width}).nodes[1:-1]
        assert outer.sub is not None
        assert sum(1 for n in outer.sub.nodes if n.kind == K.DYNAMIC) == width
