"""TempoSource against a loopback Tempo answering with upstream payloads and with SDK-made traces."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from source_loopback import (
    MS,
    T0,
    FakeTempo,
    Loopback,
    Reply,
    canon,
    fixture_bytes,
    json_bytes,
    otlp_proto,
    remote_config,
    round_traces,
    tempo_json,
)

from analyzer.decode import decode
from analyzer.errors import AnalyzerError, BackendError, DecodeError, NotFound
from analyzer.source.config import RemoteConfig
from analyzer.source.tempo import TempoSource
from analyzer.table import SpanTable
from flyte_otel import semconv

HOUR = 3600 * 10**9
TOKEN = "tempo-token-9f8e7d"


config = remote_config


def decoded(traces: dict[str, list[Any]], exec_id: str) -> SpanTable:
    """The oracle: each of the execution's traces decoded straight from its OTLP protobuf."""
    mine = [s for s in traces.values() if any(x.attributes.get(semconv.EXEC_ID) == exec_id for x in s)]
    return SpanTable.concat(decode(otlp_proto(s)) for s in mine)


def test_execution_is_every_round_trace_of_that_execution_whole(server: Loopback) -> None:
    traces = round_traces({"exec-x": 3, "exec-y": 2})
    FakeTempo(server, traces)
    table = TempoSource(config(server.url)).execution("exec-x")
    assert canon(table).equals(canon(decoded(traces, "exec-x")))
    assert len(table) == 12  # 3 rounds x 4 spans, the un-tagged gRPC event spans included
    assert set(table.df[semconv.EXEC_ID].dropna()) == {"exec-x"}


def test_search_sends_traceql_with_the_window_in_unix_seconds(server: Loopback) -> None:
    FakeTempo(server, round_traces({'we"ird\\id': 1}))
    TempoSource(config(server.url, start_ns=T0 - HOUR + 1, end_ns=T0 + HOUR + 1, limit=50)).execution(
        'we"ird\\id'
    )
    q = server.requests[0].query
    assert q["q"] == '{ span.exec_id = "we\\"ird\\\\id" }'
    assert int(q["start"]) == (T0 - HOUR) // 10**9  # floor
    assert int(q["end"]) == (T0 + HOUR) // 10**9 + 1  # ceil: the window is never cut short
    assert q["limit"] == "50" and q["spss"] == "1"


def test_v2_answer_decodes_to_the_same_table_as_the_upstream_file(server: Loopback) -> None:
    raw = fixture_bytes("tempo_tempopb_trace_batches.tempo-v1-api.json")
    v2 = {"trace": {"resourceSpans": json.loads(raw)["batches"]}}
    server.on("/api/v2/traces/*", Reply(body=json_bytes(v2)))
    table = TempoSource(config(server.url)).trace("6c21c1b0f6da5e4c7e9bd5ab1ae7f2f3")
    assert table is not None and len(table) == 1
    assert canon(table).equals(canon(decode(raw)))


def test_without_v2_it_falls_back_to_v1_protobuf_and_remembers(server: Loopback) -> None:
    pb = fixture_bytes("otelproto_example_trace.otlp.pb")
    server.on("/api/traces/*", Reply(body=pb, content_type="application/protobuf"))
    src = TempoSource(config(server.url))
    first = src.trace("aa" * 16)
    second = src.trace("bb" * 16)
    assert first is not None and canon(first).equals(canon(decode(pb)))
    assert second is not None and len(second) == len(first)
    assert server.paths() == [
        f"/api/v2/traces/{'aa' * 16}",
        f"/api/traces/{'aa' * 16}",
        f"/api/traces/{'bb' * 16}",
    ]
    assert server.requests[1].headers["accept"] == "application/protobuf"


def test_v1_json_answer_is_accepted_too(server: Loopback) -> None:
    raw = fixture_bytes("tempo_tempopb_trace_batches.tempo-v1-api.json")
    server.on("/api/traces/*", Reply(body=raw))  # a server that ignores Accept
    table = TempoSource(config(server.url)).trace("cc" * 16)
    assert table is not None and canon(table).equals(canon(decode(raw)))


