"""The propeller loop: a work queue and workers, rounds of streaks over the DAG, node and pod state machines.

It follows FlytePropeller v1.16 as docs/upstream.md §3 sets it out. A worker takes a workflow off the queue (one
round), reads the CRD, then runs up to `max_streak_length` streaks, writing the CRD after every streak that
changed something and stopping at the first that did not. In a streak every node on the frontier moves at most
one phase step, and a node that completed in it is not descended through, so its downstream starts a streak
later (§3.2). Task nodes pass through Succeeding, the workflow through Succeeding, the end node through Queued;
events are sent per §3.3, cache look-ups happen before a node is queued, and an array node's sub-task events
are aggregated into one task event per handle (§3.6). Pod phase changes (informer), child executions ending
and the re-evaluation period put the workflow back on the queue. Every operation's latency comes from the
profile; a writer (writers.py) turns each into upstream's span or flyte_otel's.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry import context as otel_context

import flyte_otel as fo
from flyte_otel import semconv as sc
from propeller_sim.clock import Clock, VirtualClock
from propeller_sim.dialects import DIALECTS
from propeller_sim.plan import START_NODE, Plan, PlanNode
from propeller_sim.profile import POD_OPERATIONS, Latencies, Profile
from propeller_sim.writers import WRITERS, Writer

__all__ = ["DIALECTS", "NAMESPACE", "PROJECT_DOMAIN", "Result", "Simulator", "configure"]

K = sc.NodeKind
P = sc.Phase
_EK = sc.EventKind
NAMESPACE = "flytesnacks-development"  # the Kubernetes namespace every simulated execution runs in
PROJECT_DOMAIN = "flytesnacks:development"  # `wf` upstream is project:domain:name (k8s/workflow.go:46-73)
_META_BYTES = 1024  # a node's inputs.pb / outputs.pb literal map in the metadata bucket
_DONE = frozenset({P.SUCCEEDED, P.FAILED})
_POD_KINDS = frozenset({K.TASK, K.DYNAMIC, K.ARRAY})  # count against max parallelism while their pods run
_LOOKS_UP = frozenset({K.TASK, K.DYNAMIC})  # cacheable kinds that check the data catalog before a pod
# Node phases as their events name them (nodes/transformers.go:56-77): Succeeding is sent as SUCCEEDED.
_EVENT_PHASE = {P.SUCCEEDING: P.SUCCEEDED, P.FAILING: P.FAILED}


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
    """One attempt's pod timeline, drawn when it is created: the informer reports each change when it happens.
    `work`: the container's run as flytekit spends it (load, download, to Python, the function, to literals,
    upload), when the profile simulates the task pod's own spans."""

    __slots__ = ("user_start", "user_end", "terminal", "seen_running", "work")

    def __init__(self, user_start: int, user_end: int, terminal: int, work: tuple[int, ...] = ()) -> None:
        self.user_start, self.user_end, self.terminal = user_start, user_end, terminal
        self.seen_running = False
        self.work = work


class _Node:
    """Runtime status of one node of one execution (what the CRD's node status holds)."""

    __slots__ = ("spec", "path", "upstream_paths", "scope", "phase", "sent", "done_in", "record", "attempt",
                 "attempt_rec", "pod", "ready_at", "queued_at", "sub", "child", "gate_start", "array", "dyn")  # fmt: skip

    def __init__(self, spec: PlanNode, path: str, upstream_paths: tuple[str, ...], scope: _Scope) -> None:
        self.spec = spec
        self.path = path  # upstream's `node`: the spec ids of the enclosing nodes and this one, '/'-joined
        self.upstream_paths = upstream_paths
        self.scope = scope
        self.phase: str | None = None  # None: not yet started
        self.sent = P.UNDEFINED  # the phase of the last node event sent
        self.done_in = 0  # the streak in which it completed: its downstream waits for the next one
        self.record: Any = _NO_RECORD
        self.attempt = 0
        self.attempt_rec: Any = _NO_RECORD
        self.pod: _Pod | None = None  # None while Running: the next attempt's pod is created next streak
        self.ready_at: int | None = None  # when max parallelism first held it back
        self.queued_at = 0
        self.sub: _Scope | None = None
        self.child: _Execution | None = None
        self.gate_start = 0
        self.array: _Array | None = None
        self.dyn = 0  # a dynamic node after its pod: 1 parent finalizing, 2 parent finalized


