"""Operation helpers: one span per propeller operation, each a context manager and a decorator (sync/async)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar

from opentelemetry import context as _context
from opentelemetry import trace as _trace
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
)

from flyte_otel import ids
from flyte_otel import semconv as sc
from flyte_otel._runtime import RT, warn_once

__all__ = [
    "Operation",
    "admin_call",
    "attempt_context",
    "child_context",
    "blob_read",
    "blob_write",
    "cache_lookup",
    "cache_write",
    "datacatalog_call",
    "event",
    "execution_context",
    "handle_node",
    "handle_task",
    "k8s",
    "operation",
    "round",
    "streak",
    "workflow_store_get",
    "workflow_store_update",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_INTERNAL = SpanKind.INTERNAL
_CLIENT = SpanKind.CLIENT
_attach = _context.attach
_detach = _context.detach
_with_span = _trace.set_span_in_context
# An empty context has no current span, so a span started in it is a new trace root (upstream rounds).
_NO_PARENT = _context.Context()


class Operation:
    """One operation's span: `with`/`async with` yields the Span; as a decorator, one span per call."""

    __slots__ = ("_name", "_attrs", "_kind", "_service", "_parent", "_start", "_end", "_span", "_token")

    def __init__(
        self,
        name: str,
        attrs: dict[str, Any],
        kind: SpanKind,
        service: str,
        parent: _context.Context | None,
        start: int | None,
        end: int | None,
    ) -> None:
        self._name = name
        self._attrs = attrs
        self._kind = kind
        self._service = service
        self._parent = parent  # None: the current context
        self._start = start
        self._end = end
        self._token: object = None
        self._span: Span = INVALID_SPAN

    def __enter__(self) -> Span:
        try:
            start = self._start
            if start is None and RT.clock is not None:
                start = RT.clock()
            span: Span = RT.tracers[self._service].start_span(
                self._name, self._parent, self._kind, self._attrs, start_time=start
            )
            self._token = _attach(_with_span(span))
        except Exception as exc:  # the SDK failed, or was shut down under us: run the caller's code anyway
            warn_once("starting a span", exc)
            span = INVALID_SPAN
        self._span = span
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        span = self._span
        try:
            if exc is not None and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            if self._token is not None:
                _detach(self._token)  # type: ignore[arg-type]
                self._token = None
            end = self._end
            if end is None and RT.clock is not None:
                end = RT.clock()
            span.end(end)
        except Exception as own:
            warn_once("ending a span", own)
        return False  # the caller's exception, if any, propagates unchanged

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        return self.__exit__(exc_type, exc, tb)

    def _fresh(self) -> Operation:
        return Operation(
            self._name, self._attrs, self._kind, self._service, self._parent, self._start, self._end
        )

    def __call__(self, fn: _F) -> _F:
        """Decorate `fn` (sync or async): each call runs inside a new span with these arguments."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]


class _NoOp(Operation):
    """What every helper returns while disabled: one shared object, so the disabled path allocates nothing."""

    __slots__ = ()

    def __init__(self) -> None:
        pass

    def __enter__(self) -> Span:
        return INVALID_SPAN

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        return False

    def __call__(self, fn: _F) -> _F:
        """While disabled, decorating returns `fn` itself: decorate after configure() to trace it."""
        return fn


_NOOP = _NoOp()


def _attrs(exec_id: str | None, node: str | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if exec_id is not None:
        attrs[sc.EXEC_ID] = exec_id
    if node is not None:
        attrs[sc.NODE_ID] = node
    return attrs


def execution_context(exec_id: str) -> _context.Context:
    """The context whose current span is the execution's deterministic root (one-trace mode's parent)."""
    return _root_context(exec_id, RT.root_sampled)


def attempt_context(
    exec_id: str, node: str, attempt: int, array_index: int | None = None
) -> _context.Context:
    """The context whose current span is a task attempt's record (its id derived from these four): the
    parent of the task pod's own spans, in the execution's trace."""
    span_id = ids.attempt_span_id(exec_id, node, attempt, array_index)
    return child_context(execution_context(exec_id), span_id, remote=True)  # the record is the propeller's


def child_context(parent: _context.Context, span_id: int, *, remote: bool = False) -> _context.Context:
    """The context whose current span is the child `span_id` of `parent`'s current span (same trace and
    sampling), for a span that exists only by its id yet: a lifecycle record, or one made in another process."""
    parent_sc = _trace.get_current_span(parent).get_span_context()
    own = SpanContext(parent_sc.trace_id, span_id, is_remote=remote, trace_flags=parent_sc.trace_flags)
    return _with_span(NonRecordingSpan(own), _NO_PARENT)


@functools.lru_cache(maxsize=4096)
def _root_context(exec_id: str, sampled: Callable[[int], bool]) -> _context.Context:
    trace_id, span_id = ids.execution_ids(exec_id)
    flags = _trace.TraceFlags(_trace.TraceFlags.SAMPLED if sampled(trace_id) else _trace.TraceFlags.DEFAULT)
    # is_remote: the root may well be emitted by another process (whichever ends the execution).
    root = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return _with_span(NonRecordingSpan(root), _NO_PARENT)


def round(
    exec_id: str,
    *,
    wf: str | None = None,
    ns: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Operation:
    """One propeller round: a new trace root (upstream), or under the execution's root in one-trace mode."""
    if not RT.on:
        return _NOOP
    attrs: dict[str, Any] = {sc.EXEC_ID: exec_id}
    if wf is not None:
        attrs[sc.WORKFLOW] = wf
    if ns is not None:
        attrs[sc.NAMESPACE] = ns
    parent = execution_context(exec_id) if RT.one_trace else _NO_PARENT
    return Operation(sc.ROUND, attrs, _INTERNAL, sc.SERVICE_PROPELLER, parent, start, end)


