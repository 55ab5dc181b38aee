"""How the simulated propeller's operations become spans: as upstream FlytePropeller emits them, or as flyte_otel does.

The engine decides *what* happens (one propeller model); a writer decides how each operation looks in the trace.
`Upstream` writes exactly docs/upstream.md §1: span names, services, kinds, and only the log-context keys that
are set at that point (flytestdlib's NewSpan copies the context's string log fields and nothing else). Calls
upstream does not trace (pod create/delete, admin CreateExecution) leave no span. `FlyteOtel` writes the same
operations with flyte_otel's helpers, so they carry its `flyte.*` extras, and traces those calls too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

from opentelemetry.trace import SpanKind

import flyte_otel as fo
from flyte_otel import semconv as sc

__all__ = ["ADMIN_PEER", "DATACATALOG_PEER", "WRITERS", "Writer"]

_CM = AbstractContextManager[Any]
_NONE: _CM = nullcontext()
# The gRPC peers propeller dials, as host:port (otelgrpc then sets net.peer.name / net.peer.port).
ADMIN_PEER = ("flyteadmin", 81)
DATACATALOG_PEER = ("datacatalog", 89)
_OK, _NOT_FOUND = 0, 5  # gRPC status codes


class Writer(Protocol):
    """The operations of the propeller model, each a context manager around the time it takes."""

    lifecycle: bool  # also write flyte_otel's lifecycle records (flyte.execution / node / task.attempt)

    def round(self, exec_id: str, wf: str, ns: str, routine: str) -> _CM:
        """One round: a worker handles the workflow `exec_id` (Propeller.Handle)."""

    def store_get(self) -> _CM:
        """The CRD read at the start of a round."""

    def streak(self, res_ver: int) -> _CM:
        """One streak, on the CRD at `res_ver`."""

    def store_update(self, size_bytes: int) -> _CM:
        """The CRD write after a streak that changed the status."""

    def handle_node(self, node: str, phase: str) -> _CM:
        """HandleNode of the node at `node` (a '/'-joined path), in `phase`."""

    def handle_task(self, node: str, tasktype: str | None) -> _CM:
        """The task handler's Handle of a task node."""

    def event(self, kind: str, node: str | None, phase: str, phase_from: str) -> _CM:
        """An event to FlyteAdmin (kind: EventKind; `node` None for workflow events)."""

    def blob(self, write: bool, key: str, size_bytes: int, node: str) -> _CM:
        """A blobstore read or write of `key`, for the node at `node`."""

    def cache_check(self, node: str, hit: bool) -> _CM:
        """The catalog look-up before a cacheable node is queued."""

    def cache_write(self, node: str) -> _CM:
        """The catalog write after a cacheable node succeeded."""

    def datacatalog(self, method: str, found: bool = True) -> _CM:
        """One DataCatalog RPC; `found` False answers NotFound."""

    def k8s_read(self, node: str) -> _CM:
        """A read of the node's pod from the informer cache."""

    def k8s_write(self, verb: str, node: str) -> _CM:
        """A pod create / delete (verb)."""

    def admin(self, method: str) -> _CM:
        """A FlyteAdmin call that is not an event."""


def _grpc(service: str, method: str, peer: tuple[str, int], status: int) -> dict[str, Any]:
    # otelgrpc v0.60.0 interceptor.go:452-493 (start) and :505-507 (end); see docs/upstream.md §0.3.
    return {
        "rpc.system": "grpc",
        "rpc.service": service,
        "rpc.method": method,
        "net.peer.name": peer[0],
        "net.peer.port": peer[1],
        "rpc.grpc.status_code": status,
    }


