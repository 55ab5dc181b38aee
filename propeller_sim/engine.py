"""The propeller loop: a work queue and workers, rounds of streaks over the DAG, node and pod state machines.

It follows FlytePropeller's controller: a worker takes a workflow off the queue (one round), reads the CRD,
then traverses the DAG up to `max_streak_length` times (streaks), writing the CRD to etcd after every streak
that changed something. Pod phase changes (informer), child executions ending and the re-evaluation period
put the workflow back on the queue. Every operation is one flyte_otel span whose latency comes from the profile.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import flyte_otel as fo
from flyte_otel import semconv as sc
from propeller_sim.clock import Clock, VirtualClock
from propeller_sim.plan import END_NODE, START_NODE, Plan, PlanNode
from propeller_sim.profile import Latencies, Profile

__all__ = ["DIALECTS", "NAMESPACE", "Dialect", "Result", "Simulator", "configure"]

K = sc.NodeKind
P = sc.Phase
_EK = sc.EventKind
NAMESPACE = "flytesnacks-development"  # the Kubernetes namespace every simulated execution runs in
_META_BYTES = 1024  # a node's inputs.pb / outputs.pb literal map in the metadata bucket
_TERMINAL = frozenset({P.SUCCEEDED, P.FAILED})
_POD_KINDS = frozenset({K.TASK, K.DYNAMIC, K.ARRAY})  # count against max parallelism while their pods run
_HOLDS_UNTIL_DONE = frozenset({K.TASK, K.ARRAY})  # a dynamic's own pod is done when its sub-DAG starts
_LOOKS_UP = frozenset({K.TASK, K.DYNAMIC})  # cacheable kinds that check the data catalog before a pod


@dataclass(frozen=True)
class Dialect:
    """How the traces look: flyte_otel's one trace per execution with lifecycle records, or upstream's."""

    one_trace: bool
    upstream_services: bool  # blobstore-client, k8s-client, admin-client as their own services
    lifecycle: bool  # flyte.execution / flyte.node / flyte.task.attempt records


# The dialects by the name `otel-fold bench --dialect` takes.
DIALECTS: Mapping[str, Dialect] = {
    "flyte_otel": Dialect(one_trace=True, upstream_services=False, lifecycle=True),
    "upstream": Dialect(one_trace=False, upstream_services=True, lifecycle=False),
}


def configure(dialect: str, **kwargs: Any) -> None:
    """fo.configure() for a dialect (kwargs: exporter, path, endpoint, batch...)."""
    d = DIALECTS[dialect]
    fo.configure(one_trace=d.one_trace, upstream_services=d.upstream_services, **kwargs)


@dataclass(frozen=True)
class Result:
    """One simulated execution."""

    exec_id: str
    workflow: str
    phase: str
    start_ns: int
    end_ns: int


class _NoRecord:
    """Lifecycle records in the upstream dialect, which has none: every call is accepted and dropped."""

    def __getattr__(self, name: str) -> Callable[..., _NoRecord]:
        return lambda *a, **k: self


_NO_RECORD: Any = _NoRecord()


class _Pod:
    """One attempt's pod timeline, drawn when it is created: the informer reports each change when it happens."""

    __slots__ = ("user_start", "user_end", "terminal")

    def __init__(self, user_start: int, user_end: int, terminal: int) -> None:
        self.user_start, self.user_end, self.terminal = user_start, user_end, terminal


class _Node:
    """Runtime status of one node of one execution (what the CRD's node status holds)."""

    __slots__ = ("spec", "path", "upstream_paths", "scope", "phase", "record", "attempt", "attempt_rec", "pod",
                 "task_running", "ready_at", "queued_at", "sub", "child", "gate_start", "array")  # fmt: skip

    def __init__(self, spec: PlanNode, path: str, upstream_paths: tuple[str, ...], scope: _Scope) -> None:
        self.spec = spec
        self.path = path
        self.upstream_paths = upstream_paths
        self.scope = scope
        self.phase: str | None = None  # None: not yet started
        self.record: Any = _NO_RECORD
        self.attempt = -1
        self.attempt_rec: Any = _NO_RECORD
        self.pod: _Pod | None = None
        self.task_running = False
        self.ready_at: int | None = None  # when max parallelism first held it back
        self.queued_at = 0
        self.sub: _Scope | None = None
        self.child: _Execution | None = None
        self.gate_start = 0
        self.array: _Array | None = None