def test_search_ids_with_leading_zeros_stripped_are_padded_to_32(server: Loopback) -> None:
    server.on("/api/search", Reply(body=fixture_bytes("tempo_docs_search_tags_response.tempo-search.json")))
    batches = fixture_bytes("tempo_tempopb_trace_batches.tempo-v1-api.json")
    server.on(
        "/api/v2/traces/*",
        Reply(body=json_bytes({"trace": {"resourceSpans": json.loads(batches)["batches"]}})),
    )
    TempoSource(config(server.url)).execution("any")
    assert sorted(server.paths()[1:]) == [
        "/api/v2/traces/00000000000000001b1ba462b409200d",
        "/api/v2/traces/0000000000000000d6e9329d67b6146a",
    ]


def test_search_ids_in_upper_case_are_one_id_and_a_non_hex_id_is_skipped_with_a_warning(
    server: Loopback,
) -> None:
    listed = [{"traceID": "1B1BA462B409200D"}, {"traceID": "1b1ba462b409200d"}, {"traceID": "not-hex"}]
    server.on("/api/search", Reply(body=json_bytes({"traces": listed, "metrics": {}})))
    ids, warnings = TempoSource(config(server.url)).search("x")
    assert ids == ["0" * 16 + "1b1ba462b409200d"]
    assert len(warnings) == 1 and "'not-hex', not an id of at most 32 hex digits; skipped" in warnings[0]


def test_the_docs_traceql_search_response_is_read(server: Loopback) -> None:
    server.on("/api/search", Reply(body=fixture_bytes("tempo_docs_search_response.tempo-search.json")))
    ids, warnings = TempoSource(config(server.url)).search("x")
    assert len(ids) == 1 and len(ids[0]) == 32 and warnings == []


def test_a_search_that_did_not_finish_its_jobs_is_a_warning(server: Loopback) -> None:
    doc = json.loads(fixture_bytes("tempo_docs_search_response.tempo-search.json"))
    doc["metrics"].update(completedJobs=3, totalJobs=5)
    server.on("/api/search", Reply(body=json_bytes(doc)))
    ids, warnings = TempoSource(config(server.url)).search("x")
    assert len(ids) == 1 and warnings == ["Tempo search for exec_id=x finished 3 of 5 jobs: traces may be missing; "
                                          "try again or narrow the window"]  # fmt: skip


def test_partial_trace_found_by_search_is_kept_with_a_warning_naming_its_url(server: Loopback) -> None:
    traces = round_traces({"exec-p": 2})
    partial = sorted(traces)[0]
    FakeTempo(server, traces)
    server.on(
        f"/api/v2/traces/{partial}",
        Reply(body=json_bytes({"trace": tempo_json(traces[partial]), "status": "PARTIAL"})),
    )
    table = TempoSource(config(server.url)).execution("exec-p")
    assert len(table) == 8
    flagged = [w for w in table.warnings if "PARTIAL" in w]
    assert len(flagged) == 1 and f"/api/v2/traces/{partial}" in flagged[0]


def test_partial_trace_is_kept_with_a_warning(server: Loopback) -> None:
    traces = round_traces({"exec-p": 1})
    (tid, spans) = next(iter(traces.items()))
    server.on("/api/v2/traces/*", Reply(body=json_bytes({"trace": tempo_json(spans), "status": "PARTIAL"})))
    table = TempoSource(config(server.url)).trace(tid)
    assert table is not None and len(table) == 4
    assert any("PARTIAL" in w for w in table.warnings)


def test_a_complete_trace_has_no_partial_warning(server: Loopback) -> None:
    (tid, spans) = next(iter(round_traces({"exec-c": 1}).items()))
    server.on("/api/v2/traces/*", Reply(body=json_bytes({"trace": tempo_json(spans), "status": "COMPLETE"})))
    table = TempoSource(config(server.url)).trace(tid)
    assert table is not None and not any("PARTIAL" in w for w in table.warnings)