class _Upstream:
    """FlytePropeller v1.16's spans and nothing more (docs/upstream.md §1, §4)."""

    lifecycle = False

    def __init__(self) -> None:
        self._round: dict[str, str] = {}  # exec_id, ns, routine: what workers.go puts in the context
        self._ctx: list[dict[str, str]] = [{}]  # the log context at the current point

    def _op(self, name: str, service: str = sc.SERVICE_PROPELLER, node: str | None = None) -> fo.Operation:
        ctx = self._ctx[-1]
        return fo.operation(
            name, service=service, attributes=ctx if node is None else {**ctx, sc.NODE_ID: node}
        )

    @contextmanager
    def _within(self, op: fo.Operation, ctx: dict[str, str]) -> Iterator[None]:
        self._ctx.append(ctx)
        try:
            with op:
                yield
        finally:
            self._ctx.pop()

    def round(self, exec_id: str, wf: str, ns: str, routine: str) -> _CM:
        self._round = {sc.EXEC_ID: exec_id, sc.NAMESPACE: ns, sc.ROUTINE: routine}
        self._wf = wf
        op = fo.operation(sc.ROUND, attributes=self._round, root=True)  # every round its own trace
        return self._within(op, self._round)

    def store_get(self) -> _CM:
        return self._op(sc.WORKFLOW_STORE_GET)

    def streak(self, res_ver: int) -> _CM:
        # TryMutateWorkflow adds wf and res_ver below the streak span (handler.go:100-104), so the streak
        # and its Update carry neither; everything HandleFlyteWorkflow does carries both.
        inner = {**self._round, sc.WORKFLOW: self._wf, sc.RESOURCE_VERSION: str(res_ver)}
        return self._within(fo.operation(sc.STREAK, attributes=self._round), inner)

    def store_update(self, size_bytes: int) -> _CM:
        return fo.operation(sc.WORKFLOW_STORE_UPDATE, attributes=self._round)  # no size upstream

    def handle_node(self, node: str, phase: str) -> _CM:
        ctx = {**self._ctx[-1], sc.NODE_ID: node}
        return self._within(fo.operation(sc.HANDLE_NODE, attributes=ctx), ctx)

    def handle_task(self, node: str, tasktype: str | None) -> _CM:
        # tasktype is added to the context one line after HandleTask starts (task/handler.go:678-682)
        ctx = self._ctx[-1]
        inner = {**ctx, sc.TASK_TYPE: tasktype} if tasktype else ctx
        return self._within(fo.operation(sc.HANDLE_TASK, attributes=ctx), inner)

    def event(self, kind: str, node: str | None, phase: str, phase_from: str) -> _CM:
        name = _EVENT_SPANS[kind]
        method = name.rsplit("/", 1)[1]
        attrs = _grpc("flyteidl.service.AdminService", method, ADMIN_PEER, _OK)
        return fo.operation(name, service=sc.SERVICE_ADMIN_CLIENT, attributes=attrs, kind=SpanKind.CLIENT)

    def blob(self, write: bool, key: str, size_bytes: int, node: str) -> _CM:
        # `node` is the caller's: start-node writes happen outside its handleNode (executor.go:111)
        return self._op(sc.WRITE_PROTOBUF if write else sc.READ_PROTOBUF, sc.SERVICE_BLOBSTORE, node=node)

    def cache_check(self, node: str, hit: bool) -> _CM:
        return self._op(sc.CHECK_CATALOG_CACHE)

    def cache_write(self, node: str) -> _CM:
        return self._op(sc.WRITE_CATALOG_CACHE)

    def datacatalog(self, method: str, found: bool = True) -> _CM:
        attrs = _grpc("datacatalog.DataCatalog", method, DATACATALOG_PEER, _OK if found else _NOT_FOUND)
        name = sc.DATACATALOG_PREFIX + method
        return fo.operation(
            name, service=sc.SERVICE_DATACATALOG_CLIENT, attributes=attrs, kind=SpanKind.CLIENT
        )

    def k8s_read(self, node: str) -> _CM:
        return self._op(sc.K8S_CACHE_PREFIX + "Get", sc.SERVICE_K8S)

    def k8s_write(self, verb: str, node: str) -> _CM:
        return _NONE  # k8s writes go to the raw client, which is not wrapped (docs/upstream.md §0.4)

    def admin(self, method: str) -> _CM:
        return _NONE  # the launch-plan admin connection has no otelgrpc interceptor (§0.3)


_EVENT_SPANS = {
    sc.EventKind.WORKFLOW: sc.CREATE_WORKFLOW_EVENT,
    sc.EventKind.NODE: sc.CREATE_NODE_EVENT,
    sc.EventKind.TASK: sc.CREATE_TASK_EVENT,
}


class _FlyteOtel:
    """The same operations through flyte_otel's helpers: its flyte.* extras, lifecycle records, every call."""

    lifecycle = True

    def __init__(self) -> None:
        self._exec_id = ""
        self._wf = ""
        self._streak: Any = None

    def round(self, exec_id: str, wf: str, ns: str, routine: str) -> _CM:
        self._exec_id, self._wf = exec_id, wf
        return fo.round(exec_id, wf=wf, ns=ns)

    def store_get(self) -> _CM:
        return fo.workflow_store_get(self._exec_id)

    @contextmanager
    def streak(self, res_ver: int) -> Iterator[None]:
        with fo.streak(self._exec_id, wf=self._wf) as span:
            self._streak = span
            yield

    def store_update(self, size_bytes: int) -> _CM:
        self._streak.set_attribute(sc.STREAK_CHANGED, True)
        return fo.workflow_store_update(self._exec_id, size_bytes=size_bytes)

    def handle_node(self, node: str, phase: str) -> _CM:
        return fo.handle_node(self._exec_id, node, phase=phase)

    def handle_task(self, node: str, tasktype: str | None) -> _CM:
        return fo.handle_task(self._exec_id, node, tasktype=tasktype)

    def event(self, kind: str, node: str | None, phase: str, phase_from: str) -> _CM:
        return fo.event(kind, self._exec_id, node=node, phase=phase, phase_from=phase_from)

    def blob(self, write: bool, key: str, size_bytes: int, node: str) -> _CM:
        helper = fo.blob_write if write else fo.blob_read
        return helper(key, size_bytes=size_bytes, exec_id=self._exec_id, node=node)

    def cache_check(self, node: str, hit: bool) -> _CM:
        return fo.cache_lookup(self._exec_id, node, hit=hit)

    def cache_write(self, node: str) -> _CM:
        return fo.cache_write(self._exec_id, node)

    def datacatalog(self, method: str, found: bool = True) -> _CM:
        return fo.datacatalog_call(method, exec_id=self._exec_id)

    def k8s_read(self, node: str) -> _CM:
        return fo.k8s("get", "pods", exec_id=self._exec_id, node=node)

    def k8s_write(self, verb: str, node: str) -> _CM:
        return fo.k8s(verb, "pods", exec_id=self._exec_id, node=node)

    def admin(self, method: str) -> _CM:
        return fo.admin_call(method, exec_id=self._exec_id)


# The writers by dialect name (dialects.DIALECTS).
WRITERS: Mapping[str, Callable[[], Writer]] = {"upstream": _Upstream, "flyte_otel": _FlyteOtel}
