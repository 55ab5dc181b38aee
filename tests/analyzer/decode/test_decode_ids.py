"""Ids as other systems write them: leading zeros trimmed, upper case; one id however written is one id."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable

import pandas as pd
import pytest
from decode_testlib import FIXTURES, canonical

from analyzer import table as t
from analyzer.decode import decode
from analyzer.execution import stitch
from analyzer.reduce.self_time import statistics

TID = "0000000000000000" + "00a1b2c3d4e5f607"  # a Jaeger 64-bit trace id, and written trimmed below
PARENT, CHILD = "00c0ffee00000001", "0000beef00000002"


def _jaeger_v1(tid: str, parent: str, child: str, ref: str) -> dict:
    span = {"traceID": tid, "operationName": "op", "startTime": 1_000, "duration": 10, "processID": "p1"}
    return {"data": [{"traceID": tid, "processes": {"p1": {"serviceName": "svc"}}, "spans": [
        {**span, "spanID": parent},
        {**span, "spanID": child, "references": [{"refType": "CHILD_OF", "traceID": tid, "spanID": ref}]},
    ]}]}  # fmt: skip


def _jaeger_domain(tid: str, parent: str, child: str, ref: str) -> dict:
    span = {"traceId": tid, "operationName": "op", "startTime": "2024-01-01T00:00:00Z", "duration": "10us",
            "process": {"serviceName": "svc"}}  # fmt: skip
    return {"spans": [
        {**span, "spanId": parent},
        {**span, "spanId": child, "references": [{"traceId": tid, "spanId": ref}]},
    ]}  # fmt: skip


def _otlp(envelope: str) -> Callable[[str, str, str, str], dict]:
    def make(tid: str, parent: str, child: str, ref: str) -> dict:
        span = {"traceId": tid, "name": "op", "startTimeUnixNano": "1000000", "endTimeUnixNano": "1010000"}
        spans = [{**span, "spanId": parent}, {**span, "spanId": child, "parentSpanId": ref}]
        return {envelope: [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}

    return make


# format -> a two-span trace (parent, child) in that format, the child's parent reference given apart
FORMATS: dict[str, Callable[[str, str, str, str], dict]] = {
    "jaeger-v1": _jaeger_v1,
    "jaeger-domain": _jaeger_domain,
    "otlp-json": _otlp("resourceSpans"),
    "tempo-json": _otlp("batches"),
}
# how an id may be written: trimmed of its leading zeros, upper case, both
WRITINGS: dict[str, Callable[[str], str]] = {
    "trimmed": lambda x: x.lstrip("0"),
    "upper": str.upper,
    "trimmed-upper": lambda x: x.lstrip("0").upper(),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("writing", WRITINGS)
def test_short_and_upper_case_ids_decode_padded_and_link_to_the_full_form(fmt, writing):
    w = WRITINGS[writing]
    full = decode(json.dumps(FORMATS[fmt](TID, PARENT, CHILD, PARENT)).encode(), "full")
    # the child's own id and trace id written one way, its reference to the parent another
    odd = decode(json.dumps(FORMATS[fmt](w(TID), PARENT, w(CHILD), w(PARENT))).encode(), "odd")
    assert odd.df[t.SPAN_ID].tolist() == [PARENT, CHILD]
    assert odd.df[t.TRACE_ID].tolist() == [TID, TID]
    pd.testing.assert_frame_equal(canonical(odd.df), canonical(full.df))
    ex = stitch(odd)
    assert ex.parent_index.tolist() == [-1, 0]  # the trimmed reference found the parent written in full
    assert not ex.warnings


def test_a_jaeger_recording_with_trimmed_span_ids_meets_the_jaeger_ui_statistics_oracle():
    # jaeger-ui's testTraceNormal (PROVENANCE.md #5) with each span id given two leading zeros, then
    # written as old Jaeger clients write them: 14 digits, the zeros trimmed (some upper case)
    doc = json.loads((FIXTURES / "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json").read_bytes())
    full, short = copy.deepcopy(doc), copy.deepcopy(doc)
    for i, (a, b) in enumerate(zip(full["spans"], short["spans"], strict=True)):
        a["spanID"] = "00" + a["spanID"][2:]
        b["spanID"] = a["spanID"][2:].upper() if i % 2 else a["spanID"][2:]
        for ra, rb in zip(a["references"], b["references"], strict=True):
            ra["spanID"] = "00" + ra["spanID"][2:]
            rb["spanID"] = ra["spanID"][2:]
    stats = statistics(stitch(decode(json.dumps(short).encode(), "short")), "service")
    assert stats["count"].to_dict() == {"api-gateway": 2, "customers-service": 3}
    # the oracle's self totals (ms, 2 dp): the tree, hence self time, is the same as with full ids
    assert (stats["self_total"] / 1e6).round(2).to_dict() == {"api-gateway": 3.16, "customers-service": 1.74}
    pd.testing.assert_frame_equal(
        stats, statistics(stitch(decode(json.dumps(full).encode(), "full")), "service")
    )


def test_a_base64_id_is_still_read_as_base64():
    raw = bytes.fromhex(CHILD)
    doc = _otlp("batches")(
        base64.b64encode(bytes.fromhex(TID)).decode(), PARENT, base64.b64encode(raw).decode(), PARENT
    )
    assert decode(json.dumps(doc).encode()).df[t.SPAN_ID].tolist() == [PARENT, CHILD]
