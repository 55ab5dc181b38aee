"""Executions with known timings, recorded through flyte_otel on a virtual clock (shared by the test suites).

Every segment length is chosen by the test, so the expected report is known before the analyzer runs:

    with recording() as rec:
        b = Builder(rec, "ex-chain", setup=5 * MS)
        b.task("n0", Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS))
        b.finish(teardown=4 * MS)
    table = rec.table()

`recording()` configures flyte_otel with the SDK's InMemorySpanExporter and a VirtualClock, and
`Recording.table()` turns the finished spans into a SpanTable through the real OTLP protobuf encoder and
`analyzer.load` (the same path as a file on disk). The scenario functions at the bottom build the
ground-truth executions of the report's tests (chain, diamond, retry, cache hit, dynamic, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from analyzer.execution import select_execution
from analyzer.load import load
from analyzer.results import timeline as TL
from analyzer.results.listing import ExecutionSummary
from analyzer.table import SpanTable
from flyte_otel import ids as fo_ids
from flyte_otel import semconv as sc
from flyte_otel.semconv import IdleReason, NodeKind, Phase

US = 1_000
MS = 1_000_000
S = 1_000_000_000
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z: a realistic epoch, so ns arithmetic is exercised


class VirtualClock:
    """A clock that moves only when told: `clock()` is now (ns), `advance(ns)` moves it and returns now."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> int:
        """Move forward by ns and return the new now."""
        self.now += ns
        return self.now


@dataclass
class Recording:
    """The exporter and clock of one `recording()` block."""

    exporter: InMemorySpanExporter
    clock: VirtualClock

    def payload(self) -> bytes:
        """Every span recorded so far as one OTLP protobuf ExportTraceServiceRequest."""
        return encode_spans(self.exporter.get_finished_spans()).SerializeToString()

    def table(self, exec_id: str | None = None) -> SpanTable:
        """Every span recorded so far as a SpanTable (OTLP protobuf -> analyzer.load); one execution if named."""
        table = load(self.payload())
        return table if exec_id is None else select_execution(table, exec_id)


@contextmanager
def recording(*, one_trace: bool = True, start: int = T0) -> Iterator[Recording]:
    """flyte_otel configured with an in-memory exporter (synchronous) and a virtual clock, for one block."""
    with _recording(InMemorySpanExporter(), None, one_trace, start) as rec:
        yield rec


@contextmanager
def _recording(
    memory: InMemorySpanExporter, file: SpanExporter | None, one_trace: bool, start: int
) -> Iterator[Recording]:
    exporter = memory if file is None else _Tee(file, memory)
    clock = VirtualClock(start)
    fo.configure(exporter=exporter, batch=False, one_trace=one_trace, service_name="flytepropeller")
    fo.set_clock(clock)
    try:
        yield Recording(memory, clock)
    finally:
        fo.set_clock(None)
        fo.shutdown()


@dataclass(frozen=True)
class Task:
    """Known lengths (ns) of one task node's segments; `retries` are (failed attempt length, reset gap)."""

    transition: int = 0
    node_setup: int = 0
    task_setup: int = 0
    runtime: int = 0
    task_teardown: int = 0
    node_teardown: int = 0
    retries: Sequence[tuple[int, int]] = ()
    skew: int = 0  # the pod's clock minus propeller's: user code is recorded this much late
    prepare: int = 0  # pod-side spans: the container's run before the user's function (TASK_PREPARE)
    finalize: int = 0  # and after it (TASK_FINALIZE); both 0: no pod-side spans
    hold: int = 0  # held back by max parallelism for this long after ready, before the transition

    def segments(self) -> dict[str, int]:
        """The node's non-zero segment lengths, in time order as far as a task's order is fixed."""
        out = {
            TL.NODE_TRANSITION: self.transition,
            TL.NODE_SETUP: self.node_setup,
            TL.TASK_SETUP: self.task_setup,
            TL.TASK_PREPARE: self.prepare,
            TL.TASK_RUNTIME: self.runtime - self.prepare - self.finalize,
            TL.TASK_FINALIZE: self.finalize,
            TL.TASK_TEARDOWN: self.task_teardown,
            TL.NODE_TEARDOWN: self.node_teardown,
            TL.NODE_IDLE: self.hold,
            TL.RETRIED: sum(a for a, _ in self.retries),
            TL.NODE_RESET: sum(r for _, r in self.retries),
        }
        return {k: v for k, v in out.items() if v}

    @property
    def duration(self) -> int:
        """queued -> terminal."""
        return (
            self.node_setup
            + sum(a + r for a, r in self.retries)
            + self.task_setup
            + self.runtime
            + self.task_teardown
            + self.node_teardown
        )


