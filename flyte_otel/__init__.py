"""flyte_otel: OpenTelemetry spans for FlytePropeller orchestration and node lifecycles.

Importing this package loads nothing: each name loads its module on first use (PEP 562), so that a task image's
flytekit hook (flyte_otel.flytekit_plugin) costs one environment lookup when it is off. The helpers load only
the OpenTelemetry API; `configure()` loads the SDK and exporters. Until `configure()` runs (or with
OTEL_SDK_DISABLED=true) every helper is a shared no-op.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# The modules that define the public names, searched in this order on a name's first use.
_MODULES = ("flyte_otel.spans", "flyte_otel.lifecycle", "flyte_otel.setup", "flyte_otel._runtime")

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


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module in _MODULES:
            value = getattr(importlib.import_module(module), name, __getattr__)
            if value is not __getattr__:
                # kept: later lookups are plain attribute reads, so the disabled path stays cheap
                globals()[name] = value
                return value
    raise AttributeError(f"module 'flyte_otel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