def test_a_full_search_is_asked_again_with_a_higher_limit_until_complete(server: Loopback) -> None:
    traces = round_traces({"exec-many": 7})
    FakeTempo(server, traces)
    table = TempoSource(config(server.url, limit=3, max_limit=100)).execution("exec-many")
    limits = [r.query["limit"] for r in server.requests if r.path == "/api/search"]
    assert limits == ["3", "6", "12"]
    assert table.df["trace_id"].nunique() == 7 and not table.warnings


def test_a_search_still_full_at_the_max_limit_warns_instead_of_losing_traces_silently(
    server: Loopback, caplog: pytest.LogCaptureFixture
) -> None:
    FakeTempo(server, round_traces({"exec-many": 7}))
    with caplog.at_level(logging.WARNING):
        table = TempoSource(config(server.url, limit=2, max_limit=4)).execution("exec-many")
    assert table.df["trace_id"].nunique() == 4
    assert any("returned its limit of 4 traces: there may be more" in w for w in table.warnings)
    assert "there may be more" in caplog.text


def test_nothing_found_says_where_what_and_when(server: Loopback) -> None:
    FakeTempo(server, round_traces({"other": 1}))
    with pytest.raises(NotFound) as e:
        TempoSource(config(server.url)).execution("exec-none")
    assert str(e.value) == (
        f"searched Tempo at {server.url} for exec_id=exec-none between "
        f"2025-12-31T23:00:00Z and 2026-01-01T01:00:00Z: 0 traces"
    )


def test_a_listed_trace_that_cannot_be_fetched_is_a_warning(server: Loopback) -> None:
    traces = round_traces({"exec-x": 2})
    gone = sorted(traces)[0]
    FakeTempo(server, {k: v for k, v in traces.items() if k != gone}, listed=traces)
    table = TempoSource(config(server.url)).execution("exec-x")
    assert len(table) == 4
    assert any(gone in w and "not found" in w for w in table.warnings)


def test_when_no_listed_trace_can_be_fetched_it_is_not_found(server: Loopback) -> None:
    tid = "12" * 16
    server.on("/api/search", Reply(body=json_bytes({"traces": [{"traceID": tid}]})))
    with pytest.raises(NotFound, match="1 traces, none of which could be fetched"):
        TempoSource(config(server.url)).execution("exec-x")


def test_tenant_and_bearer_token_are_sent(server: Loopback) -> None:
    FakeTempo(server, round_traces({"exec-t": 1}))
    TempoSource(config(server.url, tenant="team-a", token=TOKEN)).execution("exec-t")
    assert all(r.headers["x-scope-orgid"] == "team-a" for r in server.requests)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in server.requests)