def streak(
    exec_id: str, *, wf: str | None = None, start: int | None = None, end: int | None = None
) -> Operation:
    """One streak of a round; set STREAK_CHANGED on the yielded span when it changed state."""
    if not RT.on:
        return _NOOP
    attrs: dict[str, Any] = {sc.EXEC_ID: exec_id}
    if wf is not None:
        attrs[sc.WORKFLOW] = wf
    return Operation(sc.STREAK, attrs, _INTERNAL, sc.SERVICE_PROPELLER, None, start, end)


def workflow_store_get(exec_id: str, *, start: int | None = None, end: int | None = None) -> Operation:
    """An informer / etcd read of the FlyteWorkflow CRD."""
    if not RT.on:
        return _NOOP
    return Operation(
        sc.WORKFLOW_STORE_GET, {sc.EXEC_ID: exec_id}, _INTERNAL, sc.SERVICE_PROPELLER, None, start, end
    )


def workflow_store_update(
    exec_id: str, *, size_bytes: int | None = None, start: int | None = None, end: int | None = None
) -> Operation:
    """An etcd write of the FlyteWorkflow CRD, with the object's size when known."""
    if not RT.on:
        return _NOOP
    attrs: dict[str, Any] = {sc.EXEC_ID: exec_id}
    if size_bytes is not None:
        attrs[sc.ETCD_SIZE] = size_bytes
    return Operation(sc.WORKFLOW_STORE_UPDATE, attrs, _INTERNAL, sc.SERVICE_PROPELLER, None, start, end)


def handle_node(
    exec_id: str, node: str, *, phase: str | None = None, start: int | None = None, end: int | None = None
) -> Operation:
    """The node executor handling one node in a streak."""
    if not RT.on:
        return _NOOP
    attrs = {sc.EXEC_ID: exec_id, sc.NODE_ID: node}
    if phase is not None:
        attrs[sc.PHASE] = phase
    return Operation(sc.HANDLE_NODE, attrs, _INTERNAL, sc.SERVICE_PROPELLER, None, start, end)


def handle_task(
    exec_id: str, node: str, *, tasktype: str | None = None, start: int | None = None, end: int | None = None
) -> Operation:
    """The task handler handling one task node."""
    if not RT.on:
        return _NOOP
    attrs = {sc.EXEC_ID: exec_id, sc.NODE_ID: node}
    if tasktype is not None:
        attrs[sc.TASK_TYPE] = tasktype
    return Operation(sc.HANDLE_TASK, attrs, _INTERNAL, sc.SERVICE_PROPELLER, None, start, end)


_EVENT_SPANS = {
    sc.EventKind.WORKFLOW: sc.CREATE_WORKFLOW_EVENT,
    sc.EventKind.NODE: sc.CREATE_NODE_EVENT,
    sc.EventKind.TASK: sc.CREATE_TASK_EVENT,
}