@dataclass
class Builder:
    """Records one execution node by node with explicit times; `end[node]` is when each node finished."""

    rec: Recording
    exec_id: str
    setup: int = 0  # WORKFLOW_SETUP: the start node runs from execution start to start + setup
    start: int = T0
    end: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, fo.NodeRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ex = fo.execution(self.exec_id, wf="wf", ns="dev", start=self.start)
        start_node = self.ex.node("start-node", kind=NodeKind.START, start=self.start)
        self.end["start-node"] = self.start + self.setup
        start_node.end(Phase.SUCCEEDED, at=self.end["start-node"])

    def ready(self, upstream: Sequence[str], parent: str | None = None) -> int:
        """When a node with these upstream nodes becomes ready (the start node's end at the top level)."""
        if upstream:
            return max(self.end[u] for u in upstream)
        return self.end[parent] if parent is not None else self.end["start-node"]

    def task(self, node_id: str, t: Task, *, upstream: Sequence[str] = ("start-node",), parent: str | None = None,
             ready: int | None = None, kind: str = NodeKind.TASK) -> fo.NodeRecord:  # fmt: skip
        """A task node with the given segment lengths; returns its (ended) record."""
        r = self.ready(upstream) if ready is None else ready
        if t.hold:
            self.ex.hold(node_id, start=r, end=r + t.hold)
        q = r + t.hold + t.transition
        n = self._node(node_id, kind, upstream, parent, q)
        return self._end(n, node_id, self.attempts(n, q, t) + t.node_teardown)

    def attempts(self, n: fo.NodeRecord, queued: int, t: Task, *, index: int | None = None) -> int:
        """A node's attempts from `queued` on (NODE_SETUP, retries, then the last); returns the last one's end."""
        at = queued + t.node_setup
        for number, (length, reset) in enumerate(t.retries):
            a = n.attempt(number, start=at, array_index=index)
            a.user_code(start=at + t.skew, end=at + length + t.skew)
            a.end(Phase.RETRYABLE_FAILURE, at=at + length)
            at += length + reset
        a = n.attempt(len(t.retries), start=at, array_index=index)
        us = at + t.task_setup
        a.user_code(start=us + t.skew, end=us + t.runtime + t.skew)
        if t.prepare or t.finalize:
            pod_spans(n, len(t.retries), index, us + t.skew, us + t.runtime + t.skew, t.prepare, t.finalize)
        a.end(Phase.SUCCEEDED, at=us + t.runtime + t.task_teardown)
        return us + t.runtime + t.task_teardown

    def plain(self, node_id: str, kind: str, *, transition: int, length: int,
              upstream: Sequence[str] = ("start-node",), parent: str | None = None,
              ready: int | None = None) -> fo.NodeRecord:  # fmt: skip
        """A node without attempts (cache hit, branch, start/end of a subworkflow): queued for `length`."""
        q = (self.ready(upstream) if ready is None else ready) + transition
        n = self._node(node_id, kind, upstream, parent, q)
        return self._end(n, node_id, q + length)

    def gate(self, node_id: str, *, transition: int, setup: int, wait: int, teardown: int,
             upstream: Sequence[str] = ("start-node",)) -> fo.NodeRecord:  # fmt: skip
        """A gate node: `setup`, then waiting for approval `wait`, then `teardown`."""
        q = self.ready(upstream) + transition
        n = self._node(node_id, NodeKind.GATE, upstream, None, q)
        n.idle(IdleReason.GATE, start=q + setup, end=q + setup + wait)
        return self._end(n, node_id, q + setup + wait + teardown)

    def open(self, node_id: str, kind: str, *, transition: int, upstream: Sequence[str] = ("start-node",),
             **kw: int | str) -> tuple[fo.NodeRecord, int]:  # fmt: skip
        """A top-level node left open (dynamic, subworkflow, array, launch plan): its record and queued time."""
        q = self.ready(upstream) + transition
        return self._node(node_id, kind, upstream, None, q, **kw), q

    def close(self, node_id: str, at: int) -> None:
        """End a node opened with `open`."""
        self._end(self.nodes[node_id], node_id, at)

    def finish(self, *, teardown: int, upstream: Sequence[str] | None = None) -> int:
        """The end node after `upstream` (default: every top-level node so far), then the execution."""
        ups = (
            list(upstream)
            if upstream is not None
            else [k for k in self.end if "/" not in k and k != "start-node"]
        )
        last = max(self.end[u] for u in ups)
        end_node = self.ex.node("end-node", kind=NodeKind.END, upstream=ups, start=last)
        end_node.end(Phase.SUCCEEDED, at=last + teardown)
        self.ex.end(Phase.SUCCEEDED, at=last + teardown)
        return last + teardown

    def _node(self, node_id: str, kind: str, upstream: Sequence[str], parent: str | None, q: int,
              **kw: int | str) -> fo.NodeRecord:  # fmt: skip
        rec = self.nodes.get(parent) if parent is not None else None
        n = self.ex.node(node_id, kind=kind, upstream=tuple(upstream), parent=rec, start=q, **kw)  # type: ignore[arg-type]
        self.nodes[node_id] = n
        return n

    def _end(self, n: fo.NodeRecord, node_id: str, at: int) -> fo.NodeRecord:
        n.end(Phase.SUCCEEDED, at=at)
        self.end[node_id] = at
        return n


