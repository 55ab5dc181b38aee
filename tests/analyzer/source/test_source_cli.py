"""`otel-fold <execution-id>` against a loopback Tempo and Jaeger: the remote backends are rows of the BACKENDS table."""

from __future__ import annotations

import argparse

import pytest
from source_loopback import FakeTempo, Loopback, Reply, json_bytes, otlp_hex_json, remote_config, round_traces

from analyzer import source
from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.source.jaeger import JaegerSource
from analyzer.source.tempo import TempoSource

WINDOW = ["--start", "2025-12-31T00:00:00Z", "--end", "2026-01-02T00:00:00Z"]
TOKEN = "cli-token-77aa"


def test_fold_of_an_execution_fetched_from_tempo(
    server: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeTempo(server, round_traces({"exec-cli": 2, "other": 1}))
    assert main(["exec-cli", "--backend", "tempo", "--url", server.url, *WINDOW, "--retries", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert (
        len(lines) == 1 + 2 * 4 + 1
    )  # the header, one line per span of the execution's two round traces, total
    assert any("node=n1" in line for line in lines)


def test_backend_url_and_token_from_the_environment(
    server: Loopback, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTempo(server, round_traces({"exec-env": 1}))
    monkeypatch.setenv("OTEL_FOLD_BACKEND", "tempo")
    monkeypatch.setenv("OTEL_FOLD_URL", server.url)
    monkeypatch.setenv("OTEL_FOLD_TOKEN", TOKEN)
    assert main(["exec-env", *WINDOW]) == 0
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_nothing_found_exits_1_with_what_was_searched(
    server: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeTempo(server, {})
    assert main(["exec-none", "--backend", "tempo", "--url", server.url, *WINDOW]) == 1
    err = capsys.readouterr().err
    assert f"searched Tempo at {server.url} for exec_id=exec-none between 2025-12-31T00:00:00Z" in err
    assert "Traceback" not in err


def test_auth_failure_exits_3_without_the_token(
    server: Loopback, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("/api/search", Reply(401, b"no"))
    monkeypatch.setenv("OTEL_FOLD_TOKEN", TOKEN)
    assert main(["exec-x", "--backend", "tempo", "--url", server.url, *WINDOW]) == 3
    err = capsys.readouterr().err
    assert "authentication failed" in err and TOKEN not in err and "Traceback" not in err


def test_jaeger_is_a_backend_too(server: Loopback, capsys: pytest.CaptureFixture[str]) -> None:
    spans = [s for t in round_traces({"exec-j": 1}).values() for s in t]
    server.on("/api/v3/traces", Reply(body=json_bytes({"result": otlp_hex_json(spans)})))
    assert main(["exec-j", "--backend", "jaeger", "--url", server.url, *WINDOW]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 4 + 1


def test_the_table_builds_each_remote_source() -> None:
    parser = argparse.ArgumentParser()
    source.add_arguments(parser)
    for name, cls in (("tempo", TempoSource), ("jaeger", JaegerSource)):
        args = parser.parse_args(["--backend", name, "--url", "http://127.0.0.1:9"])
        assert isinstance(source.from_args(args), cls)


def test_an_unknown_backend_from_the_environment_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    source.add_arguments(parser)
    monkeypatch.setenv("OTEL_FOLD_BACKEND", "zipkin")
    with pytest.raises(AnalyzerError, match="unknown backend 'zipkin'"):
        source.from_args(parser.parse_args([]))


def test_a_token_ending_in_a_newline_is_stripped_not_a_traceback_showing_it(
    server: Loopback, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTempo(server, round_traces({"exec-nl": 1}))
    monkeypatch.setenv("OTEL_FOLD_TOKEN", TOKEN + "\n")  # as a secret mounted from a file often is
    assert main(["exec-nl", "--backend", "tempo", "--url", server.url, *WINDOW]) == 0
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_a_token_with_a_newline_inside_is_a_one_line_error_naming_the_setting(
    server: Loopback, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTempo(server, round_traces({"exec-nl": 1}))
    monkeypatch.setenv("OTEL_FOLD_TOKEN", f"{TOKEN}\nX-Evil: 1")
    assert main(["exec-nl", "--backend", "tempo", "--url", server.url, *WINDOW]) == 2
    err = capsys.readouterr().err
    assert err.startswith("otel-fold: the token (OTEL_FOLD_TOKEN or --token-file) holds a character")
    assert err.count("\n") == 1 and TOKEN not in err and "X-Evil" not in err
    assert server.requests == []


def _ids_of_lines(out: str) -> list[tuple[str, str, str | None]]:
    """(trace id, span id, link or None) at the end of each fold line (header and total line left out)."""
    found = []
    for line in out.strip().splitlines()[1:-1]:
        ids = line.rsplit("  trace=", 1)[1].split()
        found.append((ids[0], ids[1].removeprefix("span="), ids[2] if len(ids) > 2 else None))
    return found


def test_ids_link_each_line_to_its_trace_in_tempo(
    server: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = round_traces({"exec-ids": 2})
    FakeTempo(server, traces)
    assert main(["exec-ids", "--backend", "tempo", "--url", server.url, *WINDOW, "--ids"]) == 0
    found = _ids_of_lines(capsys.readouterr().out)
    spans = {f"{s.context.span_id:016x}": tid for tid, ss in traces.items() for s in ss}
    assert len(found) == 8 and {sid: tid for tid, sid, _ in found} == spans
    # Tempo's trace-by-id route (grafana/tempo v2.9.2 pkg/api/http.go:73): the link answers that trace
    assert {link for *_, link in found} == {f"{server.url}/api/traces/{tid}" for tid in traces}


def test_ids_link_each_line_to_its_span_in_the_jaeger_ui(
    server: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    spans = [s for t in round_traces({"exec-j": 1}).values() for s in t]
    server.on("/api/v3/traces", Reply(body=json_bytes({"result": otlp_hex_json(spans)})))
    assert main(["exec-j", "--backend", "jaeger", "--url", server.url + "/", *WINDOW, "--ids"]) == 0
    found = _ids_of_lines(capsys.readouterr().out)
    assert len(found) == 4
    for tid, sid, link in found:  # jaeger-ui v2.20.0 TracePage/url/index.ts:10-16
        assert link == f"{server.url}/trace/{tid}?uiFind={sid}"


def test_a_link_carries_no_credentials_and_grpc_jaeger_has_none() -> None:
    config = remote_config("https://user:secret@jaeger.example:8443/jaeger/?x=1#y")
    assert (
        JaegerSource(config).trace_link()
        == "https://jaeger.example:8443/jaeger/trace/{trace_id}?uiFind={span_id}"
    )
    assert TempoSource(remote_config("http://h:3200")).trace_link() == "http://h:3200/api/traces/{trace_id}"
    assert JaegerSource(remote_config("grpc://127.0.0.1:16685")).trace_link() is None
