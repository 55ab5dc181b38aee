"""Node lifecycle records (docs/lifecycle.md): execution, node, attempt, user code and idle spans.

A record holds only its ids and start time; its span is created, complete, when the record ends. Its
span id is chosen up front so children can name it as their parent while it is still open, and the
execution's ids are derived from the execution id, so a record may end in another process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import context as _context
from opentelemetry.trace import SpanKind, Status, StatusCode

from flyte_otel import ids
from flyte_otel import semconv as sc
from flyte_otel._runtime import RT, now_ns, warn_once
from flyte_otel.spans import child_context, execution_context

__all__ = ["AttemptRecord", "ExecutionRecord", "NodeRecord", "execution"]

# Terminal phases shown as an error status (so backends' UIs flag them); the phase attribute says which.
_ERROR_PHASES = frozenset({sc.Phase.FAILED, sc.Phase.RETRYABLE_FAILURE, sc.Phase.TIMED_OUT})
_NO_PARENT = _context.Context()


def _emit(
    name: str,
    parent: _context.Context,
    start: int,
    end: int,
    attrs: dict[str, Any],
    *,
    span_id: int = 0,
    trace_id: int = 0,
    phase: str | None = None,
) -> None:
    """Create and end one complete span, with pinned ids when given; never raises."""
    if not RT.on:
        return
    try:
        if phase is not None:
            attrs[sc.PHASE] = phase
        ids.pin(trace_id, span_id)
        try:
            span = RT.tracer.start_span(name, parent, SpanKind.INTERNAL, attrs, start_time=start)
        finally:
            ids.unpin()
        if phase in _ERROR_PHASES:
            span.set_status(Status(StatusCode.ERROR, phase))
        span.end(end)
    except Exception as exc:
        warn_once("recording " + name, exc)


class _Record:
    __slots__ = ("exec_id", "_attrs", "_start", "_span_id", "_parent", "_ctx", "_ended")

    def __init__(
        self,
        exec_id: str,
        attrs: dict[str, Any],
        start: int | None,
        parent: _context.Context,
        span_id: int | None = None,
    ) -> None:
        self.exec_id = exec_id
        self._attrs = attrs
        self._start = now_ns() if start is None else start
        self._span_id = ids.new_span_id() if span_id is None else span_id
        self._parent = parent
        self._ctx = child_context(parent, self._span_id)
        self._ended = False

    def _end(self, name: str, phase: str, at: int | None) -> None:
        if self._ended:  # a record is emitted once; a second end() is the caller's slip, not a new span
            return
        self._ended = True
        _emit(
            name,
            self._parent,
            self._start,
            now_ns() if at is None else at,
            self._attrs,
            span_id=self._span_id,
            phase=phase,
        )


class AttemptRecord(_Record):
    """One task attempt: created -> observed terminal, with its user code."""

    __slots__ = ("node_id", "number")
    node_id: str
    number: int

    def __init__(self, node: NodeRecord, number: int, start: int | None, array_index: int | None) -> None:
        attrs: dict[str, Any] = {
            sc.EXEC_ID: node.exec_id,
            sc.NODE_ID: node.node_id,
            sc.ATTEMPT_NUMBER: number,
        }
        if array_index is not None:
            attrs[sc.ARRAY_INDEX] = array_index
        # derived, so that the task pod can name it as the parent of its own spans (ids.attempt_span_id)
        span_id = ids.attempt_span_id(node.exec_id, node.node_id, number, array_index)
        super().__init__(node.exec_id, attrs, start, node._ctx, span_id)
        self.node_id = node.node_id
        self.number = number

    def user_code(self, *, start: int, end: int) -> None:
        """Record the user code's run (the pod's clock) inside this attempt."""
        attrs = {sc.EXEC_ID: self.exec_id, sc.NODE_ID: self.node_id, sc.ATTEMPT_NUMBER: self.number}
        _emit(sc.USER_CODE, self._ctx, start, end, attrs)

    def end(self, phase: str, *, at: int | None = None) -> None:
        """The attempt was observed terminal (SUCCEEDED, FAILED, RETRYABLE_FAILURE)."""
        self._end(sc.ATTEMPT, phase, at)


class NodeRecord(_Record):
    """One node: queued -> observed terminal, with its attempts, idle time and nested nodes."""

    __slots__ = ("node_id", "execution")
    node_id: str
    execution: ExecutionRecord

    def __init__(
        self,
        execution: ExecutionRecord,
        node_id: str,
        kind: str,
        upstream: Sequence[str],
        parent: NodeRecord | None,
        start: int | None,
        child_exec_id: str | None,
        array_size: int | None,
    ) -> None:
        attrs: dict[str, Any] = {sc.EXEC_ID: execution.exec_id, sc.NODE_ID: node_id, sc.NODE_KIND: kind}
        if upstream:
            attrs[sc.NODE_UPSTREAM] = tuple(upstream)
        if parent is not None:
            attrs[sc.NODE_PARENT] = parent.node_id
        if child_exec_id is not None:
            attrs[sc.CHILD_EXEC_ID] = child_exec_id
        if array_size is not None:
            attrs[sc.ARRAY_SIZE] = array_size
        super().__init__(execution.exec_id, attrs, start, (parent or execution)._ctx)
        self.node_id = node_id
        self.execution = execution

    def attempt(
        self, number: int, *, start: int | None = None, array_index: int | None = None
    ) -> AttemptRecord:
        """A task attempt was created (number is 0-based, like upstream's retry attempt)."""
        return AttemptRecord(self, number, start, array_index)

    def idle(self, reason: str, *, start: int, end: int) -> None:
        """The node waited (reason: IdleReason, e.g. a gate's approval)."""
        attrs = {sc.EXEC_ID: self.exec_id, sc.NODE_ID: self.node_id, sc.IDLE_REASON: reason}
        _emit(sc.IDLE, self._ctx, start, end, attrs)

    def end(self, phase: str, *, at: int | None = None) -> None:
        """The node was observed terminal."""
        self._end(sc.NODE, phase, at)


class ExecutionRecord(_Record):
    """One workflow execution: created -> done; its span is the trace root, emitted once at end()."""

    __slots__ = ("_trace_id",)

    def __init__(self, exec_id: str, wf: str | None, ns: str | None, start: int | None) -> None:
        attrs: dict[str, Any] = {sc.EXEC_ID: exec_id}
        if wf is not None:
            attrs[sc.WORKFLOW] = wf
        if ns is not None:
            attrs[sc.NAMESPACE] = ns
        # Not _Record.__init__: the execution's ids are derived, not random, so every process agrees.
        self.exec_id = exec_id
        self._attrs = attrs
        self._start = now_ns() if start is None else start
        self._trace_id, self._span_id = ids.execution_ids(exec_id)
        self._parent = _NO_PARENT
        self._ctx = execution_context(exec_id)
        self._ended = False

    def node(
        self,
        node_id: str,
        *,
        kind: str,
        upstream: Sequence[str] = (),
        parent: NodeRecord | None = None,
        start: int | None = None,
        child_exec_id: str | None = None,
        array_size: int | None = None,
    ) -> NodeRecord:
        """A node was queued (node_id: its full path id; parent: the enclosing node record, if nested)."""
        return NodeRecord(self, node_id, kind, upstream, parent, start, child_exec_id, array_size)

    def hold(self, node_id: str, *, start: int, end: int) -> None:
        """A ready node was held back by max parallelism from start to end (before it was queued)."""
        attrs = {sc.EXEC_ID: self.exec_id, sc.NODE_ID: node_id, sc.IDLE_REASON: sc.IdleReason.MAX_PARALLELISM}
        _emit(sc.IDLE, self._ctx, start, end, attrs)

    def end(self, phase: str, *, at: int | None = None) -> None:
        """The execution is done: emit its root span (once) with the derived trace and span ids."""
        if self._ended:
            return
        self._ended = True
        _emit(
            sc.EXECUTION,
            _NO_PARENT,
            self._start,
            now_ns() if at is None else at,
            self._attrs,
            span_id=self._span_id,
            trace_id=self._trace_id,
            phase=phase,
        )


class _NoopAttempt(AttemptRecord):
    __slots__ = ()

    def __init__(self) -> None:
        self.exec_id, self.node_id, self.number, self._ctx = "", "", 0, _NO_PARENT

    def user_code(self, *, start: int, end: int) -> None:
        pass

    def end(self, phase: str, *, at: int | None = None) -> None:
        pass


class _NoopNode(NodeRecord):
    __slots__ = ()

    def __init__(self) -> None:
        self.exec_id, self.node_id, self._ctx = "", "", _NO_PARENT

    def attempt(
        self, number: int, *, start: int | None = None, array_index: int | None = None
    ) -> AttemptRecord:
        return _NOOP_ATTEMPT

    def idle(self, reason: str, *, start: int, end: int) -> None:
        pass

    def end(self, phase: str, *, at: int | None = None) -> None:
        pass


class _NoopExecution(ExecutionRecord):
    __slots__ = ()

    def __init__(self) -> None:
        self.exec_id, self._ctx = "", _NO_PARENT

    def node(
        self,
        node_id: str,
        *,
        kind: str,
        upstream: Sequence[str] = (),
        parent: NodeRecord | None = None,
        start: int | None = None,
        child_exec_id: str | None = None,
        array_size: int | None = None,
    ) -> NodeRecord:
        return _NOOP_NODE

    def hold(self, node_id: str, *, start: int, end: int) -> None:
        pass

    def end(self, phase: str, *, at: int | None = None) -> None:
        pass


_NOOP_ATTEMPT = _NoopAttempt()
_NOOP_NODE = _NoopNode()
_NOOP_EXECUTION = _NoopExecution()


def execution(
    exec_id: str, *, wf: str | None = None, ns: str | None = None, start: int | None = None
) -> ExecutionRecord:
    """Start recording an execution (created at start); disabled: a shared record that records nothing."""
    if not RT.on:
        return _NOOP_EXECUTION
    return ExecutionRecord(exec_id, wf, ns, start)
