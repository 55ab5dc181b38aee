"""The upstream dialect is FlytePropeller v1.16's, checked against docs/upstream.md read as data.

§1's table gives every span upstream emits (service, kind, attributes, parent); §3's rules give the events and
the CRD writes each kind of node costs. The expected counts below are derived from those rules and the compiled
plan, not from a run.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from flyte_otel import semconv as sc
from propeller_sim.clock import VirtualClock
from propeller_sim.engine import Simulator
from propeller_sim.plan import Plan, PlanNode, with_start_end
from propeller_sim.portfolio import BY_NAME, PORTFOLIO
from propeller_sim.profile import load_profile
from tests.propeller_sim.conftest import Spans, attr

K = sc.NodeKind
_DOC = Path(__file__).resolve().parents[2] / "docs" / "upstream.md"
_CTX = ("exec_id", "ns", "routine", "wf", "res_ver", "node", "tasktype")  # §0.1's keys, as "ctx" means
_KEY = re.compile(
    r"(?<![\w.])(no )?(exec_id|ns|routine|wf|res_ver|node|tasktype|rpc\.[a-z_.]+|net\.[a-z_.]+)\b"
)


@dataclass(frozen=True)
class Row:
    service: str
    kind: SpanKind
    keys: frozenset[str]
    parent: str  # the parent cell's text


def _table() -> dict[str, Row]:
    """§1 of docs/upstream.md: span name -> what upstream sets on it."""
    section = _DOC.read_text().split("## 1.", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, Row] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 8 or cells[0] in ("service", "---"):
            continue
        service, name, kind, attrs, parent = cells[:5]
        keys = {m.group(2) for m in _KEY.finditer(attrs) if not m.group(1)}
        if "ctx" in attrs.split(":")[0].split("(")[0]:  # "ctx" / "caller ctx": whatever the caller had
            keys |= set(_CTX)
        rows[name] = Row(service, SpanKind[kind.upper()], frozenset(keys), parent)
    return rows


TABLE = _table()


def test_the_table_parses_as_the_doc_counts_it() -> None:
    assert len(TABLE) == 27  # "Table size. 27 span names"
    assert TABLE[sc.HANDLE_TASK].keys == {"exec_id", "ns", "routine", "wf", "res_ver", "node"}
    assert TABLE[sc.STREAK].keys == {"exec_id", "ns", "routine"}
    assert "rpc.grpc.status_code" in TABLE[sc.CREATE_NODE_EVENT].keys


def _run(
    traced: Spans, plan: Plan, failures: dict[str, int] | None = None, runs: int = 1
) -> list[ReadableSpan]:
    exporter = traced("upstream")
    sim = Simulator(
        load_profile("fixed"), seed=7, clock=VirtualClock(1_700_000_000_000_000_000), dialect="upstream"
    )
    for _ in range(runs):
        assert sim.run(plan, failures=failures).phase == sc.Phase.SUCCEEDED
    return list(exporter.get_finished_spans())


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@pytest.mark.parametrize("name", [e.name for e in PORTFOLIO])
def test_every_span_is_one_upstream_emits_with_only_its_keys(traced: Spans, name: str) -> None:
    entry = BY_NAME[name]
    spans = _run(
        traced, entry.plan(small=True), dict(entry.sim_failures()), runs=2 if name == "chained_cache" else 1
    )
    by_id = {s.context.span_id: s for s in spans}
    pods = [s for s in spans if s.resource.attributes["service.name"] == sc.SERVICE_TASK_POD]
    assert pods  # the task pods' own spans (flyte_otel's instrumentor, docs/pod_spans.md), not propeller's:
    for s in set(spans) - set(pods):
        row = TABLE.get(s.name)
        assert row is not None, f"{s.name}: upstream emits no such span"
        assert s.resource.attributes["service.name"] == row.service, s.name
        assert s.kind == row.kind, s.name
        assert set(s.attributes or {}) <= row.keys, (s.name, set(s.attributes or {}) - row.keys)
        if s.parent is None:
            assert re.search(r"\bnone\b", row.parent), f"{s.name} is a root, upstream's has a parent"
        else:
            parent = _short(by_id[s.parent.span_id].name)
            assert re.search(rf"\b{re.escape(parent)}\b", row.parent), (s.name, parent)


# --- §3: steps, events and CRD writes per kind of node --------------------------------------------------------

# Node kind -> (changed streaks, node events, task events) of one node, nested nodes not included (§3.5, §3.6).
_PER_KIND = {
    K.START: (1, 1, 0),  # NYS→Succeeded
    K.END: (2, 2, 0),  # NYS→Queued→Succeeded
    K.TASK: (5, 3, 3),  # →Queued, →Running (pod), pod seen running, →Succeeding, →Succeeded (finalize)
    K.GATE: (3, 3, 0),  # →Queued, →Running, →Succeeded
    K.BRANCH: (3, 3, 0),  # →Queued, →Running (decide), →Succeeded after the taken node
    K.SUBWORKFLOW: (3, 3, 0),  # as a branch; its start node succeeds in the →Running streak (not counted)
    # as a task up to the pod's end, then parent finalizing, finalized, →DynamicRunning, →Succeeding,
    # →Succeeded; the task events stop at the pod's SUCCEEDED and there is one more node event
    K.DYNAMIC: (8, 4, 3),
    K.LAUNCH_PLAN: (3, 3, 0),  # the child execution counts on its own
}


def _execution(plan: Plan, failures: dict[str, int]) -> Counter[str]:
    """One execution: its nodes, and the workflow's Ready→Running, →Succeeding, →Succeeded (an event each)."""
    return _expected(plan, failures) + Counter(writes=3, wf=3)


