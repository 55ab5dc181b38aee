"""`otel-fold report --admin-url`: an upstream-dialect trace (no lifecycle records) gets its node segments from a
loopback FlyteAdmin answering GetExecutionMetrics with a core.Span tree of known timings (test_source_flyteadmin's)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from source_loopback import FakeAdmin, FakeTempo, Loopback, otlp_proto, round_traces
from test_source_flyteadmin import EXEC, SEC, TREE

from analyzer.cli import main
from analyzer.results import timeline as TL
from tests import builders as B
from tests.builders import MS, Task

METRICS = "/api/v1/metrics/executions/{project}/{domain}/{name}".format(**EXEC)
ADMIN = ["--project", EXEC["project"], "--domain", EXEC["domain"], "--retries", "0"]


def _upstream_file(tmp_path: Path) -> Path:
    """Two propeller rounds of the execution (handleNode of n0, then n1), each its own trace: no lifecycle."""
    spans = [s for trace in round_traces({EXEC["name"]: 2}).values() for s in trace]
    path = tmp_path / "upstream.binpb.raw"
    path.write_bytes(otlp_proto(spans))
    return path


def _report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["report", EXEC["name"], "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)[EXEC["name"]]


def test_upstream_trace_gets_flyteadmin_segments_when_an_admin_url_is_given(
    server: Loopback, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeAdmin(EXEC, TREE).install(server)
    path = _upstream_file(tmp_path)
    assert (
        "FlyteAdmin" in _report(capsys, "--file", str(path))["absent"]["segments"]
    )  # the trace alone has none
    body = _report(capsys, "--file", str(path), "--admin-url", server.url, *ADMIN)
    assert "segments" not in body.get("absent", {})
    assert server.paths()[0] == METRICS and server.requests[0].query == {"depth": "10"}
    # TREE's known timings (seconds): the workflow 0-100, setup 0-5, teardown 90-100; n0 retried once.
    assert body["duration"] == 100 * SEC
    assert body["segments"] == {TL.WORKFLOW_SETUP: 5 * SEC, TL.WORKFLOW_TEARDOWN: 10 * SEC}
    n0 = next(n["n0"] for n in body["nodes"] if "n0" in n)
    assert n0["attempts"] == 2
    assert n0["segments"] == {
        TL.NODE_TRANSITION: (6 - 5) * SEC,
        TL.NODE_SETUP: (8 - 6) * SEC,
        TL.TASK_SETUP: ((10 - 8) + (33 - 32)) * SEC,
        TL.TASK_RUNTIME: ((28 - 10) + (44 - 33)) * SEC,
        TL.TASK_TEARDOWN: ((30 - 28) + (45 - 44)) * SEC,
        TL.NODE_RESET: (32 - 30) * SEC,
        TL.NODE_TEARDOWN: (50 - 45) * SEC,
    }
    assert body["propeller"]["rounds"]["count"] == 2  # the trace's own orchestration metrics are kept


def test_flyteadmin_is_not_asked_when_the_trace_has_lifecycle_records(
    server: Loopback, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with B.recording() as rec:
        B.chain(rec, [Task(1 * MS, 2 * MS, 3 * MS, 10 * MS, 1 * MS, 2 * MS)], setup=5 * MS, teardown=4 * MS,
                exec_id=EXEC["name"])  # fmt: skip
        path = tmp_path / "flyte_otel.binpb.raw"
        path.write_bytes(rec.payload())
    body = _report(capsys, "--file", str(path), "--admin-url", server.url, *ADMIN)
    assert body["nodes"][1]["n0"]["segments"][TL.TASK_RUNTIME] == 10 * MS
    assert server.requests == []


def test_an_execution_flyteadmin_does_not_know_is_a_one_line_not_found(
    server: Loopback, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _upstream_file(tmp_path)
    argv = ["report", EXEC["name"], "--file", str(path), "--admin-url", server.url, *ADMIN]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert server.url in err and EXEC["name"] in err and "Traceback" not in err


def test_each_host_gets_only_its_own_credentials(
    server: Loopback, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tempo with a tenant and basic auth, FlyteAdmin with its own token, each a loopback server recording headers."""
    admin = Loopback()
    admin.thread.start()
    try:
        FakeTempo(server, round_traces({EXEC["name"]: 2}))
        FakeAdmin(EXEC, TREE).install(admin)
        (tmp_path / "pw").write_text("tempo-pass\n")
        (tmp_path / "admin-token").write_text("admin-secret\n")
        monkeypatch.delenv("OTEL_FOLD_TOKEN", raising=False)
        argv = ["--backend", "tempo", "--url", server.url, "--tenant", "team-a", "--user", "u",
                "--password-file", str(tmp_path / "pw"), "--admin-url", admin.url,
                "--admin-token-file", str(tmp_path / "admin-token"), "--since", "3650d"]  # fmt: skip
        body = _report(capsys, *argv, *ADMIN)
    finally:
        admin.release.set()
        admin.httpd.shutdown()
        admin.httpd.server_close()
    assert "segments" in body and admin.requests and server.requests
    basic = "Basic " + base64.b64encode(b"u:tempo-pass").decode()
    for r in server.requests:  # the trace backend: its own basic auth and tenant, never FlyteAdmin's token
        assert r.headers.get("authorization") == basic and r.headers.get("x-scope-orgid") == "team-a"
    for r in admin.requests:  # FlyteAdmin: its own token only
        assert r.headers.get("authorization") == "Bearer admin-secret" and "x-scope-orgid" not in r.headers
    out = capsys.readouterr()
    assert "admin-secret" not in out.out + out.err and "tempo-pass" not in out.out + out.err