class _Scope:
    """The nodes of one (sub)workflow inside an execution: the root, a subworkflow, a dynamic's DAG, a branch."""

    __slots__ = ("plan", "nodes", "parent", "_by_id")

    def __init__(self, plan: Plan, parent: _Node | None, *, boundary: bool = True) -> None:
        self.plan = plan
        self.parent = parent
        prefix = parent.path + "/" if parent is not None else ""
        # A branch runs its taken node directly, without start and end nodes (branch/handler.go:168).
        specs = [n for n in plan.nodes if boundary or n.kind not in (K.START, K.END)]
        ids = {n.id for n in specs}
        self.nodes = [
            _Node(n, prefix + n.id, tuple(prefix + u for u in n.upstream if u in ids), self) for n in specs
        ]
        self._by_id = {st.spec.id: st for st in self.nodes}

    def get(self, node_id: str) -> _Node | None:
        """The node, or None for an id outside this scope (a branch's taken node's upstream)."""
        return self._by_id.get(node_id)

    def finished(self, phase: str, before: int) -> bool:
        """True when every node reached `phase` (any node, for FAILED) in a streak before `before`."""
        done = [st.phase == phase and st.done_in < before for st in self.nodes]
        return any(done) if phase == P.FAILED else all(done)


class _SubTask:
    """One array sub-node (`n<i>` under the array node): its phase and its pod."""

    __slots__ = ("index", "path", "phase", "pod", "attempt")

    def __init__(self, index: int, path: str) -> None:
        self.index, self.path = index, path
        self.phase: str | None = None
        self.pod: _Pod | None = None
        self.attempt: Any = _NO_RECORD


class _Array:
    """A map node's sub-nodes: started up to the parallelism, each one phase step per handle."""

    __slots__ = ("next", "active", "done", "succeeding")

    def __init__(self) -> None:
        self.next = 0
        self.active: list[_SubTask] = []
        self.done = 0
        self.succeeding = False  # every sub-node succeeded and the array's own phase moved on