def test_basic_auth_is_sent(server: Loopback) -> None:
    FakeTempo(server, round_traces({"exec-b": 1}))
    TempoSource(config(server.url, user="alice", password="pw-123")).execution("exec-b")
    assert server.requests[0].headers["authorization"] == "Basic YWxpY2U6cHctMTIz"  # base64("alice:pw-123")


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_names_the_url_and_hides_the_token(
    server: Loopback, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("/api/search", Reply(status, b"unauthorized"))
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as e:
        TempoSource(config(server.url, token=TOKEN)).execution("exec-a")
    assert "authentication failed" in str(e.value) and server.url in str(e.value)
    assert TOKEN not in str(e.value) and TOKEN not in caplog.text


def test_health_check_uses_the_echo_endpoint(server: Loopback) -> None:
    server.on("/api/echo", Reply(200, b"echo", "text/plain"))
    TempoSource(config(server.url)).health()
    assert server.paths() == ["/api/echo"]


def test_health_check_of_something_that_is_not_tempo_fails(server: Loopback) -> None:
    with pytest.raises(BackendError, match="HTTP 404"):
        TempoSource(config(server.url)).health()


def test_a_truncated_trace_body_is_a_backend_error_naming_the_url(server: Loopback) -> None:
    (tid, spans) = next(iter(round_traces({"exec-t": 1}).items()))
    body = json_bytes({"trace": tempo_json(spans)})
    server.on("/api/v2/traces/*", Reply(body=body, truncate_to=len(body) // 2))
    with pytest.raises(
        BackendError, match=f"truncated response from {re.escape(server.url)}/api/v2/traces/{tid}"
    ):
        TempoSource(config(server.url)).trace(tid)


def test_an_undecodable_trace_body_is_a_decode_error_naming_the_url(server: Loopback) -> None:
    server.on("/api/v2/traces/*", Reply(body=b'{"trace": {"resourceSpans": [{"scopeSpans": '))
    with pytest.raises(DecodeError) as e:
        TempoSource(config(server.url)).trace("ab" * 16)
    assert f"{server.url}/api/v2/traces/{'ab' * 16}" in str(e.value)


def test_a_search_answer_that_is_not_json_is_a_backend_error(server: Loopback) -> None:
    server.on("/api/search", Reply(body=b"not json"))
    with pytest.raises(BackendError, match="not a Tempo search response"):
        TempoSource(config(server.url)).execution("x")


def test_many_traces_are_fetched_concurrently_and_all_kept(server: Loopback) -> None:
    traces = round_traces({"exec-big": 25})
    FakeTempo(server, traces)
    table = TempoSource(config(server.url, concurrency=4)).execution("exec-big")
    assert canon(table).equals(canon(decoded(traces, "exec-big")))


def test_missing_url_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="needs --url"):
        TempoSource(RemoteConfig())


def test_round_traces_are_spaced_on_the_virtual_clock() -> None:
    # the generator's clock is what the window checks rely on
    starts = sorted(min(s.start_time for s in spans) for spans in round_traces({"e": 3}).values())
    assert starts == [T0, T0 + 100 * MS, T0 + 200 * MS]


# --- hostile ids -------------------------------------------------------------------------------------------
def test_ids_from_a_hostile_search_never_reach_a_url(server: Loopback) -> None:
    (tid, spans) = next(iter(round_traces({"exec-h": 1}).items()))
    listed = [
        {"traceID": "../../admin/config"},
        {"traceID": "%2e%2e%2fadmin"},
        {"traceID": "ab/../../x"},
        {"traceID": "a" * 33},
        {"traceID": tid},
    ]
    server.on("/api/search", Reply(body=json_bytes({"traces": listed, "metrics": {}})))
    server.on("/api/v2/traces/*", Reply(body=json_bytes({"trace": tempo_json(spans)})))
    table = TempoSource(config(server.url)).execution("exec-h")
    assert server.paths() == ["/api/search", f"/api/v2/traces/{tid}"]
    assert sum("not an id of at most 32 hex digits; skipped" in w for w in table.warnings) == 4


@pytest.mark.parametrize("typed", ["../../admin", "ab/cd", "abc?x=1", "ab#c", "", "a" * 33, "ab cd", "zz"])
def test_a_trace_id_typed_by_the_user_is_checked_before_any_request(server: Loopback, typed: str) -> None:
    with pytest.raises(AnalyzerError, match=r"^bad trace id .*: expected 1 to 32 hex digits$"):
        TempoSource(config(server.url)).trace(typed)
    assert server.requests == []


def test_a_short_trace_id_is_left_padded_to_32_digits(server: Loopback) -> None:
    server.on("/api/v2/traces/*", Reply(404, b"trace not found", "text/plain"))
    server.on("/api/traces/*", Reply(404, b"trace not found", "text/plain"))
    assert TempoSource(config(server.url)).trace("ABC") is None
    assert server.paths()[0] == "/api/v2/traces/" + "0" * 29 + "abc"
