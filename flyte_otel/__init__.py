"""flyte_otel: OpenTelemetry spans for FlytePropeller orchestration and node lifecycles.

Importing this package loads only the OpenTelemetry API; `configure()` loads the SDK and exporters.
Until `configure()` runs (or with OTEL_SDK_DISABLED=true) every helper is a shared no-op.
"""

from flyte_otel._runtime import is_enabled, now_ns, set_clock
from flyte_otel.lifecycle import AttemptRecord, ExecutionRecord, NodeRecord, execution
from flyte_otel.setup import EXPORTERS, configure, force_flush, shutdown, tracer_provider
from flyte_otel.spans import (
    Operation,
    admin_call,
    attempt_context,
    blob_read,
    blob_write,
    cache_lookup,
    cache_write,
    datacatalog_call,
    event,
    execution_context,
    handle_node,
    handle_task,
    k8s,
    operation,
    round,
    streak,
    workflow_store_get,
    workflow_store_update,
)

__all__ = [
    "EXPORTERS",
    "AttemptRecord",
    "ExecutionRecord",
    "NodeRecord",
    "Operation",
    "admin_call",
    "attempt_context",
    "blob_read",
    "blob_write",
    "cache_lookup",
    "cache_write",
    "configure",
    "datacatalog_call",
    "event",
    "execution",
    "execution_context",
    "force_flush",
    "handle_node",
    "handle_task",
    "is_enabled",
    "k8s",
    "now_ns",
    "operation",
    "round",
    "set_clock",
    "shutdown",
    "streak",
    "tracer_provider",
    "workflow_store_get",
    "workflow_store_update",
]