class _Execution:
    __slots__ = ("id", "plan", "root", "record", "parent", "started", "done_at", "phase", "running", "streak",
                 "res_ver", "busy_until", "last_round", "nodes_started", "array_bytes", "created", "spec_nodes")  # fmt: skip

    def __init__(self, exec_id: str, plan: Plan, created: int, parent: _Execution | None) -> None:
        self.id = exec_id
        self.plan = plan
        self.root = _Scope(plan, None)
        self.record: Any = _NO_RECORD
        self.parent = parent
        self.started = False
        self.done_at: int | None = None
        self.phase = P.QUEUED
        self.running = 0
        self.streak = 0  # streaks so far, across rounds: what `_Node.done_in` counts
        self.res_ver = 1  # the CRD's resourceVersion, bumped by every write
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
        self._w: Writer = WRITERS[dialect]()
        self._lifecycle = self._w.lifecycle
        self._pod_side = all(op in profile.operations for op in POD_OPERATIONS)
        self._ids = np.random.default_rng()  # execution ids are unique per process, like FlyteAdmin's
        self._workers = [(0, i) for i in range(workers)]  # (free at, index): routine worker-<index>
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
            if ex.phase in _DONE or ex.last_round >= at:
                continue  # a round that started at or after this wake-up has already seen the change
            free, worker = workers[0]
            start = max(at, ex.busy_until, free)
            clock.wait_until(start)
            ex.last_round = start
            again = self._round(ex, f"worker-{worker}")
            ex.busy_until = end = clock.now()
            heapq.heapreplace(workers, (end, worker))
            if ex.phase in _DONE:
                self._finish(ex, end)
            elif again:
                self._wake(ex, end + self._draw("queue.delay"))
        wakes.clear()

    # --- a round: streaks, a CRD write after each that changed something (controller/handler.go) ------------

    def _round(self, ex: _Execution, routine: str) -> bool:
        """One round; True when it stopped at the streak limit with work left (so it is re-queued at once)."""
        w, spend, draw = self._w, self._clock.spend, self._draw
        with w.round(ex.id, f"{PROJECT_DOMAIN}:{ex.plan.name}", NAMESPACE, routine):
            with w.store_get():
                spend(draw("etcd.read"))
            for _ in range(self.max_streak_length):
                ex.streak += 1
                with w.streak(ex.res_ver):
                    changed = self._streak(ex)
                    if changed:
                        with w.store_update(self._crd_size(ex)):
                            spend(draw("etcd.write"))
                        ex.res_ver += 1
                if not changed or ex.phase in _DONE:
                    return False
            return True

    def _crd_size(self, ex: _Execution) -> int:
        p = self.profile
        return p.crd_base_bytes + p.crd_node_bytes * (ex.spec_nodes + ex.nodes_started) + ex.array_bytes

    def _streak(self, ex: _Execution) -> bool:
        """HandleFlyteWorkflow once (workflow/executor.go): the workflow's own step, else one traversal."""
        step = _WORKFLOW_STEPS.get(ex.phase if ex.started else None)
        if step is not None:
            return step(self, ex)
        changed = self._visit(ex, ex.root)
        for phase, next_phase in ((P.FAILED, P.FAILING), (P.SUCCEEDED, P.SUCCEEDING)):
            if ex.root.finished(phase, ex.streak):
                self._workflow_to(ex, next_phase)
                return True
        return changed

    def _ready(self, ex: _Execution) -> bool:
        """Ready → Running: the start node's outputs are the workflow's inputs (workflow/executor.go:103-143)."""
        ex.started = True
        self._blob(True, ex, f"{START_NODE}/outputs.pb", START_NODE)
        self._workflow_to(ex, P.RUNNING)
        return True

    def _workflow_to(self, ex: _Execution, phase: str) -> None:
        with self._w.event(_EK.WORKFLOW, None, phase, ex.phase):
            self._clock.spend(self._draw("event.workflow"))
        ex.phase = phase

    def _finish(self, ex: _Execution, at: int) -> None:
        """Done once the round that reached the terminal phase has written it to etcd."""
        ex.done_at = at
        ex.record.end(ex.phase, at=at)
        if ex.parent is not None:  # the parent's launch plan node learns of it on its next round
            self._wake(ex.parent, at + self._draw("queue.delay"))

    def _visit(self, ex: _Execution, scope: _Scope) -> bool:
        """RecursiveNodeHandler over one scope: one HandleNode per frontier node (nodes/executor.go:134-346).

        A node is reached through an upstream that completed in an earlier streak; reached with another
        upstream still open, it gets a handleNode that finds it not ready. Nodes held back by max parallelism
        get no span at all.
        """
        changed = False
        now = ex.streak
        for st in scope.nodes:
            if st.phase in _DONE:
                continue
            done = [
                u is None or (u.phase == P.SUCCEEDED and u.done_in < now)
                for u in map(scope.get, st.spec.upstream)
            ]
            if done and not any(done):
                continue
            if st.phase is None and self._held(ex, st):
                continue
            with self._w.handle_node(st.path, st.phase or P.UNDEFINED):
                self._clock.spend(self._draw("node.handle"))
                if all(done) and _PHASE_STEPS[st.phase](self, ex, st):
                    changed = True
        return changed

    def _held(self, ex: _Execution, st: _Node) -> bool:
        limit = ex.plan.max_parallelism
        if st.spec.kind in _POD_KINDS and limit and ex.running >= limit:
            if st.ready_at is None:
                st.ready_at = self._clock.now()
            return True
        return False

    # --- events, transitions, I/O -----------------------------------------------------------------------------

    def _to(self, ex: _Execution, st: _Node, phase: str, *, event: bool = True) -> bool:
        """A node phase step; `event`: it sends a node event (not Succeeding→Succeeded, not retries: §3.3)."""
        if event:
            sent = _EVENT_PHASE.get(phase, phase)
            with self._w.event(_EK.NODE, st.path, sent, st.sent):
                self._clock.spend(self._draw("event.node"))
            st.sent = sent
            if sent in _DONE:
                st.record.end(sent, at=self._clock.now())
        st.phase = phase
        if phase in _DONE:
            st.done_in = ex.streak
        return True

    def _task_event(self, st: _Node | _SubTask, phase: str, phase_from: str) -> None:
        with self._w.event(_EK.TASK, st.path, phase, phase_from):
            self._clock.spend(self._draw("event.task"))

    def _blob(self, write: bool, ex: _Execution, name: str, node: str) -> None:
        key = f"s3://metadata/{ex.id}/{name}"
        with self._w.blob(write, key, _META_BYTES, node):
            self._clock.spend(self._draw("blobstore.write" if write else "blobstore.read"))

    def _k8s_read(self, path: str) -> None:
        with self._w.k8s_read(path):
            self._clock.spend(self._draw("k8s"))

    def _k8s_write(self, verb: str, path: str) -> None:
        with self._w.k8s_write(verb, path):
            self._clock.spend(self._draw("k8s"))

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

    # --- NotYetStarted: inputs resolved and written, the cache checked (handleNotYetStartedNode) -------------

    def _not_started(self, ex: _Execution, st: _Node) -> bool:
        kind = st.spec.kind
        now = self._clock.now()
        if kind == K.START:  # no inputs to resolve: straight to Succeeded (nodes/start/handler.go)
            self._open_record(ex, st, K.START, now)
            return self._to(ex, st, P.SUCCEEDED)
        if st.ready_at is not None:
            ex.record.hold(st.path, start=st.ready_at, end=now)
        for up in st.upstream_paths:  # one read per binding to an upstream's outputs (output_resolver.go)
            self._blob(False, ex, f"{up}/outputs.pb", st.path)
        self._blob(True, ex, f"{st.path}/inputs.pb", st.path)
        ex.nodes_started += 1
        st.queued_at = self._clock.now()
        if st.spec.cacheable and kind in _LOOKS_UP and self._check_cache(ex, st):
            self._open_record(ex, st, K.CACHE_HIT, st.queued_at)
            return self._to(ex, st, P.SUCCEEDED)  # one event, no task events (nodes/executor.go:988-1057)
        if kind in _POD_KINDS:
            ex.running += 1
        # A child execution's id is known once it is created: its record opens then, with the same start.
        if kind != K.LAUNCH_PLAN:
            self._open_record(ex, st, kind, st.queued_at)
        return self._to(ex, st, P.QUEUED)

    def _check_cache(self, ex: _Execution, st: _Node) -> bool:
        hit = (st.spec.task, st.path) in self._catalog
        with self._w.cache_check(st.path, hit):
            self._catalog_call("GetDataset", True)
            self._blob(False, ex, f"{st.path}/inputs.pb", st.path)
            self._catalog_call("GetArtifact", hit)
            if hit:
                self._blob(True, ex, f"{st.path}/outputs.pb", st.path)
        return hit

    def _catalog_call(self, method: str, found: bool) -> None:
        op = "cache.lookup" if method.startswith("Get") else "cache.write"
        with self._w.datacatalog(method, found):
            self._clock.spend(self._draw(op))

    # --- Queued → Running, per kind ----------------------------------------------------------------------

    def _queued(self, ex: _Execution, st: _Node) -> bool:
        return _START_BY_KIND[st.spec.kind](self, ex, st)

    def _end_node(self, ex: _Execution, st: _Node) -> bool:
        """The end node copies its inputs to its outputs and succeeds (nodes/end/handler.go:25-42)."""
        self._blob(False, ex, f"{st.path}/inputs.pb", st.path)
        self._blob(True, ex, f"{st.path}/outputs.pb", st.path)
        return self._to(ex, st, P.SUCCEEDED)

    def _start_task(self, ex: _Execution, st: _Node) -> bool:
        self._launch(ex, st)
        return self._to(ex, st, P.RUNNING)

    def _launch(self, ex: _Execution, st: _Node) -> None:
        """The plugin creates the attempt's pod; its informer events wake the workflow when it runs and ends."""
        with self._w.handle_task(st.path, st.spec.tasktype):
            self._k8s_write("create", st.path)
            created = self._clock.now()
            run_op = "dynamic.compile" if st.spec.kind == K.DYNAMIC else "task.run"
            st.pod = pod = self._pod(created, run_op, st.spec.task)
            st.attempt_rec = st.record.attempt(st.attempt, start=created)
            self._task_event(st, P.QUEUED, P.UNDEFINED)
        self._wake_on(ex, pod)

    def _wake_on(self, ex: _Execution, pod: _Pod) -> None:
        draw = self._draw
        self._wake(ex, pod.user_start + draw("queue.delay"))
        self._wake(ex, pod.terminal + draw("queue.delay"))

    def _pod(self, created: int, run_op: str, task: str | None) -> _Pod:
        def d(op: str) -> int:
            return self._draw(op, task)

        user_start = created + d("pod.schedule") + d("pod.pull") + d("pod.start")
        work: tuple[int, ...]
        if self._pod_side:  # the container runs flytekit around the user's function (docs/pod_spans.md)
            work = (
                d("pod.load"),
                d("pod.download"),
                d("pod.convert"),
                d(run_op),
                d("pod.convert"),
                d("pod.upload"),
            )
        else:
            work = (d(run_op),)
        user_end = user_start + sum(work)
        return _Pod(user_start, user_end, user_end + d("pod.terminate"), work if self._pod_side else ())

    def _pod_spans(self, ex: _Execution, node: str, attempt: int, index: int | None, pod: _Pod) -> None:
        """The task pod's own spans, as flyte_otel's flytekit instrumentor writes them in the pod (another
        process, its own service), under the attempt whose id it derives (fo.attempt_context)."""
        if not pod.work:
            return
        attrs = {sc.EXEC_ID: ex.id, sc.NODE_ID: node, sc.ATTEMPT_NUMBER: attempt}
        if index is not None:
            attrs[sc.ARRAY_INDEX] = index
        token = otel_context.attach(fo.attempt_context(ex.id, node, attempt, index))
        try:
            with fo.operation(sc.POD_TASK, service=sc.SERVICE_TASK_POD, attributes=attrs, start=pod.user_start,
                              end=pod.user_end):  # fmt: skip
                at = pod.user_start
                for name, length in zip(_POD_WORK, pod.work, strict=True):
                    with fo.operation(name, service=sc.SERVICE_TASK_POD, start=at, end=at + length):
                        at += length
        finally:
            otel_context.detach(token)

    def _start_nested(self, ex: _Execution, st: _Node) -> bool:
        """Subworkflow: inputs written for its start node, which succeeds in this same streak (§3.6)."""
        assert st.spec.sub is not None
        st.sub = sub = _Scope(st.spec.sub, st)
        start = sub.get(START_NODE)
        assert start is not None
        self._blob(True, ex, f"{start.path}/outputs.pb", start.path)
        with self._w.handle_node(start.path, P.UNDEFINED):
            self._clock.spend(self._draw("node.handle"))
            self._not_started(ex, start)
        return self._to(ex, st, P.RUNNING)

    def _start_branch(self, ex: _Execution, st: _Node) -> bool:
        """The case is decided; the taken node is marked dirty, so it is first handled next streak."""
        assert st.spec.sub is not None
        self._blob(False, ex, f"{st.path}/inputs.pb", st.path)
        st.sub = _Scope(st.spec.sub, st, boundary=False)
        return self._to(ex, st, P.RUNNING)

    def _start_child(self, ex: _Execution, st: _Node) -> bool:
        """Launch plan: a new execution through FlyteAdmin, with its own CRD and rounds."""
        assert st.spec.sub is not None
        self._blob(False, ex, f"{st.path}/inputs.pb", st.path)
        with self._w.admin("CreateExecution"):
            self._clock.spend(self._draw("admin"))
        st.child = self._create(st.spec.sub, self._new_exec_id(), self._clock.now(), ex)
        self._open_record(ex, st, K.LAUNCH_PLAN, st.queued_at)
        return self._to(ex, st, P.RUNNING)

    def _start_gate(self, ex: _Execution, st: _Node) -> bool:
        now = self._clock.now()
        st.gate_start = now
        self._wake(ex, now + self.profile.reeval_ns)
        return self._to(ex, st, P.RUNNING)

    def _start_array(self, ex: _Execution, st: _Node) -> bool:
        """One aggregated task event for every sub-task queued (array/handler.go:295-303, event version 0)."""
        self._blob(False, ex, f"{st.path}/inputs.pb", st.path)
        st.array = _Array()
        ex.array_bytes += st.spec.array_size // 2  # sub-task phases, packed, in the node status
        self._task_event(st, P.QUEUED, P.UNDEFINED)
        return self._to(ex, st, P.RUNNING)

    # --- Running, per kind -------------------------------------------------------------------------------

    def _running(self, ex: _Execution, st: _Node) -> bool:
        return _POLL_BY_KIND[st.spec.kind](self, ex, st)

    def _poll_task(self, ex: _Execution, st: _Node) -> bool:
        """Read the pod from the informer cache: a task event per observed change, the node's step after it."""
        pod = st.pod
        if pod is None:  # retrying: the next attempt's pod, with no node event (phase unchanged)
            self._launch(ex, st)
            return True
        with self._w.handle_task(st.path, st.spec.tasktype):
            self._k8s_read(st.path)
            now = self._clock.now()
            if now < pod.user_start or (now < pod.terminal and pod.seen_running):
                return False
            if now < pod.terminal:
                pod.seen_running = True
                self._task_event(st, P.RUNNING, P.QUEUED)
                return True
            outcome = self._attempt_done(ex, st, pod, now)
        return _OUTCOMES[outcome](self, ex, st)

    def _attempt_done(self, ex: _Execution, st: _Node, pod: _Pod, now: int) -> str:
        failed = st.attempt < self.failures.get(st.path, 0)
        phase = (
            P.SUCCEEDED
            if not failed
            else (P.FAILED if st.attempt >= st.spec.retries else P.RETRYABLE_FAILURE)
        )
        st.attempt_rec.user_code(start=pod.user_start, end=pod.user_end)
        st.attempt_rec.end(phase, at=now)
        self._pod_spans(ex, st.path, st.attempt, None, pod)
        # A retryable failure is a FAILED task event (task/transformer.go:45-46)
        self._task_event(
            st, P.SUCCEEDED if phase == P.SUCCEEDED else P.FAILED, P.RUNNING if pod.seen_running else P.QUEUED
        )
        return phase

    def _task_succeeded(self, ex: _Execution, st: _Node) -> bool:
        ex.running -= 1
        if (
            st.spec.cacheable
        ):  # WriteCatalogCache between HandleTask and the node event (executor.go:1170-1186)
            with self._w.cache_write(st.path):
                self._catalog_call("CreateDataset", True)
                self._blob(False, ex, f"{st.path}/inputs.pb", st.path)
                self._blob(False, ex, f"{st.path}/outputs.pb", st.path)
                self._catalog_call("CreateArtifact", True)
                self._catalog_call("AddTag", True)
            self._catalog.add((st.spec.task, st.path))
        if st.spec.kind == K.DYNAMIC:  # the pod compiled the sub-DAG: the parent finalizes first (§3.6)
            st.dyn = 1
            return True
        return self._to(ex, st, P.SUCCEEDING)

    def _task_retry(self, ex: _Execution, st: _Node) -> bool:
        return self._to(ex, st, P.RETRYABLE_FAILURE, event=False)

    def _task_failed(self, ex: _Execution, st: _Node) -> bool:
        ex.running -= 1
        return self._to(ex, st, P.FAILING)

    def _poll_dynamic(self, ex: _Execution, st: _Node) -> bool:
        if st.dyn == 0:
            return self._poll_task(ex, st)
        if st.dyn == 1:  # ParentFinalizing → ParentFinalized: the task's plugin finalize
            self._k8s_read(st.path)
            st.dyn = 2
            return True
        # ParentFinalized → Executing: read the futures, compile, cache the closure (§3.6 Dynamic)
        assert st.spec.sub is not None
        self._blob(False, ex, f"{st.path}/futures.pb", st.path)
        self._blob(True, ex, f"{st.path}/futures_compiled.pb", st.path)
        st.sub = _Scope(st.spec.sub, st)
        return self._to(ex, st, P.DYNAMIC_RUNNING)

    def _dynamic_running(self, ex: _Execution, st: _Node) -> bool:
        """Each streak reads the cached closure, then handles the sub-DAG (dynamic/dynamic_workflow.go)."""
        assert st.sub is not None
        self._blob(False, ex, f"{st.path}/futures_compiled.pb", st.path)
        return self._poll_nested(ex, st, P.SUCCEEDING)

    def _poll_nested(self, ex: _Execution, st: _Node, done: str = P.SUCCEEDED) -> bool:
        """Subworkflow or branch: once its nodes completed in an earlier streak, straight to `done`."""
        assert st.sub is not None
        changed = self._visit(ex, st.sub)
        if st.sub.finished(P.FAILED, ex.streak):
            return self._to(ex, st, P.FAILING)
        if st.sub.finished(P.SUCCEEDED, ex.streak):
            return self._to(ex, st, done)
        return changed

    def _poll_child(self, ex: _Execution, st: _Node) -> bool:
        """The child's status comes from an in-memory cache refreshed in the background: no I/O here."""
        child = st.child
        assert child is not None
        if child.done_at is None or child.done_at > self._clock.now():
            return False
        if child.phase != P.SUCCEEDED:
            return self._to(ex, st, P.FAILING)
        self._blob(True, ex, f"{st.path}/outputs.pb", st.path)
        return self._to(ex, st, P.SUCCEEDED)

    def _poll_gate(self, ex: _Execution, st: _Node) -> bool:
        now = self._clock.now()
        opens = st.gate_start + int(st.spec.gate_wait_s * 1e9)
        if now < opens:  # propeller re-evaluates a waiting workflow every reeval period
            self._wake(ex, now + self.profile.reeval_ns)
            return False
        st.record.idle(sc.IdleReason.GATE, start=st.gate_start, end=opens)
        return self._to(ex, st, P.SUCCEEDED)

    def _poll_array(self, ex: _Execution, st: _Node) -> bool:
        """Each sub-node one step (in its own handleNode), then one task event if any sub-task changed."""
        arr, spec = st.array, st.spec
        assert arr is not None
        if arr.succeeding:  # outputs gathered from every sub-node, then the node succeeds (§3.6 ArrayNode)
            for i in range(spec.array_size):
                self._blob(False, ex, f"{st.path}/{i}/outputs.pb", st.path)
            self._blob(True, ex, f"{st.path}/outputs.pb", st.path)
            self._task_event(st, P.SUCCEEDED, P.RUNNING)
            ex.running -= 1
            return self._to(ex, st, P.SUCCEEDING)
        if arr.done == spec.array_size:
            arr.succeeding = True
            return True
        limit = spec.array_parallelism or spec.array_size
        while arr.next < spec.array_size and len(arr.active) < limit:
            arr.active.append(_SubTask(arr.next, f"{st.path}/n{arr.next}"))
            arr.next += 1
        stepped = [self._sub_step(ex, st, sub) for sub in arr.active]
        arr.active = [sub for sub in arr.active if sub.phase != P.SUCCEEDED]
        if any(task for _, task in stepped):
            self._task_event(st, P.RUNNING, P.RUNNING)
        return any(changed for changed, _ in stepped)

    def _sub_step(self, ex: _Execution, st: _Node, sub: _SubTask) -> tuple[bool, bool]:
        """One sub-node's HandleNode: (its status changed, a task event of it is due)."""
        arr = st.array
        assert arr is not None
        with self._w.handle_node(sub.path, sub.phase or P.UNDEFINED):
            self._clock.spend(self._draw("node.handle"))
            if sub.phase is None:  # inputs are the array's: an empty inputs.pb (array/handler.go:768-772)
                self._blob(True, ex, f"{sub.path}/inputs.pb", sub.path)
                sub.phase = P.QUEUED
                return True, False
            if sub.phase == P.SUCCEEDING:  # plugin finalize
                self._k8s_read(sub.path)
                sub.phase = P.SUCCEEDED
                arr.done += 1
                return True, False
            with self._w.handle_task(sub.path, st.spec.tasktype):
                return self._sub_task(ex, st, sub)

    def _sub_task(self, ex: _Execution, st: _Node, sub: _SubTask) -> tuple[bool, bool]:
        pod = sub.pod
        if pod is None:
            self._k8s_write("create", sub.path)
            sub.pod = pod = self._pod(self._clock.now(), "task.run", st.spec.task)
            sub.attempt = st.record.attempt(0, start=self._clock.now(), array_index=sub.index)
            sub.phase = P.RUNNING
            self._wake_on(ex, pod)
            return True, True
        self._k8s_read(sub.path)
        now = self._clock.now()
        if now >= pod.terminal:
            sub.attempt.user_code(start=pod.user_start, end=pod.user_end)
            sub.attempt.end(P.SUCCEEDED, at=now)
            self._pod_spans(ex, st.path, 0, sub.index, pod)
            sub.phase = P.SUCCEEDING
            return True, True
        if now >= pod.user_start and not pod.seen_running:
            pod.seen_running = True
            return True, True
        return False, False

    # --- Succeeding, retries, failures ------------------------------------------------------------------

    def _succeeding(self, ex: _Execution, st: _Node) -> bool:
        """Succeeding → Succeeded: the plugin's finalize, no event (nodes/executor.go:1417-1438)."""
        if st.spec.kind in _LOOKS_UP:
            self._k8s_read(st.path)
        return self._to(ex, st, P.SUCCEEDED, event=False)

    def _retrying(self, ex: _Execution, st: _Node) -> bool:
        """RetryableFailure → Running: abort (a task event ABORTED) and finalize the attempt, no node event."""
        self._k8s_write("delete", st.path)
        self._task_event(st, P.ABORTED, P.FAILED)
        self._k8s_read(st.path)
        st.attempt += 1
        st.pod = None
        return self._to(ex, st, P.RUNNING, event=False)

    def _failing(self, ex: _Execution, st: _Node) -> bool:
        return self._to(ex, st, P.FAILED, event=False)

    def _workflow_done(self, ex: _Execution) -> bool:
        """Succeeding → Succeeded or Failing → Failed: the terminal write ends the round."""
        self._workflow_to(ex, P.SUCCEEDED if ex.phase == P.SUCCEEDING else P.FAILED)
        return True


