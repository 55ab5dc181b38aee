"""A wrapper around every exporter flyte_otel installs: failures become one logged line, never an exception."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["DropReport", "GuardedExporter"]

_log = logging.getLogger("flyte_otel")
# The SDK's exporters log failures through a filter that hides repeats for up to 20 s, so a dropped
# batch can go unmentioned; this says how many spans were lost, at most once a minute per exporter.
_REPORT_EVERY_S = 60.0


class DropReport:
    """Counts the spans an exporter lost and logs them at WARNING: the first loss at once, later ones at most
    once a minute, and what is left unreported when `flush` is called (at shutdown)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.dropped = 0  # spans lost so far
        self._unreported = 0
        self._last_report = float("-inf")
        self._lock = threading.Lock()  # the file exporter loses spans on its writer thread and at flush

    def add(self, spans: int) -> None:
        """Count `spans` lost; log them unless a report was made less than a minute ago."""
        with self._lock:
            self.dropped += spans
            self._unreported += spans
            now = time.monotonic()
            if now - self._last_report >= _REPORT_EVERY_S:
                self._report()
                self._last_report = now

    def flush(self) -> None:
        """Log the losses not reported yet."""
        with self._lock:
            if self._unreported:
                self._report()

    def _report(self) -> None:
        _log.warning("flyte_otel: dropped %d spans: export to %s failed", self._unreported, self.target)
        self._unreported = 0


class GuardedExporter(SpanExporter):
    """Delegate to `inner`; count and report dropped spans; swallow whatever it raises."""

    def __init__(self, inner: Any, target: str) -> None:
        self.inner = inner
        self.target = target
        self.drops = DropReport(target)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the wrapped exporter; a failure is counted and logged, not raised."""
        try:
            result: SpanExportResult = self.inner.export(spans)
        except Exception as exc:
            result = SpanExportResult.FAILURE
            _log.debug("flyte_otel: exporter %s raised %r", self.target, exc)
        if result is not SpanExportResult.SUCCESS:
            self.drops.add(len(spans))
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:
            return False

    def shutdown(self) -> None:
        """Shut the wrapped exporter down; report spans dropped since the last report."""
        self.drops.flush()
        try:
            self.inner.shutdown()
        except Exception as exc:
            _log.warning("flyte_otel: shutting down the exporter to %s failed: %r", self.target, exc)
