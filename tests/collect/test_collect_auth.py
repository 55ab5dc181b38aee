"""Who may write to the store: the token's variable, listeners beyond loopback, and gRPC's token check."""

from __future__ import annotations

import http.client
import os
import subprocess
import threading

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from analyzer.collect.receiver import Receiver, is_loopback
from analyzer.collect.sink import DiscardSink
from analyzer.errors import AnalyzerError

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GUARD_S = 30  # only so that a receiver that starts when it must not fails the test instead of hanging


def _env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OTEL_FOLD_COLLECT_TOKEN"}
    return {**env, **variables}


def _refused(collect_command, tmp_path, *args: str, env: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    """Runs `otel-fold collect` that must refuse to start; returns its stderr lines."""
    cmd = collect_command("--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--store", str(tmp_path), *args)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=GUARD_S)
    assert done.returncode == 2
    return done.stderr.splitlines()


@pytest.mark.parametrize("value", [None, "", " \n"])
def test_an_explicit_token_variable_unset_or_empty_refuses_to_start(collect_command, tmp_path, value):
    env = _env() if value is None else _env(MY_TOKEN=value)
    lines = _refused(collect_command, tmp_path, "--token-env", "MY_TOKEN", env=env)
    assert lines == ["otel-fold: --token-env MY_TOKEN: the variable is unset or empty"]


@pytest.mark.parametrize("flag, address", [("--grpc", "0.0.0.0:0"), ("--http", "[::]:0"), ("--http", ":0")])
def test_a_listener_beyond_loopback_without_a_token_refuses_to_start(
    collect_command, tmp_path, flag, address
):
    (line,) = _refused(collect_command, tmp_path, flag, address, env=_env())
    assert f"{flag} {address} listens beyond loopback without a token" in line
    assert "--insecure-no-token" in line


def test_beyond_loopback_takes_a_token_or_the_explicit_flag():
    with pytest.raises(AnalyzerError, match="--insecure-no-token"):
        Receiver(DiscardSink(), grpc_address="0.0.0.0:4317", http_address=None)
    # Not started: these only must not refuse.
    Receiver(DiscardSink(), grpc_address="0.0.0.0:4317", http_address=None, token="t")
    Receiver(DiscardSink(), grpc_address="0.0.0.0:4317", http_address=None, insecure_no_token=True)


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1:4317", True),
        ("127.3.2.1:4317", True),
        ("[::1]:4317", True),
        ("localhost:4317", True),
        ("0.0.0.0:4317", False),
        ("[::]:4317", False),
        (":4317", False),
        ("10.0.0.7:4317", False),
        ("collector.example:4317", False),
    ],
)
def test_is_loopback(address, loopback):
    assert is_loopback(address) is loopback


def test_a_token_read_with_a_trailing_newline_is_stripped(start_collect, tmp_path, make_spans):
    _, _, http_port, _ = start_collect(
        tmp_path / "store", "--grpc", "off", env=_env(OTEL_FOLD_COLLECT_TOKEN="tok\n")
    )
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=GUARD_S)
    headers = {"Content-Type": "application/x-protobuf", "Authorization": "Bearer tok"}
    conn.request("POST", "/v1/traces", body=encode_spans(make_spans(1)).SerializeToString(), headers=headers)
    assert conn.getresponse().status == 200
    conn.close()


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


@pytest.mark.slow
def test_unauthenticated_grpc_calls_are_refused_before_their_messages_are_received(start_collect, tmp_path):
    """12 concurrent unauthenticated 15 MiB calls: the receiver's peak memory grows by far less than their sum."""
    calls, size = 12, 15 * 1024 * 1024
    proc, grpc_port, _, _ = start_collect(
        tmp_path / "store", "--http", "off", env=_env(OTEL_FOLD_COLLECT_TOKEN="t")
    )
    codes: list[grpc.StatusCode] = []
    options = [("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=options) as channel:
        export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)

        def call(body: bytes) -> None:
            try:
                export(body, metadata=[("authorization", "Bearer wrong")], timeout=GUARD_S)
            except grpc.RpcError as e:
                codes.append(e.code())

        call(b"")  # the first call starts what every later one shares (threads, buffers)
        before = _peak_rss_kib(proc.pid)
        body = b"\x0a" + b"x" * size
        threads = [threading.Thread(target=call, args=(body,)) for _ in range(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GUARD_S * 2)
    growth = _peak_rss_kib(proc.pid) - before
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * (calls + 1)
    assert growth * 1024 < calls * size / 4, f"peak memory grew by {growth} KiB"
