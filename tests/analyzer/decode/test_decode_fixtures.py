"""Upstream payloads (../shared/fixtures, see PROVENANCE.md) decode to the rows their sources say they hold."""

from __future__ import annotations

import calendar

import pandas as pd
import pytest
from decode_testlib import FIXTURES, canonical

from analyzer import table as t
from analyzer.decode import FORMATS, decode, detect
from analyzer.errors import DecodeError


def _read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _rows(name: str) -> pd.DataFrame:
    return canonical(decode(_read(name), name).df)


def test_otlp_json_and_its_jaeger_v1_rendering_decode_to_the_same_rows():
    # fixture #2 is what Jaeger's /api/transform produced from #1
    otlp, jaeger = (
        _rows("jaeger_transform_otlp_in.otlp.json"),
        _rows("jaeger_transform_ui_out.jaeger-v1-api.json"),
    )
    assert len(otlp) == 2
    pd.testing.assert_frame_equal(otlp, jaeger)


def test_otlp_json_and_protobuf_of_the_same_example_decode_to_the_same_rows():
    pd.testing.assert_frame_equal(
        _rows("otelproto_example_trace.otlp.json"), _rows("otelproto_example_trace.otlp.pb")
    )


def test_tempo_v1_batches_envelope_decodes_like_the_otlp_example_it_copies():
    pd.testing.assert_frame_equal(
        _rows("tempo_tempopb_trace_batches.tempo-v1-api.json"), _rows("otelproto_example_trace.otlp.json")
    )


def test_uppercase_hex_ids_become_lowercase_and_fields_are_read():
    row = decode(_read("otelproto_example_trace.otlp.json")).df.iloc[0]
    assert row[t.TRACE_ID] == "5B8EFFF798038103D269B633813FC60C".lower()
    assert row[t.SPAN_ID] == "EEE19B7EC3C1B174".lower()
    assert row[t.PARENT_ID] == "EEE19B7EC3C1B173".lower()
    assert (row[t.SERVICE], row[t.NAME], row[t.KIND]) == ("my.service", "I'm a server span", "server")
    assert (row[t.START], row[t.END]) == (1544712660000000000, 1544712661000000000)
    assert row[t.ATTRIBUTES] == {"my.span.attr": "some value"}


def test_jaeger_api_v3_result_envelope_reads_integer_enums():
    row = decode(_read("jaeger_apiv3_GetTrace.snapshot.json")).df.iloc[0]
    assert (row[t.TRACE_ID], row[t.SPAN_ID]) == ("0" * 31 + "1", "0" * 15 + "2")
    assert (row[t.KIND], row[t.STATUS], row[t.NAME]) == ("server", "error", "foobar")
    assert row[t.PARENT_ID] == ""


def test_the_same_span_twice_is_kept_twice():
    df = decode(_read("jaeger_transform_otlp_in.otlp.json")).df
    assert len(df) == 2 and df[t.SPAN_ID].nunique() == 1


def test_jaeger_ui_trace_statistics_oracle_totals_per_service():
    # jaeger-ui TraceStatistics/tableValues.test.js, grouped by service: count and total (ms, 2 dp)
    df = decode(_read("jaegerui_stats_testTraceNormal.jaeger-v1-trace.json")).df
    dur_ms = (df[t.END] - df[t.START]) / 1e6
    by = dur_ms.groupby(df[t.SERVICE].astype(str))
    assert by.count().to_dict() == {"api-gateway": 2, "customers-service": 3}
    assert by.sum().round(2).to_dict() == {"api-gateway": 7.4, "customers-service": 1.81}
    trace_ms = (df[t.END].max() - df[t.START].min()) / 1e6
    assert trace_ms == pytest.approx(4.902)  # PROVENANCE.md: trace duration 4902 µs


def test_jaeger_domain_json_base64_ids_rfc3339_times_and_typed_tags():
    df = decode(_read("jaeger_domain_01.jaeger-domain.json")).df
    assert set(df[t.TRACE_ID]) == {"0" * 31 + "1"}
    assert df[t.SPAN_ID].tolist() == ["0" * 15 + str(i) for i in (2, 2, 3, 4, 5)]
    # 2017-01-26T16:46:31.639875139-05:00 is 21:46:31.639875139 UTC
    start = calendar.timegm((2017, 1, 26, 21, 46, 31)) * 10**9 + 639875139
    assert set(df[t.START]) == {start}
    assert (df[t.END] - df[t.START]).tolist() == [5000, 5000, 5000, 5000, 4000]
    by_name = df.set_index(t.NAME)
    # reference-test: its first CHILD_OF points into another trace, so the parent is the next CHILD_OF
    assert by_name.loc["reference-test", t.PARENT_ID] == "0" * 15 + "2"
    assert by_name.loc["preserveParentID-test", t.PARENT_ID] == "0" * 15 + "4"
    tagged = df.iloc[1]
    assert tagged[t.STATUS] == "error"  # error=true tag
    assert tagged[t.ATTRIBUTES] == {
        "peer.service": "service-y",
        "peer.ipv4": 23456,
        "temperature": 72.5,
        "javascript_limit": 9223372036854775222,
        "blob": b"\x00\x0009",
    }
    assert df[t.SERVICE].astype(str).tolist() == [
        "service-x",
        "service-x",
        "service-y",
        "service-y",
        "service-y",
    ]


@pytest.mark.parametrize("name", ["tempo_docs_search_response.tempo-search.json",
                                  "tempo_docs_search_tags_response.tempo-search.json"])  # fmt: skip
def test_a_tempo_search_response_is_refused_saying_what_it_is(name):
    with pytest.raises(DecodeError, match=f"{name}: this is a Tempo search response"):
        decode(_read(name), name)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("jaeger_transform_otlp_in.otlp.json", "otlp-json"),
        ("jaeger_apiv3_GetTrace.snapshot.json", "otlp-json"),
        ("tempo_tempopb_trace_batches.tempo-v1-api.json", "otlp-json"),
        ("jaeger_transform_ui_out.jaeger-v1-api.json", "jaeger-v1"),
        ("jaegerui_stats_testTraceNormal.jaeger-v1-trace.json", "jaeger-v1"),
        ("jaeger_domain_01.jaeger-domain.json", "jaeger-domain"),
        ("otelproto_example_trace.otlp.pb", "otlp-proto"),
    ],
)
def test_format_is_detected_from_the_bytes(name, fmt):
    assert fmt in FORMATS
    assert detect(_read(name)) == fmt