class _Scope:
    """The nodes of one (sub)workflow inside an execution: the root, a subworkflow, a dynamic's DAG, a branch."""

    __slots__ = ("plan", "nodes", "parent", "_by_id")

    def __init__(self, plan: Plan, prefix: str, parent: _Node | None) -> None:
        self.plan = plan
        self.parent = parent
        self.nodes: list[_Node] = []
        paths = {n.id: prefix + n.id for n in plan.nodes}
        for n in plan.nodes:
            self.nodes.append(_Node(n, paths[n.id], tuple(paths[u] for u in n.upstream), self))
        self._by_id = {st.spec.id: st for st in self.nodes}

    def get(self, node_id: str) -> _Node:
        return self._by_id[node_id]


class _Array:
    """A map node's sub-tasks: launched up to the parallelism, observed through their pod events."""

    __slots__ = ("next", "done", "running", "events", "attempts")

    def __init__(self) -> None:
        self.next = 0
        self.done = 0
        self.running = 0
        self.events: list[tuple[int, int, bool]] = []  # (time, index, is_terminal) heap
        self.attempts: dict[int, Any] = {}


class _Execution:
    __slots__ = ("id", "plan", "root", "record", "parent", "started", "done_at", "phase", "running",
                 "busy_until", "last_round", "nodes_started", "array_bytes", "created", "spec_nodes")  # fmt: skip

    def __init__(self, exec_id: str, plan: Plan, created: int, parent: _Execution | None) -> None:
        self.id = exec_id
        self.plan = plan
        self.root = _Scope(plan, "", None)
        self.record: Any = _NO_RECORD
        self.parent = parent
        self.started = False
        self.done_at: int | None = None
        self.phase = P.QUEUED
        self.running = 0
        self.busy_until = created
        self.last_round = -1
        self.nodes_started = 0
        self.array_bytes = 0
        self.created = created
        self.spec_nodes = plan.count()  # the workflow spec inside the CRD: every node, nested ones included