# The task pod's spans in the order of _Pod.work (the instrumentor's names for flytekit's steps).
_POD_WORK = (
    sc.POD_LOAD_TASK,
    sc.POD_DOWNLOAD,
    sc.POD_TO_PYTHON,
    sc.POD_USER_CODE,
    sc.POD_TO_LITERAL,
    sc.POD_UPLOAD,
)
_Step = Callable[[Simulator, _Execution, _Node], bool]
_WORKFLOW_STEPS: dict[str | None, Callable[[Simulator, _Execution], bool]] = {
    None: Simulator._ready,
    P.SUCCEEDING: Simulator._workflow_done,
    P.FAILING: Simulator._workflow_done,
}
_PHASE_STEPS: dict[str | None, _Step] = {
    None: Simulator._not_started,
    P.QUEUED: Simulator._queued,
    P.RUNNING: Simulator._running,
    P.RETRYABLE_FAILURE: Simulator._retrying,
    P.DYNAMIC_RUNNING: Simulator._dynamic_running,
    P.SUCCEEDING: Simulator._succeeding,
    P.FAILING: Simulator._failing,
}
_OUTCOMES: dict[str, _Step] = {
    P.SUCCEEDED: Simulator._task_succeeded,
    P.RETRYABLE_FAILURE: Simulator._task_retry,
    P.FAILED: Simulator._task_failed,
}
_START_BY_KIND: dict[str, _Step] = {
    K.END: Simulator._end_node,
    K.TASK: Simulator._start_task,
    K.DYNAMIC: Simulator._start_task,
    K.SUBWORKFLOW: Simulator._start_nested,
    K.BRANCH: Simulator._start_branch,
    K.LAUNCH_PLAN: Simulator._start_child,
    K.GATE: Simulator._start_gate,
    K.ARRAY: Simulator._start_array,
}
_POLL_BY_KIND: dict[str, _Step] = {
    K.TASK: Simulator._poll_task,
    K.DYNAMIC: Simulator._poll_dynamic,
    K.SUBWORKFLOW: Simulator._poll_nested,
    K.BRANCH: Simulator._poll_nested,
    K.LAUNCH_PLAN: Simulator._poll_child,
    K.GATE: Simulator._poll_gate,
    K.ARRAY: Simulator._poll_array,
}
