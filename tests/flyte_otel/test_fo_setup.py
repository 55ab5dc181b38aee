"""configure(): the OTEL_* environment, switching off, replacing, flushing at exit, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from flyte_otel import semconv as sc

E = "exec-setup"
OTEL_ENV = (
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch) -> None:
    for name in OTEL_ENV:
        monkeypatch.delenv(name, raising=False)


def _one_round(**kwargs) -> list:
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False, **kwargs)
    with fo.round(E):
        pass
    return list(memory.get_finished_spans())


def test_using_flyte_otel_s_helpers_loads_the_api_but_not_the_sdk_or_exporters() -> None:
    code = (
        "import sys, flyte_otel\n"
        "flyte_otel.round\n"
        "heavy = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter', 'grpc'))]\n"
        "print(heavy, 'opentelemetry.trace' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[] True"


def test_otel_sdk_disabled_switches_everything_off(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert _one_round() == []
    assert not fo.is_enabled() and fo.tracer_provider() is None


def test_enabled_false_switches_off_and_the_environment_cannot_be_overridden(monkeypatch) -> None:
    assert _one_round(enabled=False) == []
    monkeypatch.setenv("OTEL_SDK_DISABLED", "TRUE")
    assert _one_round(enabled=True) == []  # the SDK itself honours the variable: we say so, not pretend
    assert not fo.is_enabled()


def test_service_name_defaults_to_flytepropeller() -> None:
    (span,) = _one_round()
    assert span.resource.attributes["service.name"] == sc.SERVICE_PROPELLER


def test_service_name_and_resource_attributes_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "propeller-shard-2")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.namespace.name=flyte,deployment.environment=staging")
    (span,) = _one_round()
    attrs = span.resource.attributes
    assert attrs["service.name"] == "propeller-shard-2"
    assert (attrs["k8s.namespace.name"], attrs["deployment.environment"]) == ("flyte", "staging")


def test_explicit_service_name_wins_over_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    (span,) = _one_round(service_name="explicit")
    assert span.resource.attributes["service.name"] == "explicit"


def test_env_sampler_always_off_records_nothing(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert _one_round() == []
    assert fo.is_enabled()


def test_env_sampler_ratio_zero_records_nothing(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    assert _one_round() == []


def test_no_exporter_anywhere_means_none(monkeypatch) -> None:
    fo.configure()
    assert fo.is_enabled()
    with fo.round(E) as span:
        assert span.is_recording()


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"exporter": "jaeger"}, {}, "jaeger"),
        ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"),
        ({}, {"OTEL_TRACES_EXPORTER": "zipkin"}, "zipkin"),
        ({"sampler": 1.5}, {}, "1.5"),
    ],
)
def test_bad_settings_are_a_value_error_naming_the_value(monkeypatch, kwargs, env, message) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        fo.configure(**kwargs)
    assert not fo.is_enabled()


def test_configure_again_flushes_the_first_provider_and_replaces_it(tmp_path: Path) -> None:
    first = tmp_path / "first.jsonl"
    fo.configure(exporter="file", path=first, batch=True)
    with fo.round(E):
        pass
    memory = InMemorySpanExporter()
    fo.configure(exporter=memory, batch=False)
    with fo.streak(E):
        pass
    assert [s.name for s in memory.get_finished_spans()] == [sc.STREAK]
    (line,) = first.read_text().splitlines()
    assert json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == sc.ROUND


def test_pending_spans_are_flushed_when_the_process_exits(tmp_path: Path) -> None:
    out = tmp_path / "exit.jsonl"
    code = (
        "import sys, flyte_otel as fo\n"
        "fo.configure(exporter='file', path=sys.argv[1], batch=True)\n"
        "for i in range(50):\n"
        "    with fo.handle_node('exec-exit', f'n{i}'):\n"
        "        pass\n"
    )  # no shutdown(): the atexit hook must flush the batch processor's queue
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=60)
    names = [
        sp["attributes"][1]["value"]["stringValue"]
        for line in out.read_text().splitlines()
        for sp in json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    ]
    assert sorted(names) == sorted(f"n{i}" for i in range(50))


def test_force_flush_exports_what_ended_so_far(tmp_path: Path) -> None:
    out = tmp_path / "flush.jsonl"
    fo.configure(exporter="file", path=out, batch=True)
    with fo.round(E):
        pass
    fo.force_flush()
    assert len(out.read_text().splitlines()) == 1