class Simulator:
    """Runs compiled workflows the way FlytePropeller does, on a virtual (default) or real clock."""

    def __init__(
        self,
        profile: Profile,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        dialect: str = "flyte_otel",
        workers: int = 4,
        max_streak_length: int = 8,
    ) -> None:
        self.profile = profile
        self.max_streak_length = max_streak_length
        self.failures: Mapping[str, int] = {}  # node path -> attempts that fail before one succeeds
        self._lat = Latencies(profile, seed)
        self._draw = self._lat.draw
        self._clock = clock if clock is not None else VirtualClock()
        self._lifecycle = DIALECTS[dialect].lifecycle
        self._ids = np.random.default_rng()  # execution ids are unique per process, like FlyteAdmin's
        self._workers = [0] * workers
        self._catalog: set[tuple[str | None, str]] = set()  # data catalog: survives across executions
        self._wakes: list[tuple[int, int, _Execution]] = []
        self._seq = itertools.count()

    def run(
        self, plan: Plan, *, failures: Mapping[str, int] | None = None, exec_id: str | None = None
    ) -> Result:
        """Execute `plan` to completion; `failures`: node path -> attempts that fail before one succeeds."""
        self.failures = failures or {}
        clock = self._clock
        fo.set_clock(clock.now if clock.virtual else None)
        try:
            ex = self._create(plan, exec_id or self._new_exec_id(), clock.now(), None)
            self._loop(ex)
        finally:
            fo.set_clock(None)
        assert ex.done_at is not None
        return Result(ex.id, plan.name, ex.phase, ex.created, ex.done_at)

    # --- the work queue ----------------------------------------------------------------------------------

    def _new_exec_id(self) -> str:
        letters = self._ids.integers(0, 36, 19)
        return "f" + "".join("abcdefghijklmnopqrstuvwxyz0123456789"[i] for i in letters)

    def _create(self, plan: Plan, exec_id: str, at: int, parent: _Execution | None) -> _Execution:
        ex = _Execution(exec_id, plan, at, parent)
        if self._lifecycle:
            ex.record = fo.execution(exec_id, wf=plan.name, ns=NAMESPACE, start=at)
        self._wake(ex, at + self._draw("queue.delay"))
        return ex

    def _wake(self, ex: _Execution, at: int) -> None:
        heapq.heappush(self._wakes, (at, next(self._seq), ex))

    def _loop(self, top: _Execution) -> None:
        wakes, workers, clock = self._wakes, self._workers, self._clock
        while top.done_at is None:
            if not wakes:
                raise RuntimeError(f"simulator: execution {top.id} is stuck (nothing left to wake it)")
            at, _, ex = heapq.heappop(wakes)
            if ex.phase in _TERMINAL or ex.last_round >= at:
                continue  # a round that started at or after this wake-up has already seen the change
            start = max(at, ex.busy_until, workers[0])
            clock.wait_until(start)
            ex.last_round = start
            again = self._round(ex)
            ex.busy_until = end = clock.now()
            heapq.heapreplace(workers, end)
            if ex.phase in _TERMINAL:
                self._finish(ex, end)
            elif again:
                self._wake(ex, end + self._draw("queue.delay"))
        wakes.clear()

    # --- a round: streaks over the DAG, an etcd write per streak that changed something ---------------------

    def _round(self, ex: _Execution) -> bool:
        """One round; True when it stopped at the streak limit with work left (so it is re-queued at once)."""
        spend, draw = self._clock.spend, self._draw
        with fo.round(ex.id, wf=ex.plan.name, ns=NAMESPACE):
            with fo.workflow_store_get(ex.id):
                spend(draw("etcd.read"))
            for _ in range(self.max_streak_length):
                with fo.streak(ex.id, wf=ex.plan.name) as span:
                    changed = self._start_workflow(ex) if not ex.started else False
                    changed = self._walk(ex, ex.root) or changed
                    if changed:
                        span.set_attribute(sc.STREAK_CHANGED, True)
                        with fo.workflow_store_update(ex.id, size_bytes=self._crd_size(ex)):
                            spend(draw("etcd.write"))
                if not changed or ex.phase in _TERMINAL:
                    return False
            return True

    def _crd_size(self, ex: _Execution) -> int:
        p = self.profile
        return p.crd_base_bytes + p.crd_node_bytes * (ex.spec_nodes + ex.nodes_started) + ex.array_bytes

    def _start_workflow(self, ex: _Execution) -> bool:
        ex.started = True
        self._event(_EK.WORKFLOW, ex, None, P.RUNNING, P.QUEUED, "event.workflow")
        ex.phase = P.RUNNING
        return True

    def _end_workflow(self, ex: _Execution, phase: str) -> None:
        self._event(_EK.WORKFLOW, ex, None, phase, ex.phase, "event.workflow")
        ex.phase = phase

    def _finish(self, ex: _Execution, at: int) -> None:
        """Done once the round that reached the terminal phase has written it to etcd."""
        ex.done_at = at
        ex.record.end(ex.phase, at=at)
        if ex.parent is not None:  # the parent's launch plan node learns of it on its next round
            self._wake(ex.parent, at + self._draw("queue.delay"))

    def _walk(self, ex: _Execution, scope: _Scope) -> bool:
        """One traversal: handle every started or ready node, in topological order."""
        changed = False
        nodes = scope.get
        for st in scope.nodes:
            if st.phase in _TERMINAL:
                continue
            if any(nodes(u).phase != P.SUCCEEDED for u in st.spec.upstream):
                continue
            if self._handle(ex, st):
                changed = True
            if ex.phase in _TERMINAL:
                break
        return changed

    def _handle(self, ex: _Execution, st: _Node) -> bool:
        with fo.handle_node(ex.id, st.path, phase=st.phase or P.UNDEFINED):
            self._clock.spend(self._draw("node.handle"))
            return _PHASE_HANDLERS[st.phase](self, ex, st)

    # --- transitions and events -----------------------------------------------------------------------------

    def _event(
        self, kind: str, ex: _Execution, node: str | None, phase: str, phase_from: str, op: str
    ) -> None:
        if self._lifecycle:
            span = fo.event(kind, ex.id, node=node, phase=phase, phase_from=phase_from)
        else:  # upstream's gRPC client spans carry no log context: they belong to an execution by ancestry
            span = fo.event(kind, None, phase=phase, phase_from=phase_from)  # type: ignore[arg-type]
        with span:
            self._clock.spend(self._draw(op))

    def _transition(self, ex: _Execution, st: _Node, phase: str) -> None:
        """A node phase change: exactly one node event."""
        self._event(_EK.NODE, ex, st.path, phase, st.phase or P.UNDEFINED, "event.node")
        st.phase = phase

    def _succeed(self, ex: _Execution, st: _Node) -> bool:
        self._transition(ex, st, P.SUCCEEDED)
        st.record.end(P.SUCCEEDED, at=self._clock.now())
        if st.spec.kind in _HOLDS_UNTIL_DONE or (st.spec.kind == K.DYNAMIC and st.sub is None):  # a cache hit
            ex.running -= 1
        return True

    def _fail(self, ex: _Execution, st: _Node) -> bool:
        self._transition(ex, st, P.FAILED)
        st.record.end(P.FAILED, at=self._clock.now())
        self._end_workflow(ex, P.FAILED)
        return True

    def _open_record(self, ex: _Execution, st: _Node, kind: str, queued_at: int) -> None:
        parent = st.scope.parent
        st.record = ex.record.node(
            st.path,
            kind=kind,
            upstream=st.upstream_paths,
            parent=parent.record if parent is not None else None,
            start=queued_at,
            child_exec_id=st.child.id if st.child is not None else None,
            array_size=st.spec.array_size or None,
        )

    def _blob(self, write: bool, ex: _Execution, st: _Node, name: str) -> None:
        helper, op = (fo.blob_write, "blobstore.write") if write else (fo.blob_read, "blobstore.read")
        key = f"s3://metadata/{ex.id}/{st.path}/{name}"
        with helper(key, size_bytes=_META_BYTES, exec_id=ex.id, node=st.path):
            self._clock.spend(self._draw(op))

    # --- phase handlers (dispatched by _PHASE_HANDLERS, then by node kind) ------------------------------------

    def _not_started(self, ex: _Execution, st: _Node) -> bool:
        """Ready: queue it (inputs gathered and written, QUEUED event), unless max parallelism holds it back."""
        kind = st.spec.kind
        now = self._clock.now()
        if kind in (K.START, K.END):
            return _BOUNDARY[kind](self, ex, st, now)
        limit = ex.plan.max_parallelism
        if kind in _POD_KINDS and limit and ex.running >= limit:
            if st.ready_at is None:
                st.ready_at = now
            return False
        if st.ready_at is not None:
            ex.record.hold(st.path, start=st.ready_at, end=now)
        for u, path in zip(st.spec.upstream, st.upstream_paths, strict=True):
            if u != START_NODE:
                self._blob(False, ex, st, f"../{path}/outputs.pb")
        self._blob(True, ex, st, "inputs.pb")
        if kind in _POD_KINDS:
            ex.running += 1
        ex.nodes_started += 1
        st.queued_at = self._clock.now()
        self._transition(ex, st, P.QUEUED)
        # A cacheable task's kind (task or cache hit) is known after the look-up, a child execution's id
        # after it is created: their records open then, with the same start.
        if not (st.spec.cacheable and kind in _LOOKS_UP) and kind != K.LAUNCH_PLAN:
            self._open_record(ex, st, kind, st.queued_at)
        return True

    def _start_node(self, ex: _Execution, st: _Node, now: int) -> bool:
        self._open_record(ex, st, K.START, now)
        return self._succeed(ex, st)

    def _end_node(self, ex: _Execution, st: _Node, now: int) -> bool:
        self._open_record(ex, st, K.END, now)
        self._blob(True, ex, st, "outputs.pb")
        self._succeed(ex, st)
        if st.scope is ex.root:
            self._end_workflow(ex, P.SUCCEEDED)
        return True

    def _queued(self, ex: _Execution, st: _Node) -> bool:
        return _START_BY_KIND[st.spec.kind](self, ex, st)

    def _start_task(self, ex: _Execution, st: _Node) -> bool:
        spec = st.spec
        if spec.cacheable:
            key = (spec.task, st.path)
            with fo.cache_lookup(ex.id, st.path) as span:
                self._clock.spend(self._draw("cache.lookup"))
                hit = key in self._catalog
                span.set_attribute(sc.CACHE_HIT, hit)
            if hit:
                self._open_record(ex, st, K.CACHE_HIT, st.queued_at)
                self._blob(False, ex, st, "cached/outputs.pb")
                self._blob(True, ex, st, "outputs.pb")
                return self._succeed(ex, st)
            self._open_record(ex, st, spec.kind, st.queued_at)
        self._launch(ex, st)
        self._transition(ex, st, P.RUNNING)
        return True

    def _launch(self, ex: _Execution, st: _Node) -> None:
        """Create the next attempt's pod; its informer events wake the workflow when it runs and ends."""
        spend, draw = self._clock.spend, self._draw
        st.attempt += 1
        with fo.handle_task(ex.id, st.path, tasktype=st.spec.tasktype):
            with fo.k8s("create", "pods", exec_id=ex.id, node=st.path):
                spend(draw("k8s"))
            created = self._clock.now()
            st.pod = pod = self._pod(created, "dynamic.compile" if st.spec.kind == K.DYNAMIC else "task.run")
            st.attempt_rec = st.record.attempt(st.attempt, start=created)
            st.task_running = False
            self._event(_EK.TASK, ex, st.path, P.QUEUED, P.UNDEFINED, "event.task")
        self._wake(ex, pod.user_start + draw("queue.delay"))
        self._wake(ex, pod.terminal + draw("queue.delay"))

    def _pod(self, created: int, run_op: str) -> _Pod:
        d = self._draw
        user_start = created + d("pod.schedule") + d("pod.pull") + d("pod.start")
        user_end = user_start + d(run_op)
        return _Pod(user_start, user_end, user_end + d("pod.terminate"))

    def _running(self, ex: _Execution, st: _Node) -> bool:
        return _POLL_BY_KIND[st.spec.kind](self, ex, st)

    def _poll_pod(self, ex: _Execution, st: _Node) -> bool:
        """Read the pod from the informer cache; report RUNNING once, then the attempt's end."""
        pod = st.pod
        assert pod is not None
        with fo.handle_task(ex.id, st.path, tasktype=st.spec.tasktype):
            with fo.k8s("get", "pods", exec_id=ex.id, node=st.path):
                self._clock.spend(self._draw("k8s"))
            now = self._clock.now()
            if now < pod.user_start:
                return False
            if now < pod.terminal:
                if st.task_running:
                    return False
                st.task_running = True
                self._event(_EK.TASK, ex, st.path, P.RUNNING, P.QUEUED, "event.task")
                return True
            return self._attempt_done(ex, st, pod, now)

    def _attempt_done(self, ex: _Execution, st: _Node, pod: _Pod, now: int) -> bool:
        failed = st.attempt < self.failures.get(st.path, 0)
        last = st.attempt >= st.spec.retries
        task_phase = P.SUCCEEDED if not failed else (P.FAILED if last else P.RETRYABLE_FAILURE)
        st.attempt_rec.user_code(start=pod.user_start, end=pod.user_end)
        st.attempt_rec.end(task_phase, at=now)
        self._event(
            _EK.TASK, ex, st.path, task_phase, P.RUNNING if st.task_running else P.QUEUED, "event.task"
        )
        with fo.k8s("delete", "pods", exec_id=ex.id, node=st.path):
            self._clock.spend(self._draw("k8s"))
        if task_phase == P.RETRYABLE_FAILURE:
            self._transition(ex, st, P.RETRYABLE_FAILURE)
            return True
        if task_phase == P.FAILED:
            return self._fail(ex, st)
        self._blob(False, ex, st, "outputs.pb")
        if st.spec.cacheable:
            with fo.cache_write(ex.id, st.path):
                self._clock.spend(self._draw("cache.write"))
            self._catalog.add((st.spec.task, st.path))
        if st.spec.kind == K.DYNAMIC:
            self._blob(False, ex, st, "futures.pb")  # the DAG the pod compiled
            assert st.spec.sub is not None
            st.sub = _Scope(st.spec.sub, st.path + "/" + _child_prefix(st), st)
            ex.running -= 1
            self._transition(ex, st, P.DYNAMIC_RUNNING)
            return True
        return self._succeed(ex, st)

    def _retry(self, ex: _Execution, st: _Node) -> bool:
        self._launch(ex, st)
        self._transition(ex, st, P.RUNNING)
        return True

    def _start_nested(self, ex: _Execution, st: _Node) -> bool:
        """Subworkflow or branch: its nodes run inside this CRD, under this node."""
        assert st.spec.sub is not None
        st.sub = _Scope(st.spec.sub, st.path + "/" + _child_prefix(st), st)
        self._transition(ex, st, P.RUNNING)
        return True

    def _poll_nested(self, ex: _Execution, st: _Node) -> bool:
        assert st.sub is not None
        changed = self._walk(ex, st.sub)
        if ex.phase in _TERMINAL:
            return changed
        if st.sub.get(END_NODE).phase == P.SUCCEEDED:
            self._blob(False, ex, st, "outputs.pb")
            return self._succeed(ex, st)
        return changed

    def _start_child(self, ex: _Execution, st: _Node) -> bool:
        """Launch plan: a new execution through FlyteAdmin, with its own CRD and rounds."""
        assert st.spec.sub is not None
        with fo.admin_call("CreateExecution", exec_id=ex.id):
            self._clock.spend(self._draw("admin"))
        st.child = self._create(st.spec.sub, self._new_exec_id(), self._clock.now(), ex)
        self._open_record(ex, st, K.LAUNCH_PLAN, st.queued_at)
        self._transition(ex, st, P.RUNNING)
        return True

    def _poll_child(self, ex: _Execution, st: _Node) -> bool:
        child = st.child
        assert child is not None
        with fo.admin_call("GetExecution", exec_id=ex.id):
            self._clock.spend(self._draw("admin"))
        if child.done_at is None or child.done_at > self._clock.now():
            return False
        if child.phase != P.SUCCEEDED:
            return self._fail(ex, st)
        self._blob(False, ex, st, "outputs.pb")
        return self._succeed(ex, st)

    def _start_gate(self, ex: _Execution, st: _Node) -> bool:
        now = self._clock.now()
        st.gate_start = now
        self._transition(ex, st, P.RUNNING)
        self._wake(ex, now + self.profile.reeval_ns)
        return True

    def _poll_gate(self, ex: _Execution, st: _Node) -> bool:
        now = self._clock.now()
        opens = st.gate_start + int(st.spec.gate_wait_s * 1e9)
        if now < opens:  # propeller re-evaluates a waiting workflow every reeval period
            self._wake(ex, now + self.profile.reeval_ns)
            return False
        st.record.idle(sc.IdleReason.GATE, start=st.gate_start, end=opens)
        return self._succeed(ex, st)

    def _start_array(self, ex: _Execution, st: _Node) -> bool:
        st.array = _Array()
        ex.array_bytes += st.spec.array_size // 2  # sub-task phases, packed, in the node status
        self._transition(ex, st, P.RUNNING)
        return True

    def _poll_array(self, ex: _Execution, st: _Node) -> bool:
        """Observe sub-task pods that changed, launch more up to the parallelism; done when all succeeded."""
        arr, spec = st.array, st.spec
        assert arr is not None
        spend, draw, now = self._clock.spend, self._draw, self._clock.now
        limit = spec.array_parallelism or ex.plan.max_parallelism or spec.array_size
        changed = False
        with fo.handle_task(ex.id, st.path, tasktype=spec.tasktype):
            while arr.events and arr.events[0][0] <= now():
                _, index, terminal = heapq.heappop(arr.events)
                if terminal:
                    attempt, pod = arr.attempts.pop(index)  # emitted: nothing of it is kept
                    attempt.user_code(start=pod.user_start, end=pod.user_end)
                    attempt.end(P.SUCCEEDED, at=now())
                    self._event(_EK.TASK, ex, st.path, P.SUCCEEDED, P.RUNNING, "event.task")
                    arr.done += 1
                    arr.running -= 1
                else:
                    self._event(_EK.TASK, ex, st.path, P.RUNNING, P.QUEUED, "event.task")
                changed = True
            while arr.next < spec.array_size and arr.running < limit:
                index = arr.next
                arr.next += 1
                arr.running += 1
                with fo.k8s("create", "pods", exec_id=ex.id, node=st.path):
                    spend(draw("k8s"))
                created = now()
                pod = self._pod(created, "task.run")
                arr.attempts[index] = (st.record.attempt(0, start=created, array_index=index), pod)
                self._event(_EK.TASK, ex, st.path, P.QUEUED, P.UNDEFINED, "event.task")
                heapq.heappush(arr.events, (pod.user_start, index, False))
                heapq.heappush(arr.events, (pod.terminal, index, True))
                self._wake(ex, pod.user_start + draw("queue.delay"))
                self._wake(ex, pod.terminal + draw("queue.delay"))
                changed = True
        if arr.done == spec.array_size:
            self._blob(True, ex, st, "outputs.pb")
            return self._succeed(ex, st)
        return changed