# --- ground-truth scenarios (lengths are the tests' to choose) ----------------------------------------


def build(scenario: Callable[..., Builder], *args: Any, **kwargs: Any) -> SpanTable:
    """One scenario recorded on its own and returned as a SpanTable: ``build(chain, [Task(...)], setup=..)``."""
    with recording() as rec:
        scenario(rec, *args, **kwargs)
        return rec.table()


def pod_spans(n: fo.NodeRecord, attempt: int, index: int | None, start: int, end: int, prepare: int,
              finalize: int) -> None:  # fmt: skip
    """The task pod's own spans under that attempt, as flyte_otel.flytekit_instrumentor makes them: the root over
    the container's run, the user's function inside a timeit block, `prepare` after the start and `finalize`
    before the end."""
    token = otel_context.attach(fo.attempt_context(n.exec_id, n.node_id, attempt, index))
    try:
        with fo.operation(sc.POD_TASK, start=start, end=end), fo.operation("dispatch execute", start=start,
                                                                             end=end):  # fmt: skip
            with fo.operation(sc.POD_DOWNLOAD, start=start, end=start + prepare):
                pass
            with fo.operation(sc.POD_USER_CODE, start=start + prepare, end=end - finalize):
                pass
    finally:
        otel_context.detach(token)


def chain(
    rec: Recording, tasks: Sequence[Task], *, setup: int, teardown: int, exec_id: str = "ex-chain"
) -> Builder:
    """n0 -> n1 -> ... each a task node with the given lengths."""
    b = Builder(rec, exec_id, setup=setup)
    prev = "start-node"
    for i, t in enumerate(tasks):
        b.task(f"n{i}", t, upstream=(prev,))
        prev = f"n{i}"
    b.finish(teardown=teardown, upstream=(prev,))
    return b


def diamond(rec: Recording, top: Task, left: Task, right: Task, bottom: Task, *, setup: int, teardown: int,
            exec_id: str = "ex-diamond") -> Builder:  # fmt: skip
    """n0 -> (n1 | n2) -> n3: the two branches run in parallel."""
    b = Builder(rec, exec_id, setup=setup)
    b.task("n0", top)
    b.task("n1", left, upstream=("n0",))
    b.task("n2", right, upstream=("n0",))
    b.task("n3", bottom, upstream=("n1", "n2"))
    b.finish(teardown=teardown, upstream=("n3",))
    return b


def retry(rec: Recording, t: Task, *, setup: int, teardown: int, exec_id: str = "ex-retry") -> Builder:
    """One task node whose first attempts fail (t.retries)."""
    b = Builder(rec, exec_id, setup=setup)
    b.task("n0", t)
    b.finish(teardown=teardown)
    return b


