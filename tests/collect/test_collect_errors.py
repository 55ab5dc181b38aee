"""OTLP error statuses: malformed, too large, unsupported, unauthenticated; none of them touches the store."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from analyzer.collect.connections import DEFAULT_MAX_BYTES
from analyzer.load import read_store

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTO = "application/x-protobuf"
JSON = "application/json"


def _grpc_export(receiver, body: bytes, token: str | None):  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        metadata = [("authorization", f"Bearer {token}")] if token else []
        return call(body, metadata=metadata, timeout=10)


def _post(receiver, body: bytes, headers: dict[str, str], path: str = "/v1/traces"):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=10)
    # the receiver may answer (e.g. 413) and close before reading the whole body: then read its answer
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.getheader("Content-Type"), resp.read()
    conn.close()
    return out


def _auth(token: str, content_type: str = PROTO) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": content_type}


def _otlp_json(make_spans, n: int) -> dict:  # type: ignore[no-untyped-def]
    """The same spans as OTLP/JSON (hex ids), built from the protobuf encoding of real SDK spans."""
    doc = MessageToDict(encode_spans(make_spans(n)), use_integers_for_enums=True)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["traceId"] = base64.b64decode(s["traceId"]).hex()
                s["spanId"] = base64.b64decode(s["spanId"]).hex()
                s.pop("parentSpanId", None)
    return doc


def test_grpc_malformed_request_is_invalid_argument(receiver, token, store_ids, tmp_path):
    with pytest.raises(grpc.RpcError) as e:
        _grpc_export(receiver, b"\xff\xff\xff not protobuf", token)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    receiver.stop()
    assert store_ids(tmp_path / "store") == []


def test_grpc_without_token_is_unauthenticated(receiver, make_spans, store_ids, tmp_path):
    with pytest.raises(grpc.RpcError) as e:
        _grpc_export(receiver, encode_spans(make_spans(2)).SerializeToString(), None)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    receiver.stop()
    assert store_ids(tmp_path / "store") == []


def test_grpc_request_over_the_limit_is_refused_and_the_store_keeps_earlier_spans(
    receiver, token, max_bytes, make_spans, store_ids, tmp_path
):
    good = encode_spans(make_spans(5))
    _grpc_export(receiver, good.SerializeToString(), token)
    big = encode_spans(make_spans(1))
    big.resource_spans[0].scope_spans[0].spans[0].name = "x" * (max_bytes + 1)
    with pytest.raises(grpc.RpcError) as e:
        _grpc_export(receiver, big.SerializeToString(), token)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _grpc_export(receiver, good.SerializeToString(), token)  # still serving after the refusal
    receiver.stop()
    ids = [(s.trace_id, s.span_id) for s in good.resource_spans[0].scope_spans[0].spans]
    assert sorted(store_ids(tmp_path / "store")) == sorted(ids * 2)


def test_http_malformed_protobuf_is_400_with_a_status_body(receiver, token):
    status, ctype, body = _post(receiver, b"\xff\xff\xff not protobuf", _auth(token))
    assert (status, ctype) == (400, PROTO)
    st = Status.FromString(body)
    assert st.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "ExportTraceServiceRequest" in st.message


@pytest.mark.parametrize(
    "body, where",
    [
        (b"{not json", "invalid JSON at line 1 column 2"),
        (b"[1, 2]", "JSON list where a trace object was expected"),
        (b'{"resourceSpans": {}}', "resourceSpans is not a list"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "0102030405060708"}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0]: trace id 'zz' is not 32 hex digits",
        ),
    ],
)
def test_http_malformed_json_is_400_with_a_json_status_naming_the_position(receiver, token, body, where):
    status, ctype, out = _post(receiver, body, _auth(token, JSON))
    assert (status, ctype) == (400, JSON)
    st = json.loads(out)
    assert st["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert where in st["message"]


def test_http_unsupported_content_type_is_415(receiver, token):
    status, _, body = _post(receiver, b"hello", _auth(token, "text/plain"))
    assert status == 415
    assert "text/plain" in Status.FromString(body).message


def test_http_unsupported_content_encoding_is_415(receiver, token, make_spans):
    headers = {**_auth(token), "Content-Encoding": "br"}
    status, _, _ = _post(receiver, encode_spans(make_spans(1)).SerializeToString(), headers)
    assert status == 415


def test_http_without_or_with_a_wrong_token_is_401(receiver, make_spans, store_ids, tmp_path):
    body = encode_spans(make_spans(2)).SerializeToString()
    assert _post(receiver, body, {"Content-Type": PROTO})[0] == 401
    status, _, out = _post(receiver, body, _auth("guess-123"))
    assert status == 401
    st = Status.FromString(out)
    assert st.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert "guess-123" not in st.message
    receiver.stop()
    assert store_ids(tmp_path / "store") == []


def test_http_body_over_the_limit_is_413_and_the_store_is_unharmed(
    receiver, token, max_bytes, make_spans, store_ids, tmp_path
):
    good = encode_spans(make_spans(4))
    assert _post(receiver, good.SerializeToString(), _auth(token))[0] == 200
    assert _post(receiver, b"\0" * (max_bytes + 1), _auth(token))[0] == 413
    # A small gzip body that expands past the limit is refused the same way.
    bomb = gzip.compress(b"\0" * (max_bytes + 1))
    assert len(bomb) < max_bytes
    assert _post(receiver, bomb, {**_auth(token), "Content-Encoding": "gzip"})[0] == 413
    assert _post(receiver, good.SerializeToString(), _auth(token))[0] == 200
    receiver.stop()
    ids = [(s.trace_id, s.span_id) for s in good.resource_spans[0].scope_spans[0].spans]
    assert sorted(store_ids(tmp_path / "store")) == sorted(ids * 2)


def test_http_unknown_path_is_404(receiver, token):
    assert _post(receiver, b"", _auth(token), path="/v1/metrics")[0] == 404


def test_http_gzip_protobuf_is_stored(receiver, token, make_spans, store_ids, tmp_path):
    req = encode_spans(make_spans(6))
    status, ctype, body = _post(
        receiver, gzip.compress(req.SerializeToString()), {**_auth(token), "Content-Encoding": "gzip"}
    )
    assert (status, ctype, body) == (200, PROTO, b"")
    receiver.stop()
    assert sorted(store_ids(tmp_path / "store")) == sorted(
        (s.trace_id, s.span_id) for s in req.resource_spans[0].scope_spans[0].spans
    )


def test_http_json_is_stored_as_one_jsonl_line_even_when_pretty_printed(
    receiver, token, make_spans, tmp_path
):
    docs = [_otlp_json(make_spans, 3), _otlp_json(make_spans, 2)]
    assert _post(receiver, json.dumps(docs[0]).encode(), _auth(token, JSON))[:2] == (200, JSON)
    assert _post(receiver, json.dumps(docs[1], indent=2).encode(), _auth(token, JSON))[0] == 200
    receiver.stop()
    (path,) = (tmp_path / "store").glob("*.jsonl")
    assert [json.loads(line) for line in path.read_text().splitlines()] == docs
    assert len(read_store(tmp_path / "store")) == 5


def test_empty_request_is_accepted_and_writes_nothing(receiver, token, tmp_path):
    assert _post(receiver, b"", _auth(token))[0] == 200
    _grpc_export(receiver, b"", token)
    receiver.stop()
    assert list((tmp_path / "store").glob("*")) == []


def _gzip_post(receiver, body: bytes, token: str):  # type: ignore[no-untyped-def]
    return _post(receiver, body, {**_auth(token), "Content-Encoding": "gzip"})


def test_http_gzip_of_several_members_is_decoded_whole(receiver, token, make_spans, store_ids, tmp_path):
    first, second = encode_spans(make_spans(3)), encode_spans(make_spans(4))
    # Concatenated protobuf messages merge: the body is one request holding both.
    body = gzip.compress(first.SerializeToString()) + gzip.compress(second.SerializeToString())
    assert _gzip_post(receiver, body, token)[0] == 200
    receiver.stop()
    sent = [
        (s.trace_id, s.span_id) for r in (first, second) for s in r.resource_spans[0].scope_spans[0].spans
    ]
    assert sorted(store_ids(tmp_path / "store")) == sorted(sent)


def test_http_gzip_with_trailing_bytes_is_400_and_stores_nothing(
    receiver, token, make_spans, store_ids, tmp_path
):
    member = gzip.compress(encode_spans(make_spans(3)).SerializeToString())
    status, _, body = _gzip_post(receiver, member + b"trailing", token)
    assert status == 400
    assert f"byte {len(member)}" in Status.FromString(body).message
    receiver.stop()
    assert store_ids(tmp_path / "store") == []


def test_http_gzip_members_together_past_the_limit_are_413(receiver, token, max_bytes):
    half = gzip.compress(b"\0" * (max_bytes // 2 + 1))
    assert _gzip_post(receiver, half * 2, token)[0] == 413


@pytest.mark.parametrize(
    "authorized, status, code",
    [(True, 413, grpc.StatusCode.RESOURCE_EXHAUSTED), (False, 401, grpc.StatusCode.UNAUTHENTICATED)],
)
def test_http_client_sending_a_large_refused_body_sees_the_answer(
    make_receiver, token, authorized, status, code
):
    """http.client sends the whole body before reading: the receiver must not reset the connection under it.

    The body is larger than the loopback socket buffers take, so an unread body means a reset.
    """
    receiver = make_receiver(max_bytes=DEFAULT_MAX_BYTES)
    conn = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=60)
    headers = _auth(token) if authorized else {"Content-Type": PROTO}
    conn.request("POST", "/v1/traces", body=b"\0" * (3 * DEFAULT_MAX_BYTES), headers=headers)
    response = conn.getresponse()
    assert (response.status, response.getheader("Connection")) == (status, "close")
    assert Status.FromString(response.read()).code == code.value[0]
    conn.close()
