"""What `otel-fold list` shows of one execution: its id, workflow, time span, size and where its spans are."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExecutionSummary"]


@dataclass(frozen=True)
class ExecutionSummary:
    """One execution as a source lists it; ``spans`` is None where the backend does not say how many."""

    exec_id: str
    workflow: (
        str | None
    )  # the `wf` attribute of its spans (upstream: project:domain:name); None if none has it
    start_ns: int  # its earliest span's start
    end_ns: int  # its latest span's end
    spans: int | None  # spans stored for it, the un-tagged spans of its traces included (a repeat counts)
    where: tuple[str, ...]  # the store files or the file holding it, or the backend's URL

    @property
    def duration_ns(self) -> int:
        """First start to last end."""
        return self.end_ns - self.start_ns