def _expected(plan: Plan, failures: dict[str, int], prefix: str = "") -> Counter[str]:
    """Writes, node/task/workflow events of an execution of `plan`, its nested nodes and child executions."""
    out: Counter[str] = Counter()
    for n in plan.nodes:
        if n.kind == K.BRANCH:
            assert n.sub is not None  # the taken node runs without start and end nodes
            taken = Plan(n.sub.name, tuple(x for x in n.sub.nodes if x.kind not in (K.START, K.END)))
            out += _expected(taken, failures, f"{prefix}{n.id}/")
        elif n.kind == K.SUBWORKFLOW or n.kind == K.DYNAMIC:
            assert n.sub is not None
            out += _expected(n.sub, failures, f"{prefix}{n.id}/")
            out["writes"] -= n.kind == K.SUBWORKFLOW  # the inner start node shares the parent's streak
        elif n.kind == K.LAUNCH_PLAN:
            assert n.sub is not None
            out += _execution(n.sub, {})
        writes, node_events, task_events = _PER_KIND.get(n.kind, (0, 0, 0))
        f = failures.get(prefix + n.id, 0)  # per failed attempt: seen running, failed, retrying, new pod
        out["writes"] += writes + 4 * f
        out["node"] += node_events
        out["task"] += task_events + 4 * f  # QUEUED, RUNNING, FAILED, ABORTED
    return out


def _counts(spans: list[ReadableSpan]) -> Counter[str]:
    names = Counter(s.name for s in spans)
    return Counter(
        writes=names[sc.WORKFLOW_STORE_UPDATE],
        wf=names[sc.CREATE_WORKFLOW_EVENT],
        node=names[sc.CREATE_NODE_EVENT],
        task=names[sc.CREATE_TASK_EVENT],
    )


# Workflows whose nodes run one at a time: every step is its own streak, so writes add up exactly.
_SEQUENTIAL = ["tiny_chain", "chained_cache", "retries", "branch", "gate", "large_payload"]


@pytest.mark.parametrize("name", _SEQUENTIAL)
def test_sequential_workflows_write_once_per_step_and_send_the_rules_events(traced: Spans, name: str) -> None:
    entry = BY_NAME[name]
    plan, failures = entry.plan(small=True), dict(entry.sim_failures())
    assert _counts(_run(traced, plan, failures)) == _execution(plan, failures)


@pytest.mark.parametrize("name", ["tiny_parallel", "nested_dynamic", "launch_plans", "parallel_subworkflows"])
def test_parallel_workflows_send_the_rules_events(traced: Spans, name: str) -> None:
    """Parallel nodes share streaks (how many depends on timing), but each node's events do not."""
    entry = BY_NAME[name]
    plan = entry.plan(small=True)
    want = _execution(plan, dict(entry.sim_failures()))
    got = _counts(_run(traced, plan, dict(entry.sim_failures())))
    assert (got["wf"], got["node"], got["task"]) == (want["wf"], want["node"], want["task"])
    assert got["writes"] <= want["writes"]  # parallel steps may share a write


def test_a_cached_chain_run_again_is_one_event_and_one_write_per_node(traced: Spans) -> None:
    plan = BY_NAME["chained_cache"].plan(small=True)
    spans = _run(traced, plan, runs=2)
    tasks = sum(1 for n in plan.nodes if n.kind == K.TASK)
    first = _execution(plan, {})
    # the second run: each task a cache hit, NYS→Succeeded in one step, one node event, no task event
    assert _counts(spans) == Counter(
        writes=2 * first["writes"] - tasks * 4,
        wf=6,
        node=2 * first["node"] - tasks * 2,
        task=first["task"],
    )
    assert Counter(s.name for s in spans)[sc.WRITE_CATALOG_CACHE] == tasks