def cache_hit(rec: Recording, first: Task, *, transition: int, length: int, setup: int, teardown: int,
              exec_id: str = "ex-cache") -> Builder:  # fmt: skip
    """n0 (a task) -> n1 (a cache hit: no pod, queued for `length`)."""
    b = Builder(rec, exec_id, setup=setup)
    b.task("n0", first)
    b.plain("n1", NodeKind.CACHE_HIT, transition=transition, length=length, upstream=("n0",))
    b.finish(teardown=teardown, upstream=("n1",))
    return b


def dynamic(rec: Recording, own: Task, children: Sequence[Task], *, node_teardown: int, setup: int,
            teardown: int, exec_id: str = "ex-dynamic") -> Builder:  # fmt: skip
    """n0: a dynamic whose pod (`own`) yields children n0/c0 -> n0/c1 -> ..., then `node_teardown`."""
    b = Builder(rec, exec_id, setup=setup)
    n, q = b.open("n0", NodeKind.DYNAMIC, transition=own.transition)
    ready = b.attempts(n, q, own)
    prev: tuple[str, ...] = ()
    for i, t in enumerate(children):
        b.task(f"n0/c{i}", t, upstream=prev, parent="n0", ready=ready if not prev else None)
        prev = (f"n0/c{i}",)
    b.close("n0", b.end[prev[0]] + node_teardown)
    b.finish(teardown=teardown, upstream=("n0",))
    return b


def subworkflow(rec: Recording, inner: Task, *, transition: int, start_len: int, end_len: int, node_teardown: int,
                setup: int, teardown: int, exec_id: str = "ex-subwf") -> Builder:  # fmt: skip
    """n0: a subworkflow anchored by its own start and end nodes around one task."""
    b = Builder(rec, exec_id, setup=setup)
    _, q = b.open("n0", NodeKind.SUBWORKFLOW, transition=transition)
    b.plain(
        "n0/start-node", NodeKind.START, transition=0, length=start_len, upstream=(), parent="n0", ready=q
    )
    b.task("n0/t0", inner, upstream=("n0/start-node",), parent="n0")
    b.plain("n0/end-node", NodeKind.END, transition=0, length=end_len, upstream=("n0/t0",), parent="n0")
    b.close("n0", b.end["n0/end-node"] + node_teardown)
    b.finish(teardown=teardown, upstream=("n0",))
    return b


def launch_plan(rec: Recording, inner: Task, *, transition: int, launch: int, child_setup: int,
                child_teardown: int, node_teardown: int, setup: int, teardown: int,
                exec_id: str = "ex-parent", child_id: str = "ex-child") -> Builder:  # fmt: skip
    """n0: a launch plan node; its child execution starts `launch` after n0 is queued and runs one task."""
    b = Builder(rec, exec_id, setup=setup)
    _, q = b.open("n0", NodeKind.LAUNCH_PLAN, transition=transition, child_exec_id=child_id)
    child = Builder(rec, child_id, setup=child_setup, start=q + launch)
    child.task("n0", inner)
    b.close("n0", child.finish(teardown=child_teardown) + node_teardown)
    b.finish(teardown=teardown, upstream=("n0",))
    return b


def array(rec: Recording, subtasks: Sequence[Task], *, transition: int, node_setup: int, stagger: int,
          node_teardown: int, setup: int, teardown: int, exec_id: str = "ex-array") -> Builder:  # fmt: skip
    """n0: an array node whose sub-task i is created node_setup + i * stagger after n0 is queued."""
    b = Builder(rec, exec_id, setup=setup)
    n, q = b.open("n0", NodeKind.ARRAY, transition=transition, array_size=len(subtasks))
    ends = [b.attempts(n, q + node_setup + i * stagger, t, index=i) for i, t in enumerate(subtasks)]
    b.close("n0", max(ends) + node_teardown)
    b.finish(teardown=teardown, upstream=("n0",))
    return b


