"""configure() / shutdown(): the one place that builds the SDK's TracerProvider and exporters.

The SDK and exporters are imported here, inside the functions, so importing flyte_otel costs only the
OpenTelemetry API (a library must not drag the SDK into programs that do not configure it).
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flyte_otel import ids
from flyte_otel import semconv as sc
from flyte_otel._runtime import RT, warn_once
from flyte_otel.framing import PROTO_SUFFIX, SUFFIXES
from flyte_otel.paths import default_store

__all__ = ["EXPORTERS", "configure", "force_flush", "shutdown", "tracer_provider"]

# The exporters `configure(exporter=...)` knows.
EXPORTERS = ("otlp-grpc", "otlp-http", "file", "none")
# OTEL_EXPORTER_OTLP_PROTOCOL value -> exporter name (http/json: the Python SDK has no such exporter)
_PROTOCOLS = {"grpc": "otlp-grpc", "http/protobuf": "otlp-http"}
# Upstream FlytePropeller's client services, each its own Resource (split with upstream_services=True).
_UPSTREAM_SERVICES = (
    sc.SERVICE_BLOBSTORE,
    sc.SERVICE_K8S,
    sc.SERVICE_ADMIN_CLIENT,
    sc.SERVICE_DATACATALOG_CLIENT,
    sc.SERVICE_TASK_POD,  # not upstream's: a task pod's flytekit, for the simulator's pod-side spans
)
_DEFAULT_SERVICE = sc.SERVICE_PROPELLER

_lock = threading.Lock()
_provider: Any = None
_atexit_registered = False


def configure(
    *,
    exporter: Any = None,
    endpoint: str | None = None,
    path: str | os.PathLike[str] | None = None,
    service_name: str | None = None,
    one_trace: bool = False,
    sampler: Any = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    batch: bool = True,
    enabled: bool | None = None,
    upstream_services: bool = False,
) -> None:
    """Install a TracerProvider for flyte_otel's helpers (replacing any earlier one); ValueError on bad settings."""
    global _provider, _atexit_registered
    with _lock:
        _shutdown_locked()
        # OTEL_SDK_DISABLED=true wins even over enabled=True: the SDK's own TracerProvider honours it too.
        if enabled is False or os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider

        the_sampler = _sampler(sampler)  # before the exporter, so a bad ratio leaves no file open
        resource = _resource(service_name)
        span_exporter = _exporter(
            exporter, endpoint, path, str(resource.attributes[SERVICE_NAME]), headers, timeout_s
        )
        processors = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]  # the SDK leaves __init__ unannotated
        if span_exporter is not None:
            processors.add_span_processor(_processor(span_exporter, endpoint, timeout_s, batch))
        id_generator = ids.PinnedIdGenerator()

        def provider_for(res: Any) -> Any:
            # shutdown_on_exit=False: our own atexit hook flushes the shared processors once.
            return TracerProvider(
                sampler=the_sampler,
                resource=res,
                shutdown_on_exit=False,
                active_span_processor=processors,
                id_generator=id_generator,  # type: ignore[arg-type]
            )

        provider = provider_for(resource)
        tracer = provider.get_tracer("flyte_otel")
        tracers = {svc: tracer for svc in (_DEFAULT_SERVICE, *_UPSTREAM_SERVICES)}
        if upstream_services:
            for svc in _UPSTREAM_SERVICES:
                tracers[svc] = provider_for(resource.merge(Resource({SERVICE_NAME: svc}))).get_tracer(
                    "flyte_otel"
                )
        root_sampler = provider.sampler

        def root_sampled(trace_id: int) -> bool:
            # The execution root's decision, made from its derived trace id alone: every process agrees.
            return bool(root_sampler.should_sample(None, trace_id, sc.EXECUTION).decision.is_sampled())

        _provider = provider
        RT.tracer = tracer
        RT.tracers = tracers
        RT.one_trace = one_trace
        RT.root_sampled = root_sampled
        RT.on = True
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True


def shutdown() -> None:
    """Flush every pending span and stop; helpers become no-ops until configure() is called again."""
    with _lock:
        _shutdown_locked()


def _shutdown_locked() -> None:
    global _provider
    RT.on = False  # first, so helpers stop creating spans the provider would refuse
    provider, _provider = _provider, None
    RT.tracer = None
    RT.tracers = {}
    if provider is not None:
        try:
            provider.shutdown()
        except Exception as exc:
            warn_once("shutting down the tracer provider", exc)


def force_flush() -> None:
    """Export every span ended so far (bounded by the exporter's timeout)."""
    provider = _provider
    if provider is not None:
        provider.force_flush()


def tracer_provider() -> Any:
    """The SDK TracerProvider that configure() installed (None when disabled), e.g. to add a processor."""
    return _provider


