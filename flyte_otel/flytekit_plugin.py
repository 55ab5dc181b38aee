"""flytekit's start-up hook for pod-side spans.

flytekit imports every `flytekit.plugins` entry point at the end of its own import (flytekit/__init__.py,
`load_implicit_plugins`), in every process that imports it: the task pod's `pyflyte-execute` included. That is
the one place that runs before the task in every Flyte image without a change to the user's code or to the
container's command, so it is the hook (a sitecustomize or `opentelemetry-instrument` would need the image's
entrypoint changed). With FLYTE_OTEL_FLYTEKIT=true this module configures flyte_otel from the OTEL_* variables
and switches `FlytekitInstrumentor` on; otherwise it reads one variable and does nothing.
"""

from __future__ import annotations

import os

__all__ = ()  # nothing public: importing this module is the hook

# The variable that switches pod-side spans on (docs/pod_spans.md).
_ENV = "FLYTE_OTEL_FLYTEKIT"

if os.environ.get(_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
    from flyte_otel import semconv as sc
    from flyte_otel._runtime import warn_once

    try:
        import flyte_otel
        from flyte_otel.flytekit_instrumentor import FlytekitInstrumentor

        if not flyte_otel.is_enabled():
            # batched: one export at exit (atexit shutdown), not one per span; named as the task pod's service
            service = None if os.environ.get("OTEL_SERVICE_NAME") else sc.SERVICE_TASK_POD
            flyte_otel.configure(batch=True, service_name=service)
        FlytekitInstrumentor().instrument(tracer_provider=flyte_otel.tracer_provider())
    except Exception as exc:  # a bad OTEL_* setting must not stop the task
        warn_once("switching the flytekit instrumentor on", exc)
