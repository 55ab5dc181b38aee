"""Pod-side spans: flytekit's task execution inside the task pod, as an OpenTelemetry instrumentor.

Propeller sees a task pod as one block; inside it flytekit loads the task, downloads the inputs, converts them,
runs the user's function, converts and uploads the outputs and writes the deck. `FlytekitInstrumentor` (in the
style of opentelemetry-python-contrib: `BaseInstrumentor`, idempotent `instrument()` / `uninstrument()`, the
`opentelemetry_instrumentor` entry point) wraps these points of flytekit's pod entrypoint:

* `flytekit.bin.entrypoint._dispatch_execute`: the pod-side root, `flyte.pod.task`;
* `flytekit.core.utils.timeit`: every timed block flytekit records in its Deck ("Load task", "Translate literal
  to python value", "Execute user level code", "Translate the output to literals", ...), one span each, named
  without the URIs some of them embed (the URI becomes `flyte.uri`), the user's exception recorded;
* `FileAccessProvider.get_data` / `put_data`: each download and upload, with bytes and URI scheme;
* `flytekit.bin.entrypoint._output_deck`: deck writing.

What the pod knows of itself comes from the environment propeller's k8s plugin sets (flyteorg/flyte v1.16.8
flyteplugins/go/tasks/pluginmachinery/flytek8s/k8s_resource_adds.go:57-69 and :96-107: FLYTE_INTERNAL_EXECUTION_*,
FLYTE_ATTEMPT_NUMBER, FLYTE_INTERNAL_TASK_*), and from the output prefix, which holds the node's path (`node_path`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Status, StatusCode
from wrapt import wrap_function_wrapper

from flyte_otel import semconv as sc
from flyte_otel._runtime import warn_once
from flyte_otel.spans import attempt_context, execution_context

__all__ = ["TIMEIT_NAMES", "FlytekitInstrumentor", "node_path", "pod_attributes"]

# flytekit's timeit names -> span names; a name not listed keeps its own, its URIs cut out.
TIMEIT_NAMES: Mapping[str, str] = {
    "Load task": sc.POD_LOAD_TASK,
    "Load map task": sc.POD_LOAD_TASK,
    "Translate literal to python value": sc.POD_TO_PYTHON,
    "AsyncTranslate literal to python value": sc.POD_TO_PYTHON,
    "Execute user level code": sc.POD_USER_CODE,
    "Translate the output to literals": sc.POD_TO_LITERAL,
}
_URI = re.compile(r"\s*\b[a-z][a-z0-9+.-]*://\S*")
_ENTRYPOINT = "flytekit.bin.entrypoint"
_PERSISTENCE = "flytekit.core.data_persistence"
_TIMEIT = ("flytekit.core.utils", "timeit")
# (environment variable, attribute, parse): what the k8s plugin tells the pod about itself
_ENV_ATTRIBUTES: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("FLYTE_INTERNAL_EXECUTION_ID", sc.EXEC_ID, str),
    ("FLYTE_INTERNAL_EXECUTION_PROJECT", sc.PROJECT, str),
    ("FLYTE_INTERNAL_EXECUTION_DOMAIN", sc.DOMAIN, str),
    ("FLYTE_ATTEMPT_NUMBER", sc.ATTEMPT_NUMBER, int),
    ("FLYTE_INTERNAL_TASK_NAME", sc.TASK_NAME, str),
    ("FLYTE_INTERNAL_TASK_VERSION", sc.TASK_VERSION, str),
)


def node_path(output_prefix: str, project: str, domain: str, name: str) -> tuple[str, int] | None:
    """(node path, attempt) from the output prefix propeller gives the pod, or None if it is not one.

    The workflow's data dir is `<metadata prefix>/<project>-<domain>-<name>` (flytepropeller
    pkg/controller/workflow/executor.go:75-79); a top-level node's output dir is `<it>/<node>/data/<attempt>`
    (pkg/apis/flyteworkflow/v1alpha1/workflow_status.go:114-167), a nested node's `<parent output dir>/<node>/
    <attempt>` (node_status.go:810-826), an array node's sub-node `<array output dir>/<index>/<attempt>`
    (pkg/controller/nodes/array/utils.go:54-64, handler.go:784): the node is then the array node, with the
    sub-node's attempt (its index is in the environment). Spec ids are never all digits (n0, dn0, ...).
    """
    parts = [p for p in urlsplit(output_prefix).path.split("/") if p]
    key = f"{project}-{domain}-{name}"
    if key not in parts:
        return None
    rest = parts[parts.index(key) + 1 :]
    if len(rest) < 3 or rest[1] != "data" or not rest[2].isdigit():
        return None
    path, attempt, rest = [rest[0]], int(rest[2]), rest[3:]
    while len(rest) >= 2 and rest[1].isdigit():
        if rest[0].isdigit():  # an array sub-node: <index>/<attempt>
            return "/".join(path), int(rest[1])
        path.append(rest[0])
        attempt, rest = int(rest[1]), rest[2:]
    return "/".join(path), attempt


def pod_attributes(environ: Mapping[str, str], output_prefix: str) -> dict[str, Any]:
    """The pod-side root's attributes: execution, node, attempt, task, array index (map tasks)."""
    attrs: dict[str, Any] = {}
    for var, key, parse in _ENV_ATTRIBUTES:
        value = environ.get(var)
        if value:
            try:
                attrs[key] = parse(value)
            except ValueError:
                continue  # a malformed variable leaves its attribute out; the task runs on
    found = node_path(output_prefix, *(str(attrs.get(k, "")) for k in (sc.PROJECT, sc.DOMAIN, sc.EXEC_ID)))
    if found is not None:
        attrs[sc.NODE_ID] = found[0]
    index_var = environ.get(
        "BATCH_JOB_ARRAY_INDEX_VAR_NAME"
    )  # flytekit entrypoint.py _compute_array_job_index
    if index_var and environ.get(index_var, "").isdigit():
        attrs[sc.ARRAY_INDEX] = int(environ[index_var]) + int(
            environ.get("BATCH_JOB_ARRAY_INDEX_OFFSET") or 0
        )
    return attrs


def _span_name(timeit_name: str) -> tuple[str, str | None]:
    """A bounded span name for a timeit block, and the URI it embedded."""
    fixed = TIMEIT_NAMES.get(timeit_name)
    if fixed is not None:
        return fixed, None
    uri = _URI.search(timeit_name)
    return _URI.sub("", timeit_name).strip() or "flytekit.timeit", uri.group(0).strip() if uri else None


def _size(local: Any) -> int | None:
    try:
        p = Path(str(local))
        return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    except (OSError, ValueError):
        return None


class FlytekitInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Spans of flytekit's task execution in the pod; `instrument(tracer_provider=...)` as contrib instrumentors."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """The flytekit versions whose entrypoint it wraps."""
        return ("flytekit >= 1.10",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(__name__, tracer_provider=kwargs.get("tracer_provider"))
        for module, attr, name, attrs in _GUARDED:
            wrap_function_wrapper(module, attr, _guarded(tracer, name, attrs))
        module, cls = _TIMEIT
        enter, leave = _timeit(tracer)
        wrap_function_wrapper(module, f"{cls}.__enter__", enter)
        wrap_function_wrapper(module, f"{cls}.__exit__", leave)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        module, cls = _TIMEIT
        wrapped = [(m, a) for m, a, _, _ in _GUARDED] + [
            (module, f"{cls}.__enter__"),
            (module, f"{cls}.__exit__"),
        ]
        for module, attr in wrapped:
            owner_path, _, name = attr.rpartition(".")
            owner: Any = importlib.import_module(module)
            for part in owner_path.split(".") if owner_path else ():
                owner = getattr(owner, part)
            unwrap(owner, name)


_Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
_Attributes = Callable[[tuple[Any, ...], dict[str, Any]], Mapping[str, Any]]


def _guarded(tracer: trace.Tracer, name: str, attrs: _Attributes) -> _Wrapper:
    """A wrapper running the wrapped call inside span `name`. If the span cannot be made (a broken SDK, an
    unexpected argument) the call runs unwrapped: instrumentation never raises into flytekit."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            a = attrs(args, kwargs)
            cm = tracer.start_as_current_span(name, context=_parent(a), attributes=a)
            span = cm.__enter__()
        except Exception as exc:
            warn_once(f"starting span {name}", exc)
            return wrapped(*args, **kwargs)
        failure: BaseException | None = None
        try:
            _sized(span, name, sc.POD_UPLOAD, args)
            result = wrapped(*args, **kwargs)
            _sized(span, name, sc.POD_DOWNLOAD, args)
            return result
        except BaseException as exc:
            failure = exc
            raise
        finally:
            try:
                cm.__exit__(type(failure) if failure else None, failure, None)
            except Exception as exc:
                warn_once(f"ending span {name}", exc)

    return wrapper


def _root_attributes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
    return pod_attributes(os.environ, str(kwargs.get("output_prefix", args[3] if len(args) > 3 else "")))


def _parent(attrs: Mapping[str, Any]) -> otel_context.Context | None:
    """The pod-side root hangs under its task attempt's record (ids.attempt_span_id: propeller derives the
    same id), or, when the node is not known, under the execution's root; other spans under the current one."""
    if sc.EXEC_ID not in attrs:
        return None
    exec_id = str(attrs[sc.EXEC_ID])
    if sc.NODE_ID in attrs and sc.ATTEMPT_NUMBER in attrs:
        return attempt_context(
            exec_id, str(attrs[sc.NODE_ID]), int(attrs[sc.ATTEMPT_NUMBER]), attrs.get(sc.ARRAY_INDEX)
        )
    return execution_context(exec_id)


def _transfer_attributes(remote_arg: int) -> _Attributes:
    def attrs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
        remote = str(args[remote_arg]) if len(args) > 1 else ""
        return {sc.BLOB_KEY: remote, sc.BLOB_SCHEME: urlsplit(remote).scheme or "file"}

    return attrs


def _no_attributes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
    return {}


def _sized(span: trace.Span, name: str, when: str, args: tuple[Any, ...]) -> None:
    """The local side of get_data(remote, local) after the download, of put_data(local, remote) before it."""
    if name == when and len(args) > 1:
        size = _size(args[1] if when == sc.POD_DOWNLOAD else args[0])
        if size is not None:
            span.set_attribute(sc.BLOB_SIZE, size)


def _timeit(tracer: trace.Tracer) -> tuple[_Wrapper, _Wrapper]:
    """timeit's enter opens a span made current, its exit ends it; a stack per timeit object, because a
    decorator's object is shared by every call of the function it decorates (and calls may nest)."""

    def enter(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        entry: tuple[trace.Span, object] | None = None
        try:
            name, uri = _span_name(str(getattr(instance, "_name", "")))
            span = tracer.start_span(name, attributes={sc.URI: uri} if uri else None)
            entry = (span, otel_context.attach(trace.set_span_in_context(span)))
        except Exception as exc:
            warn_once("starting a timeit span", exc)
        instance.__dict__.setdefault("_flyte_otel_spans", []).append(entry)
        return wrapped(*args, **kwargs)

    def leave(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            stack = instance.__dict__.get("_flyte_otel_spans")
            entry = stack.pop() if stack else None
            if entry is not None:
                _end(entry, args[1] if len(args) > 1 else None)

    return enter, leave


def _end(entry: tuple[trace.Span, object], exc: Any) -> None:
    span, token = entry
    try:
        if isinstance(exc, BaseException):
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        otel_context.detach(token)  # type: ignore[arg-type]
        span.end()
    except Exception as own:
        warn_once("ending a timeit span", own)


# What is wrapped in a span of its own: (module, attribute, span name, its attributes from the call's arguments).
_GUARDED: tuple[tuple[str, str, str, _Attributes], ...] = (
    (_ENTRYPOINT, "_dispatch_execute", sc.POD_TASK, _root_attributes),
    (_ENTRYPOINT, "_output_deck", sc.POD_DECK, _no_attributes),
    (_PERSISTENCE, "FileAccessProvider.get_data", sc.POD_DOWNLOAD, _transfer_attributes(0)),
    (_PERSISTENCE, "FileAccessProvider.put_data", sc.POD_UPLOAD, _transfer_attributes(1)),
)