def _resource(service_name: str | None) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    if service_name is not None:
        return Resource.create({SERVICE_NAME: service_name})
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create(); without either the SDK
    # says "unknown_service", and we say what upstream's propeller says.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: _DEFAULT_SERVICE}))
    return resource


def _sampler(sampler: Any) -> Any:
    # None: the SDK reads OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on).
    if isinstance(sampler, float | int) and not isinstance(sampler, bool):
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        if not 0.0 <= sampler <= 1.0:
            raise ValueError(f"flyte_otel.configure: sampler ratio {sampler!r} is not within [0, 1]")
        return ParentBased(TraceIdRatioBased(float(sampler)))
    return sampler


def _exporter_name_from_env() -> str:
    env = os.environ
    traces_exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    if (
        traces_exporter == "file"
    ):  # ours: the otel-fold store (OTEL_FOLD_STORE), as configure(exporter="file")
        return "file"
    if traces_exporter not in ("", "otlp", "none"):
        raise ValueError(
            f"flyte_otel.configure: OTEL_TRACES_EXPORTER={traces_exporter!r} is not supported "
            "(use otlp, file or none)"
        )
    endpoint_set = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces_exporter == "none" or (traces_exporter == "" and not (protocol or endpoint_set)):
        return "none"
    # gRPC when unset, like the Python SDK's `otlp` exporter and FlytePropeller's `otel.type: otlpgrpc`.
    name = _PROTOCOLS.get(protocol or "grpc")
    if name is None:
        raise ValueError(
            f"flyte_otel.configure: OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported "
            f"(use one of {sorted(_PROTOCOLS)})"
        )
    return name


def _processor(exporter: Any, endpoint: str | None, timeout_s: float, batch: bool) -> Any:
    """The span processor for an exporter: the SDK's batch queue, or each span handed over as it ends
    (batch=False), and so always for the file exporter, which batches itself and never drops a span (the
    SDK's queue drops them when full)."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from flyte_otel.file_exporter import FlushingSpanProcessor, OtlpFileExporter
    from flyte_otel.guard import GuardedExporter

    guarded = GuardedExporter(exporter, _describe(exporter, endpoint))
    if batch and not isinstance(exporter, OtlpFileExporter):
        return BatchSpanProcessor(guarded, export_timeout_millis=int(timeout_s * 1000))
    return FlushingSpanProcessor(guarded)  # force_flush reaches an exporter that holds spans of its own


def _exporter(
    exporter: Any,
    endpoint: str | None,
    path: str | os.PathLike[str] | None,
    service: str,
    headers: dict[str, str] | None,
    timeout_s: float,
) -> Any:
    if exporter is not None and not isinstance(exporter, str):
        return exporter  # a SpanExporter the caller built (e.g. the SDK's InMemorySpanExporter)
    name = _exporter_name_from_env() if exporter is None else exporter
    if name == "none":
        return None
    if name == "otlp-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        insecure = None if endpoint is None else urlsplit(endpoint).scheme != "https"
        return GrpcExporter(endpoint=endpoint, headers=headers, timeout=timeout_s, insecure=insecure)
    if name == "otlp-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=_http_traces_url(endpoint), headers=headers, timeout=timeout_s)
    if name == "file":
        from flyte_otel.file_exporter import OtlpFileExporter

        target = _file_path(path, service)
        try:
            return OtlpFileExporter(target)
        except OSError as exc:
            raise ValueError(
                f"flyte_otel.configure: cannot open {target} for the file exporter: {exc}"
            ) from exc
    raise ValueError(f"flyte_otel.configure: exporter {name!r} is not one of {EXPORTERS} or a SpanExporter")


def _describe(exporter: Any, endpoint: str | None) -> str:
    """How log lines name an exporter: its type and where it sends, without credentials or query."""
    target = getattr(exporter, "path", None) or getattr(exporter, "_endpoint", None) or endpoint
    if target is None:
        return type(exporter).__name__
    url = urlsplit(str(target))
    if url.netloc:
        target = f"{url.scheme}://{url.hostname}{f':{url.port}' if url.port else ''}{url.path}"
    return f"{type(exporter).__name__}({target})"


def _http_traces_url(endpoint: str | None) -> str | None:
    # Like OTEL_EXPORTER_OTLP_ENDPOINT, a bare base URL gets the signal path; a URL with a path is used as is.
    if endpoint is None:
        return None
    if urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def _file_path(path: str | os.PathLike[str] | None, service: str) -> Path:
    if path is None:
        path = default_store()
    target = Path(path)
    if target.suffix in SUFFIXES or (target.exists() and not target.is_dir()):
        return target
    # the service name is a free string (OTEL_SERVICE_NAME): `../` must not leave the store, `a/b` must not
    # hide spans in a subdirectory the reader does not list
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", service).lstrip(".") or "service"
    return target / f"{safe}-{os.getpid()}{PROTO_SUFFIX}"
