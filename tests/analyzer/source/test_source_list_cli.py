"""`otel-fold list` against loopback Tempo and Jaeger: the rows, the token kept out of every output, and an
unreachable backend as one line."""

from __future__ import annotations

import json

import pytest
from source_loopback import FakeJaegerV1, FakeTempo, Loopback, jaeger_v1_trace, round_traces

from analyzer.cli import main

TOKEN = "list-token-5c3b"
WINDOW = ("--start", "2025-12-31T23:00:00Z", "--end", "2026-01-01T01:00:00Z")  # source_loopback.T0 +- 1 h


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tempo_listing_sends_the_token_and_prints_it_nowhere(
    capsys: pytest.CaptureFixture[str], server: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTempo(server, round_traces({"exec-a": 1, "exec-b": 2}))
    monkeypatch.setenv("OTEL_FOLD_TOKEN", TOKEN)
    code, out, err = _run(
        capsys, "list", "--backend", "tempo", "--url", server.url, *WINDOW, "--format", "json"
    )
    assert code == 0, err
    assert [(e["exec_id"], e["spans"]) for e in json.loads(out)["executions"]] == [
        ("exec-b", 8),
        ("exec-a", 4),
    ]
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in out + err


def test_jaeger_listing_as_a_table(capsys: pytest.CaptureFixture[str], server: Loopback) -> None:
    FakeJaegerV1(server, [jaeger_v1_trace(s) for s in round_traces({"exec-a": 1}).values()])
    code, out, err = _run(
        capsys, "list", "--backend", "jaeger", "--jaeger-api", "v1", "--url", server.url, *WINDOW
    )
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["EXECUTION", "exec-a"]
    assert out.splitlines()[1].endswith(server.url)


@pytest.mark.parametrize("backend", ["tempo", "jaeger"])
def test_an_unreachable_backend_is_one_line_exit_3(
    capsys: pytest.CaptureFixture[str], refused_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_FOLD_TOKEN", TOKEN)
    code, out, err = _run(
        capsys, "list", "--backend", backend, "--url", refused_url, "--retries", "0", *WINDOW
    )
    assert (code, out) == (3, "")
    assert err.startswith(f"otel-fold: cannot connect to {refused_url}/api/") and err.count("\n") == 1
    assert TOKEN not in err and "Traceback" not in err
