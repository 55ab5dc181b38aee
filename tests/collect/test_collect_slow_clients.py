"""Slow and vanishing clients: deadlines, the connection cap, and exporters still served meanwhile.

Deadlines here only make a hang fail; nothing asserts how long anything took.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import re
import resource
import signal
import socket
import struct
import threading
import time
from concurrent import futures

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from analyzer.collect import grpc_server
from analyzer.collect.connections import DEFAULT_MAX_CONNECTIONS, ConnectionCap, Limits

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GUARD_S = 30  # only so that a hang fails the test
SHORT = Limits(header_timeout=0.5, body_timeout=0.5)
PARTIAL_HEADERS = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"


def _closed_by_server(sock: socket.socket) -> bool:
    """Wait (up to GUARD_S) for the server to close the connection: the end of the stream, or a reset."""
    sock.settimeout(GUARD_S)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def _still_open(sock: socket.socket) -> bool:
    """The server has neither closed nor answered the connection (checked without waiting)."""
    sock.settimeout(0)
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _slow(port: int, first: bytes = PARTIAL_HEADERS) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(first)
    return sock


def _head(token: str, length: int) -> bytes:
    """A complete request head announcing a protobuf body of `length` bytes."""
    return (
        f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _post(port: int, body: bytes, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD_S)
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    conn.request("POST", "/v1/traces", body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_headers_trickling_in_are_cut_off_at_the_header_deadline(make_receiver):
    receiver = make_receiver(limits=SHORT)
    sock = _slow(receiver.http_port)
    stop = threading.Event()

    def trickle() -> None:  # a byte at a time, each well within any per-read timeout
        with contextlib.suppress(OSError):
            while not stop.wait(0.05):
                sock.sendall(b"X")

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        assert _closed_by_server(sock)
    finally:
        stop.set()
        sender.join(GUARD_S)
        sock.close()


def test_a_body_that_stops_coming_is_cut_off_at_the_body_deadline(make_receiver, token):
    receiver = make_receiver(limits=SHORT)
    with _slow(receiver.http_port, _head(token, 1000) + b"\0" * 10) as sock:
        assert _closed_by_server(sock)


def test_at_the_cap_a_new_connection_evicts_the_one_waiting_longest(make_receiver, token, make_spans):
    receiver = make_receiver(limits=Limits(header_timeout=600, max_connections=2))
    with _slow(receiver.http_port) as oldest, _slow(receiver.http_port) as newer:
        body = encode_spans(make_spans(2)).SerializeToString()
        assert _post(receiver.http_port, body, token) == 200
        assert _closed_by_server(oldest)
        assert _still_open(newer)


def test_at_the_cap_with_every_connection_busy_a_new_one_is_closed(make_receiver, token, monkeypatch):
    marked = threading.Event()
    busy = ConnectionCap.busy

    def observed(self: ConnectionCap, sock: socket.socket) -> None:
        busy(self, sock)
        marked.set()

    monkeypatch.setattr(ConnectionCap, "busy", observed)
    receiver = make_receiver(limits=Limits(header_timeout=600, body_timeout=600, max_connections=1))
    with _slow(receiver.http_port, _head(token, 1000)) as reading_body:
        assert marked.wait(GUARD_S)
        with _slow(receiver.http_port, b"") as refused:
            assert _closed_by_server(refused)
        assert _still_open(reading_body)


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_client_resetting_mid_body_is_one_debug_line_without_a_traceback(
    make_receiver, token, caplog, capfd
):
    receiver = make_receiver()
    caplog.set_level(logging.DEBUG, logger="analyzer.collect.http_server")
    _reset(_slow(receiver.http_port, _head(token, 1000) + b"\0" * 10))
    # A reset, or the end of the stream before the body's end: either way a disconnect.
    disconnect = re.compile(r"http: 127\.0\.0\.1:\d+: Connection\w*Error: ")
    deadline = time.monotonic() + GUARD_S
    while not any(disconnect.match(r.getMessage()) for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.02)
    (line,) = [r for r in caplog.records if disconnect.match(r.getMessage())]
    assert line.levelno == logging.DEBUG
    assert "\n" not in line.getMessage()
    assert line.exc_info is None
    assert "Traceback" not in capfd.readouterr().err


def _few_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_slow_http_clients_do_not_starve_the_sdk_exporters(
    tmp_path, start_collect, make_spans, store_ids, token
):
    """200 connections that never finish their headers, against a receiver allowed 128 descriptors."""
    env = {**os.environ, "OTEL_FOLD_COLLECT_TOKEN": token}
    proc, grpc_port, http_port, _ = start_collect(
        tmp_path / "store", "--header-timeout", "600", env=env, preexec_fn=_few_descriptors
    )

    def open_slow(_: int) -> socket.socket | None:
        try:
            return _slow(http_port)
        except OSError:  # a listener out of descriptors stops accepting: connecting times out
            return None

    with futures.ThreadPoolExecutor(16) as pool:
        slow = [s for s in pool.map(open_slow, range(200)) if s is not None]
    try:
        auth = {"authorization": f"Bearer {token}"}
        exporters = [
            HttpExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces", headers=auth, timeout=20),
            GrpcExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, headers=auth, timeout=20),
        ]
        sent = []
        for exporter in exporters:
            batch = make_spans(5)
            assert exporter.export(batch) == SpanExportResult.SUCCESS
            sent += [(s.context.trace_id, s.context.span_id) for s in batch]
            exporter.shutdown()
        # Served while slow clients held connections: the newest ones are still open.
        assert sum(_still_open(s) for s in slow) >= DEFAULT_MAX_CONNECTIONS // 2
    finally:
        for s in slow:
            s.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(GUARD_S) == 0
    stored = {(int.from_bytes(t, "big"), int.from_bytes(s, "big")) for t, s in store_ids(tmp_path / "store")}
    assert stored == set(sent)


def _never_sending(channel: grpc.Channel, n: int) -> tuple[list[grpc.Future], threading.Event]:
    """n Export calls whose message never comes (what a client stalled mid-request looks like)."""
    release = threading.Event()

    def nothing():  # type: ignore[no-untyped-def]
        release.wait(GUARD_S * 4)
        yield from ()

    call = channel.stream_unary(EXPORT, request_serializer=None, response_deserializer=None)
    return [call.future(nothing(), metadata=[("authorization", "Bearer s3cret")]) for _ in range(n)], release


def test_a_grpc_call_whose_message_never_comes_is_cancelled_at_the_body_deadline(make_receiver):
    receiver = make_receiver(limits=SHORT)
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        (call,), release = _never_sending(channel, 1)
        try:
            assert call.exception(timeout=GUARD_S).code() == grpc.StatusCode.CANCELLED
        finally:
            release.set()


@pytest.fixture
def receiving(monkeypatch) -> threading.Semaphore:  # type: ignore[no-untyped-def]
    """Released each time an Export call starts waiting for its message (it holds a slot from then on)."""
    entered = threading.Semaphore(0)
    receive = grpc_server._receive

    def observed(*args):  # type: ignore[no-untyped-def]
        entered.release()
        return receive(*args)

    monkeypatch.setattr(grpc_server, "_receive", observed)
    return entered


def test_stalled_grpc_calls_do_not_starve_the_sdk_exporter(make_receiver, receiving, make_spans, token):
    """More stalled calls than the old pool's 8 workers; the exporter is served while they stall."""
    stalled = 12
    receiver = make_receiver()
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        calls, release = _never_sending(channel, stalled)
        try:
            for _ in range(stalled):
                assert receiving.acquire(timeout=GUARD_S)
            exporter = GrpcExporter(
                endpoint=f"127.0.0.1:{receiver.grpc_port}",
                insecure=True,
                headers={"authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert exporter.export(make_spans(3)) == SpanExportResult.SUCCESS
            exporter.shutdown()
            assert not any(c.done() for c in calls)
        finally:
            release.set()


def test_grpc_calls_over_the_cap_are_unavailable_which_otlp_clients_retry(make_receiver, receiving, token):
    receiver = make_receiver(limits=Limits(max_connections=2))
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        calls, release = _never_sending(channel, 2)  # kept: a call is cancelled when its future is dropped
        try:
            for _ in range(2):
                assert receiving.acquire(timeout=GUARD_S)
            export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as e:
                export(b"", metadata=[("authorization", f"Bearer {token}")], timeout=GUARD_S)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            assert not any(c.done() for c in calls)
        finally:
            release.set()