def _child_prefix(st: _Node) -> str:
    """Propeller names a nested node <parent>-<attempt>-<child>; the path joins the levels with '/'."""
    return f"{st.path.rsplit('/', 1)[-1]}-0-"


_Handler = Callable[[Simulator, _Execution, _Node], bool]
_PHASE_HANDLERS: dict[str | None, _Handler] = {
    None: Simulator._not_started,
    P.QUEUED: Simulator._queued,
    P.RUNNING: Simulator._running,
    P.RETRYABLE_FAILURE: Simulator._retry,
    P.DYNAMIC_RUNNING: Simulator._poll_nested,
}
_BOUNDARY: dict[str, Callable[[Simulator, _Execution, _Node, int], bool]] = {
    K.START: Simulator._start_node,
    K.END: Simulator._end_node,
}
_START_BY_KIND: dict[str, _Handler] = {
    K.TASK: Simulator._start_task,
    K.DYNAMIC: Simulator._start_task,
    K.SUBWORKFLOW: Simulator._start_nested,
    K.BRANCH: Simulator._start_nested,
    K.LAUNCH_PLAN: Simulator._start_child,
    K.GATE: Simulator._start_gate,
    K.ARRAY: Simulator._start_array,
}
_POLL_BY_KIND: dict[str, _Handler] = {
    K.TASK: Simulator._poll_pod,
    K.DYNAMIC: Simulator._poll_pod,
    K.SUBWORKFLOW: Simulator._poll_nested,
    K.BRANCH: Simulator._poll_nested,
    K.LAUNCH_PLAN: Simulator._poll_child,
    K.GATE: Simulator._poll_gate,
    K.ARRAY: Simulator._poll_array,
}