def test_an_array_node_sends_no_sub_node_events_and_aggregates_task_events(traced: Spans) -> None:
    entry = BY_NAME["big_map"]
    plan = entry.plan(small=True)
    spans = _run(traced, plan)
    size = next(n.array_size for n in plan.nodes if n.kind == K.ARRAY)
    others = _execution(Plan("rest", tuple(n for n in plan.nodes if n.kind != K.ARRAY)), {})
    got = _counts(spans)
    assert got["node"] == others["node"] + 3  # the array node's own QUEUED, RUNNING, SUCCEEDED
    # QUEUED and SUCCEEDED, plus at most one per handle in between: far fewer than 3 per sub-task
    assert 3 <= got["task"] - others["task"] < 3 * size
    sub_nodes = {
        attr(s, sc.NODE_ID)
        for s in spans
        if s.name == sc.HANDLE_NODE and str(attr(s, sc.NODE_ID)).startswith("n1/")
    }
    assert sub_nodes == {f"n1/n{i}" for i in range(size)}


def _rounds(spans: list[ReadableSpan]) -> list[list[list[ReadableSpan]]]:
    """Per round (in time order), per streak, the streak's spans below it in start order."""
    kids: dict[int, list[ReadableSpan]] = defaultdict(list)
    for s in spans:
        if s.parent is not None:
            kids[s.parent.span_id].append(s)

    def below(s: ReadableSpan) -> list[ReadableSpan]:
        out = []
        for c in sorted(kids[s.context.span_id], key=lambda c: c.start_time or 0):
            out += [c, *below(c)]
        return out

    rounds = sorted((s for s in spans if s.name == sc.ROUND), key=lambda s: s.start_time or 0)
    return [[below(st) for st in kids[r.context.span_id] if st.name == sc.STREAK] for r in rounds]


def test_first_round_of_a_one_task_workflow_has_the_rfc_samples_streaks(traced: Spans) -> None:
    """RFC §6's round 1.1 (docs/upstream.md §3.5): one node transition per streak."""
    plan = with_start_end("one", [PlanNode("n0", K.TASK, tasktype="python-task")])
    first = _rounds(_run(traced, plan))[0]
    shapes = [[(_short(s.name), attr(s, sc.NODE_ID)) for s in streak] for streak in first]
    assert shapes[:4] == [
        [("WriteProtobuf", "start-node"), ("CreateWorkflowEvent", None), ("WorkflowStore.Update", None)],
        [("handleNode", "start-node"), ("CreateNodeEvent", None), ("WorkflowStore.Update", None)],
        [
            ("handleNode", "n0"),
            ("ReadProtobuf", "n0"),
            ("WriteProtobuf", "n0"),
            ("CreateNodeEvent", None),
            ("WorkflowStore.Update", None),
        ],  # fmt: skip
        [
            ("handleNode", "n0"),
            ("HandleTask", "n0"),
            ("CreateTaskEvent", None),
            ("CreateNodeEvent", None),
            ("WorkflowStore.Update", None),
        ],  # fmt: skip
    ]
    # then the pod is polled until a streak changes nothing, which writes nothing and ends the round
    assert [n for n, _ in shapes[-1]] == ["handleNode", "HandleTask", "Get"]


@pytest.mark.parametrize("name", ["tiny_parallel", "nested_dynamic", "big_map"])
def test_rounds_stop_at_the_first_streak_that_changes_nothing(traced: Spans, name: str) -> None:
    entry = BY_NAME[name]
    for streaks in _rounds(_run(traced, entry.plan(small=True))):
        writes = [any(s.name == sc.WORKFLOW_STORE_UPDATE for s in st) for st in streaks]
        assert all(writes[:-1])
        assert len(streaks) <= 8


@pytest.mark.parametrize("name", ["tiny_parallel", "retries", "nested_dynamic", "big_map", "launch_plans"])
def test_both_dialects_write_the_same_behaviour(traced: Spans, name: str) -> None:
    """One model, two writers: flyte_otel's trace has every upstream operation, at the same times, and more."""
    entry = BY_NAME[name]
    plan, failures = entry.plan(small=True), dict(entry.sim_failures())

    def operations(dialect: str) -> Counter[tuple[str, int, int]]:
        exporter = traced(dialect)
        sim = Simulator(
            load_profile("default"), seed=11, clock=VirtualClock(1_700_000_000_000_000_000), dialect=dialect
        )
        sim.run(plan, failures=failures)
        return Counter((s.name, s.start_time or 0, s.end_time or 0) for s in exporter.get_finished_spans())

    upstream, ours = operations("upstream"), operations("flyte_otel")
    assert upstream and not upstream - ours
    extra = {n for n, _, _ in ours - upstream}
    # what upstream does not trace (pod writes, launch-plan admin calls) and flyte_otel's lifecycle records
    assert extra <= {sc.K8S_CLIENT_PREFIX + "Create", sc.K8S_CLIENT_PREFIX + "Delete",
                     sc.ADMIN_SERVICE_PREFIX + "CreateExecution", sc.EXECUTION, sc.NODE, sc.ATTEMPT,
                     sc.USER_CODE, sc.IDLE}  # fmt: skip