def event(
    kind: str,
    exec_id: str,
    *,
    node: str | None = None,
    phase: str,
    phase_from: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Operation:
    """An execution event sent to FlyteAdmin (kind: EventKind), recording the phase transition."""
    if not RT.on:
        return _NOOP
    name = _EVENT_SPANS.get(kind)
    if name is None:
        warn_once("event(): unknown kind " + repr(kind), ValueError(kind))
        return _NOOP
    attrs = _attrs(exec_id, node)
    attrs[sc.EVENT_KIND] = kind
    attrs[sc.PHASE] = phase
    if phase_from is not None:
        attrs[sc.PHASE_FROM] = phase_from
    return Operation(name, attrs, _CLIENT, sc.SERVICE_ADMIN_CLIENT, None, start, end)


def _blob(
    name: str,
    key: str,
    size_bytes: int | None,
    exec_id: str | None,
    node: str | None,
    start: int | None,
    end: int | None,
) -> Operation:
    attrs = _attrs(exec_id, node)
    attrs[sc.BLOB_KEY] = key
    if size_bytes is not None:
        attrs[sc.BLOB_SIZE] = size_bytes
    return Operation(name, attrs, _INTERNAL, sc.SERVICE_BLOBSTORE, None, start, end)


def blob_read(
    key: str,
    *,
    size_bytes: int | None = None,
    exec_id: str | None = None,
    node: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Operation:
    """A blobstore read (key, bytes when known)."""
    if not RT.on:
        return _NOOP
    return _blob(sc.READ_PROTOBUF, key, size_bytes, exec_id, node, start, end)


def blob_write(
    key: str,
    *,
    size_bytes: int | None = None,
    exec_id: str | None = None,
    node: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Operation:
    """A blobstore write (key, bytes when known)."""
    if not RT.on:
        return _NOOP
    return _blob(sc.WRITE_PROTOBUF, key, size_bytes, exec_id, node, start, end)


def cache_lookup(
    exec_id: str, node: str, *, hit: bool | None = None, start: int | None = None, end: int | None = None
) -> Operation:
    """A catalog cache look-up; pass hit= or set CACHE_HIT on the yielded span once known."""
    if not RT.on:
        return _NOOP
    attrs: dict[str, Any] = {sc.EXEC_ID: exec_id, sc.NODE_ID: node}
    if hit is not None:
        attrs[sc.CACHE_HIT] = hit
    return Operation(sc.CHECK_CATALOG_CACHE, attrs, _INTERNAL, sc.SERVICE_PROPELLER, None, start, end)


def cache_write(exec_id: str, node: str, *, start: int | None = None, end: int | None = None) -> Operation:
    """A catalog cache write of a node's outputs."""
    if not RT.on:
        return _NOOP
    attrs = {sc.EXEC_ID: exec_id, sc.NODE_ID: node}
    return Operation(sc.WRITE_CATALOG_CACHE, attrs, _INTERNAL, sc.SERVICE_PROPELLER, None, start, end)


# Informer reads go through controller-runtime's cache, writes through its client (as upstream names them).
_K8S_SPANS = {
    "get": sc.K8S_CACHE_PREFIX + "Get",
    "list": sc.K8S_CACHE_PREFIX + "List",
    "watch": sc.K8S_CACHE_PREFIX + "Watch",
}


def k8s(
    verb: str,
    resource: str,
    *,
    exec_id: str | None = None,
    node: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Operation:
    """A Kubernetes API call (verb: get | list | create | update | patch | delete | watch; resource: pods...)."""
    if not RT.on:
        return _NOOP
    name = _K8S_SPANS.get(verb) or sc.K8S_CLIENT_PREFIX + verb.capitalize()
    attrs = _attrs(exec_id, node)
    attrs[sc.K8S_VERB] = verb
    attrs[sc.K8S_RESOURCE] = resource
    return Operation(name, attrs, _INTERNAL, sc.SERVICE_K8S, None, start, end)


def admin_call(
    method: str, *, exec_id: str | None = None, start: int | None = None, end: int | None = None
) -> Operation:
    """A FlyteAdmin AdminService call that is not an event (use event() for those)."""
    if not RT.on:
        return _NOOP
    attrs = _attrs(exec_id, None)
    attrs[sc.RPC_METHOD] = method
    return Operation(
        sc.ADMIN_SERVICE_PREFIX + method, attrs, _CLIENT, sc.SERVICE_ADMIN_CLIENT, None, start, end
    )


def datacatalog_call(
    method: str, *, exec_id: str | None = None, start: int | None = None, end: int | None = None
) -> Operation:
    """A DataCatalog service call (GetArtifact, CreateArtifact, ...)."""
    if not RT.on:
        return _NOOP
    attrs = _attrs(exec_id, None)
    attrs[sc.RPC_METHOD] = method
    name = sc.DATACATALOG_PREFIX + method
    return Operation(name, attrs, _CLIENT, sc.SERVICE_DATACATALOG_CLIENT, None, start, end)


def operation(
    name: str,
    *,
    service: str = sc.SERVICE_PROPELLER,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    root: bool = False,
    start: int | None = None,
    end: int | None = None,
) -> Operation:
    """Any span, named and attributed by the caller: for spans the helpers above do not model, e.g. to emit
    another component's spans verbatim. `service`: one of the configured services; `root`: a new trace."""
    if not RT.on:
        return _NOOP
    if service not in RT.tracers:
        warn_once("operation(): unknown service " + repr(service), ValueError(service))
        return _NOOP
    attrs = dict(attributes) if attributes else {}
    return Operation(name, attrs, kind, service, _NO_PARENT if root else None, start, end)