# --- a store written by flyte_otel's own file exporter (otel-fold list's ground truth) ---------------------
# Flyte execution names (20 characters): OLD and MID differ in their last one, a typo away from each other.
OLD, MID, NOWF, NEW = (
    "ab3kq9x2m7p4r8s1t6u0",
    "ab3kq9x2m7p4r8s1t6u5",
    "n0wfc4d7e1g3h5j7k9m2",
    "zz9pl0w2c4v6b8n1m3q5",
)
_TASK = Task(transition=1 * MS, node_setup=2 * MS, task_setup=3 * MS, runtime=10 * MS, node_teardown=1 * MS)


class _Tee(SpanExporter):
    """The real file exporter, and an in-memory copy of what it was given (the tests' span counts)."""

    def __init__(self, file: SpanExporter, memory: InMemorySpanExporter) -> None:
        self.file, self.memory = file, memory

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.memory.export(spans)
        return self.file.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.file.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self.file.shutdown()  # not the copy: it keeps counting across files


@contextmanager
def writing_to(path: Path, memory: InMemorySpanExporter) -> Iterator[Recording]:
    """flyte_otel (one trace per execution, a virtual clock) writing `path` through its file exporter, every
    span also copied to `memory`."""
    from flyte_otel.file_exporter import OtlpFileExporter

    with _recording(memory, OtlpFileExporter(path), True, T0) as rec:
        yield rec


@dataclass
class Written:
    """Executions written, and what is known of each: (start, end, workflow) and the files holding them."""

    memory: InMemorySpanExporter
    times: dict[str, tuple[int, int, str | None]]
    files: dict[str, set[str]]

    def spans(self, exec_id: str) -> int:
        """Spans written in the execution's trace (one trace per execution), tagged with its id or not."""
        trace_id = fo_ids.execution_ids(exec_id)[0]
        return sum(s.context.trace_id == trace_id for s in self.memory.get_finished_spans())

    def expected(self, exec_id: str) -> ExecutionSummary:
        """The execution as `otel-fold list` must show it."""
        start, end, workflow = self.times[exec_id]
        return ExecutionSummary(
            exec_id, workflow, start, end, self.spans(exec_id), tuple(sorted(self.files[exec_id]))
        )


def write_store(directory: Path) -> Written:
    """Four executions in three files: OLD in a.jsonl with its pod's (un-tagged) spans alone in c.jsonl; MID
    begun in a.jsonl and ended in b.jsonl; NOWF (no workflow name) and NEW in b.jsonl. Each starts 10 s after
    the one before, from T0."""
    directory.mkdir()
    memory = InMemorySpanExporter()
    a, b, c = (str(directory / n) for n in ("a.jsonl", "b.jsonl", "c.jsonl"))
    times: dict[str, tuple[int, int, str | None]] = {}
    with writing_to(Path(a), memory) as rec:
        old = Builder(rec, OLD, setup=1 * MS, start=T0)
        old.task("n0", _TASK)
        times[OLD] = (T0, old.finish(teardown=2 * MS), "wf")
        mid = Builder(rec, MID, setup=1 * MS, start=T0 + 10 * S)
        mid.task("n0", _TASK)
    with writing_to(Path(b), memory) as rec:
        mid.task("n1", _TASK, upstream=("n0",))
        times[MID] = (T0 + 10 * S, mid.finish(teardown=2 * MS), "wf")
        nowf = fo.execution(NOWF, start=T0 + 20 * S)  # no wf: the workflow is unknown
        node = nowf.node("n0", kind=NodeKind.TASK, start=T0 + 20 * S + 1 * MS)
        node.end(Phase.SUCCEEDED, at=T0 + 20 * S + 5 * MS)
        nowf.end(Phase.SUCCEEDED, at=T0 + 20 * S + 7 * MS)
        times[NOWF] = (T0 + 20 * S, T0 + 20 * S + 7 * MS, None)
        new = Builder(rec, NEW, setup=1 * MS, start=T0 + 30 * S)
        new.task("n0", _TASK)
        times[NEW] = (T0 + 30 * S, new.finish(teardown=2 * MS), "wf")
    with writing_to(Path(c), memory):
        pod_spans(old.nodes["n0"], 0, None, T0 + 5 * MS, T0 + 9 * MS, 1 * MS, 1 * MS)
    return Written(memory, times, {OLD: {a, c}, MID: {a, b}, NOWF: {b}, NEW: {b}})
