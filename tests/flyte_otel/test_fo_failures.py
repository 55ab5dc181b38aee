"""Exporter failures (endpoint down, no answer) never raise into the caller; spans are dropped with a log."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

import flyte_otel as fo

E = "exec-fail"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def _drop_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "flyte_otel" and r.levelno == logging.WARNING]


@pytest.mark.parametrize("exporter", ["otlp-grpc", "otlp-http"])
@pytest.mark.parametrize("port_fixture", ["closed_port", "silent_port"])
def test_unreachable_collector_drops_spans_with_a_logged_warning(
    request, caplog, exporter, port_fixture
) -> None:
    port = request.getfixturevalue(port_fixture)
    fo.configure(exporter=exporter, endpoint=f"http://127.0.0.1:{port}", timeout_s=0.5, batch=True)
    with caplog.at_level(logging.WARNING, logger="flyte_otel"):
        for i in range(20):
            with fo.handle_node(E, f"n{i}"):
                pass
        fo.shutdown()  # returns, within the exporter's timeout (plus at most one back-off)
    assert not fo.is_enabled()
    (warning,) = _drop_warnings(caplog)
    assert warning.startswith("flyte_otel: dropped 20 spans: export to OTLPSpanExporter(")
    assert str(port) in warning


def test_helpers_after_shutdown_are_noops(closed_port: int) -> None:
    fo.configure(exporter="otlp-grpc", endpoint=f"http://127.0.0.1:{closed_port}", timeout_s=0.5)
    fo.shutdown()
    with fo.round(E) as span:
        assert not span.is_recording()
    fo.execution(E).end("SUCCEEDED")


def test_drop_warnings_name_the_collector_without_its_credentials(closed_port: int, caplog) -> None:
    endpoint = f"http://flyte:s3cret@127.0.0.1:{closed_port}/v1/traces?token=s3cret"
    fo.configure(
        exporter="otlp-http", endpoint=endpoint, headers={"authorization": "Bearer s3cret"}, timeout_s=0.5
    )
    with caplog.at_level(logging.DEBUG):
        with fo.round(E):
            pass
        fo.shutdown()
    (warning,) = _drop_warnings(caplog)
    assert f"127.0.0.1:{closed_port}/v1/traces" in warning
    assert "s3cret" not in caplog.text
