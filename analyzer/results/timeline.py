"""The node timeline: each node's life cut into DESIGN.md's segments (FlyteAdmin's vocabulary), as plain data.

`analyzer.reduce.segments` builds it from flyte_otel's lifecycle records, `analyzer.decode.flyteadmin` from
FlyteAdmin's execution metrics; reductions (critical path, report) read it and the timeline picture draws it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "FLYTE",
    "HELD",
    "K8S",
    "NODE_IDLE",
    "NODE_RESET",
    "NODE_SETUP",
    "NODE_TEARDOWN",
    "NODE_TRANSITION",
    "OVERHEAD_CATEGORIES",
    "RECURSIVE",
    "RETRIED",
    "RETRIED_CATEGORY",
    "SCHEDULING",
    "SEGMENTS",
    "SEGMENT_CATEGORY",
    "SUBNODES",
    "TASK_FINALIZE",
    "TASK_PREPARE",
    "TASK_RUNTIME",
    "TASK_SETUP",
    "TASK_TEARDOWN",
    "USER",
    "WORKFLOW_SETUP",
    "WORKFLOW_TEARDOWN",
    "ArrayStats",
    "Attempt",
    "ExecutionTimeline",
    "NodeTimeline",
    "Section",
    "TimelineView",
    "totals",
]

# --- segments (FlyteAdmin's vocabulary) and the category each one is charged to ---------------------
WORKFLOW_SETUP = "WORKFLOW_SETUP"
NODE_TRANSITION = "NODE_TRANSITION"
NODE_SETUP = "NODE_SETUP"
TASK_SETUP = "TASK_SETUP"
TASK_PREPARE = (
    "TASK_PREPARE"  # in the pod, before the user's function: load task, download, literals -> Python
)
TASK_RUNTIME = "TASK_RUNTIME"
TASK_FINALIZE = "TASK_FINALIZE"  # in the pod, after it: Python -> literals, upload, deck
TASK_TEARDOWN = "TASK_TEARDOWN"
NODE_RESET = "NODE_RESET"
RETRIED = "RETRIED"  # a failed attempt's whole length (reported apart from overhead)
NODE_TEARDOWN = "NODE_TEARDOWN"
NODE_IDLE = "NODE_IDLE"
SUBNODES = "SUBNODES"
WORKFLOW_TEARDOWN = "WORKFLOW_TEARDOWN"

# The categories a segment is charged to (DESIGN.md's colours: flyte red, scheduling, k8s yellow, user green).
FLYTE = "flyte"
SCHEDULING = "scheduling"
K8S = "k8s"
USER = "user"
HELD = "held"
RETRIED_CATEGORY = "retried"
RECURSIVE = "recursive"

# Each segment's category; the segments in DESIGN.md's order; the categories counted as overhead.
SEGMENT_CATEGORY: Mapping[str, str] = {
    WORKFLOW_SETUP: FLYTE,
    NODE_TRANSITION: SCHEDULING,
    NODE_SETUP: FLYTE,
    TASK_SETUP: K8S,
    TASK_PREPARE: FLYTE,
    TASK_RUNTIME: USER,
    TASK_FINALIZE: FLYTE,
    TASK_TEARDOWN: K8S,
    NODE_RESET: FLYTE,
    RETRIED: RETRIED_CATEGORY,
    NODE_TEARDOWN: FLYTE,
    NODE_IDLE: HELD,
    SUBNODES: RECURSIVE,
    WORKFLOW_TEARDOWN: FLYTE,
}
SEGMENTS: tuple[str, ...] = tuple(SEGMENT_CATEGORY)
OVERHEAD_CATEGORIES: frozenset[str] = frozenset({FLYTE, SCHEDULING})


@dataclass(frozen=True)
class Section:
    """One segment of one node (node "" for the workflow's own), from start to end in ns."""

    segment: str
    start: int
    end: int
    node: str = ""

    @property
    def duration(self) -> int:
        """end - start in ns."""
        return self.end - self.start


@dataclass
class Attempt:
    """One task attempt as recorded, user code already clamped into it."""

    number: int
    start: int
    end: int
    phase: str | None
    user_start: int | None = None
    user_end: int | None = None
    index: int | None = None  # array sub-task
    code_start: int | None = None  # the user's function, from the pod's own spans (inside user_start..end)
    code_end: int | None = None

    def sections(self, node: str, *, last: bool) -> list[Section]:
        """The attempt as sections: RETRIED whole unless it is the `last` (then TASK_SETUP, TASK_RUNTIME,
        TASK_TEARDOWN, each present when both its ends are known and it has length)."""
        if not last:
            return [Section(RETRIED, self.start, self.end, node)]
        out = []
        for segment, start_of, end_of in _PIECES:
            start, end = start_of(self), end_of(self)
            if start is not None and end is not None and end > start:
                out.append(Section(segment, start, end, node))
        return out


# A last attempt's pieces: (segment, its start, its end), read off the attempt's timestamps.
_PIECES: tuple[tuple[str, Callable[[Attempt], int | None], Callable[[Attempt], int | None]], ...] = (
    (TASK_SETUP, lambda a: a.start, lambda a: a.user_start if a.user_start is not None else a.end),
    # with pod-side spans the container's run splits at the user's function (code_start, code_end)
    (TASK_PREPARE, lambda a: a.user_start if a.code_start is not None else None, lambda a: a.code_start),
    (TASK_RUNTIME, lambda a: _first(a.code_start, a.user_start), lambda a: _first(a.code_end, a.user_end)),
    (TASK_FINALIZE, lambda a: a.code_end, lambda a: a.user_end if a.code_end is not None else None),
    (TASK_TEARDOWN, lambda a: a.user_end, lambda a: a.end),
)


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


@dataclass
class ArrayStats:
    """An array node's fan-out and the spread of its sub-tasks' segments (ns)."""

    size: int
    subtasks: int
    retries: int
    spread: dict[str, dict[str, int]]  # segment -> {min, p50, max}


@dataclass
class NodeTimeline:
    """One node: when it became ready, was queued, ended, and the sections tiling ready -> end."""

    node_id: str
    kind: str
    parent: str | None
    upstream: tuple[str, ...]
    ready: int
    queued: int
    end: int
    phase: str | None
    attempts: list[Attempt] = field(default_factory=list)
    waiting: list[Section] = field(default_factory=list)  # ready -> queued
    sections: list[Section] = field(default_factory=list)  # queued -> end
    children: list[str] = field(default_factory=list)
    children_ready: int | None = None
    child: ExecutionTimeline | None = None
    child_exec_id: str | None = None
    array_size: int | None = None
    array: ArrayStats | None = None

    @property
    def duration(self) -> int:
        """queued -> terminal, in ns."""
        return self.end - self.queued

    def totals(self) -> dict[str, int]:
        """ns per segment over waiting and own sections (segments never seen are absent)."""
        out: dict[str, int] = {}
        for s in (*self.waiting, *self.sections):
            out[s.segment] = out.get(s.segment, 0) + s.duration
        return out


@dataclass
class ExecutionTimeline:
    """One execution: its nodes (parents before children) and the workflow's own sections."""

    exec_id: str
    start: int
    end: int
    phase: str | None
    nodes: dict[str, NodeTimeline]
    sections: list[Section]  # WORKFLOW_SETUP, WORKFLOW_TEARDOWN
    lifecycle: bool = True
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> int:
        """created -> done, in ns."""
        return self.end - self.start

    def scope(self, parent: str | None) -> list[NodeTimeline]:
        """Nodes directly inside `parent` (None: the top level)."""
        return [n for n in self.nodes.values() if n.parent == parent]


@dataclass(frozen=True)
class TimelineView:
    """What the timeline picture draws: the node timeline and its critical path (empty without lifecycle)."""

    timeline: ExecutionTimeline
    critical_path: list[Section]


def totals(sections: Iterable[Section]) -> dict[str, int]:
    """ns per category of SEGMENT_CATEGORY over some sections."""
    out: dict[str, int] = {}
    for s in sections:
        cat = SEGMENT_CATEGORY[s.segment]
        out[cat] = out.get(cat, 0) + s.duration
    return out
