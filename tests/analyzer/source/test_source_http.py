"""The HTTP transport against a loopback server: retries, Retry-After, timeouts, truncation, auth, TLS."""

from __future__ import annotations

import datetime
import email.utils
import io
import logging
import ssl
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from source_loopback import Loopback, Reply, self_signed

from analyzer.errors import AnalyzerError, BackendError
from analyzer.source.http import HttpClient, HttpConfig, fetch_all, redirect_refusal

TOKEN = "s3cr3t-t0ken-value"


class Sleeps(list[float]):
    """Records the delays asked for instead of sleeping: retries are checked without waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(url: str, sleeps: Sleeps | None = None, **config: object) -> HttpClient:
    cfg = HttpConfig(**{"timeout_s": 5.0, "retries": 2, "backoff_s": 0.001, **config})  # type: ignore[arg-type]
    return HttpClient(url, cfg, sleep=sleeps if sleeps is not None else Sleeps())


def test_connection_refused_is_a_backend_error_naming_the_url_after_bounded_retries(refused_url: str) -> None:
    sleeps = Sleeps()
    with pytest.raises(BackendError) as e:
        client(refused_url, sleeps).get("/api/echo")
    assert f"cannot connect to {refused_url}/api/echo" in str(e.value)
    assert "after 3 attempts" in str(e.value)
    assert len(sleeps) == 2  # retries=2: two waits between three attempts


def test_timeout_is_retried_then_reported(server: Loopback) -> None:
    server.on("/slow", Reply(hang=True))
    with pytest.raises(BackendError) as e:
        client(server.url, timeout_s=0.2, retries=1).get("/slow")
    assert "timed out after 0.2s" in str(e.value) and f"{server.url}/slow" in str(e.value)
    assert server.paths() == ["/slow", "/slow"]


def test_404_is_returned_when_expected_and_an_error_otherwise(server: Loopback) -> None:
    c = client(server.url)
    assert c.get("/missing", expect=(200, 404)).status == 404
    with pytest.raises(BackendError) as e:
        c.get("/missing")
    assert f"HTTP 404 from {server.url}/missing" in str(e.value)
    assert "404 page not found" in str(e.value)
    assert server.paths() == ["/missing", "/missing"]  # a 404 is an answer, never retried


def test_500_then_success_retries_with_exponential_backoff(server: Loopback) -> None:
    server.on("/flaky", Reply(500, b"boom"), Reply(503, b"later"), Reply(200, b'{"ok": 1}'))
    sleeps = Sleeps()
    resp = client(server.url, sleeps, retries=4, backoff_s=0.1).get("/flaky")
    assert resp.status == 200 and resp.body == b'{"ok": 1}'
    assert len(sleeps) == 2
    # jittered exponential: attempt n waits within [b*2^(n-1)/2, b*2^(n-1)]
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2


def test_retries_are_bounded_and_the_last_status_is_reported(server: Loopback) -> None:
    server.on("/down", Reply(502, b"bad gateway"))
    sleeps = Sleeps()
    with pytest.raises(BackendError) as e:
        client(server.url, sleeps, retries=3, backoff_s=100.0, backoff_max_s=2.0).get("/down")
    assert "HTTP 502" in str(e.value) and "after 4 attempts" in str(e.value)
    assert len(server.requests) == 4
    assert all(s <= 2.0 for s in sleeps)  # each delay is bounded


def test_429_waits_as_long_as_retry_after_says(server: Loopback) -> None:
    server.on("/busy", Reply(429, b"slow down", headers={"Retry-After": "7"}), Reply(200, b"{}"))
    sleeps = Sleeps()
    assert client(server.url, sleeps).get("/busy").status == 200
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date_and_beyond_the_bound(server: Loopback) -> None:
    later = email.utils.format_datetime(
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1), usegmt=True
    )
    server.on("/busy", Reply(503, headers={"Retry-After": later}), Reply(200, b"{}"))
    sleeps = Sleeps()
    assert client(server.url, sleeps, backoff_max_s=3.0).get("/busy").status == 200
    assert sleeps == [3.0]  # an hour asked, the bound granted


def test_truncated_body_is_retried_then_reported_with_byte_counts(server: Loopback) -> None:
    server.on("/cut", Reply(200, b"x" * 100, truncate_to=10))
    with pytest.raises(BackendError) as e:
        client(server.url, retries=1).get("/cut")
    assert f"truncated response from {server.url}/cut: got 10 of 100 bytes" in str(e.value)
    assert len(server.requests) == 2


def test_truncated_body_then_whole_body_succeeds(server: Loopback) -> None:
    server.on("/cut", Reply(200, b"x" * 100, truncate_to=10), Reply(200, b"x" * 100))
    assert client(server.url).get("/cut").body == b"x" * 100


def test_html_instead_of_a_payload_is_refused_with_the_content_type(server: Loopback) -> None:
    server.on("/api/search", Reply(200, b"<html>Sign in</html>", "text/html; charset=utf-8"))
    with pytest.raises(BackendError) as e:
        client(server.url).get("/api/search")
    assert "answered text/html, not a trace payload" in str(e.value)
    assert f"{server.url}/api/search" in str(e.value)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_clear_and_never_shows_the_token(
    server: Loopback, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("/api/search", Reply(status, f"token {TOKEN} rejected".encode()))
    c = client(server.url, headers={"Authorization": f"Bearer {TOKEN}"}, secrets=(TOKEN,))
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as e:
        c.get("/api/search")
    assert f"authentication failed at {server.url}/api/search (HTTP {status})" in str(e.value)
    assert TOKEN not in str(e.value) and TOKEN not in repr(c.config)
    assert TOKEN not in caplog.text
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert len(server.requests) == 1  # bad credentials are not retried


def test_a_secret_echoed_in_an_error_body_is_redacted(server: Loopback) -> None:
    server.on("/q", Reply(400, f"bad header Bearer {TOKEN}".encode()))
    with pytest.raises(BackendError) as e:
        client(server.url, secrets=(TOKEN,)).get("/q")
    assert TOKEN not in str(e.value) and "Bearer ***" in str(e.value)


def test_query_parameters_are_url_encoded(server: Loopback) -> None:
    server.on("/api/search", Reply(200, b"{}"))
    client(server.url).get("/api/search", {"q": '{ span.exec_id = "a b&c" }', "limit": 5})
    assert server.requests[0].query == {"q": '{ span.exec_id = "a b&c" }', "limit": "5"}


# --- TLS -----------------------------------------------------------------------------------------------
@pytest.fixture
def tls_server(server: Loopback, tmp_path: Path) -> tuple[str, str]:
    """The loopback server speaking TLS too (same port), with a freshly made self-signed certificate for 127.0.0.1."""
    pytest.importorskip("cryptography")
    cert_pem, key_pem = self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    server.serve_tls(ctx)
    server.on("/api/echo", Reply(200, b"echo", "text/plain"))
    return server.https_url, str(cert_pem)


def test_tls_with_a_custom_ca_verifies(tls_server: tuple[str, str]) -> None:
    url, ca = tls_server
    assert client(url, ca_file=ca).get("/api/echo", accept="text/plain").body == b"echo"


def test_tls_with_an_unknown_ca_fails_clearly_and_is_not_retried(tls_server: tuple[str, str]) -> None:
    url, _ = tls_server
    with pytest.raises(BackendError) as e:
        client(url).get("/api/echo")
    assert f"TLS error talking to {url}/api/echo" in str(e.value) and "--ca-file" in str(e.value)


def test_tls_insecure_skips_verification_when_asked(tls_server: tuple[str, str]) -> None:
    url, _ = tls_server
    assert client(url, insecure=True).get("/api/echo", accept="text/plain").status == 200


def test_a_missing_ca_file_is_named() -> None:
    with pytest.raises(BackendError) as e:
        client("https://127.0.0.1:1", ca_file="/nonexistent/ca.pem")
    assert "/nonexistent/ca.pem" in str(e.value)


# --- concurrency ---------------------------------------------------------------------------------------
def test_fetch_all_keeps_input_order_and_never_exceeds_the_bound() -> None:
    bound, active, peak = 3, [0], [0]
    lock = threading.Lock()
    barrier = threading.Barrier(bound, timeout=10)  # only passes when `bound` fetches run at once

    def fetch(i: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        barrier.wait()
        with lock:
            active[0] -= 1
        return i * i

    items = list(range(9))
    assert fetch_all(items, fetch, concurrency=bound, what="test") == [i * i for i in items]
    assert peak[0] == bound


def test_fetch_all_raises_the_first_failure() -> None:
    def fetch(i: int) -> int:
        if i == 2:
            raise BackendError("trace 2 failed")
        return i

    with pytest.raises(BackendError, match="trace 2 failed"):
        fetch_all(list(range(5)), fetch, concurrency=2, what="test")


def test_timestamps_of_retry_after_in_the_past_mean_no_wait(server: Loopback) -> None:
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    server.on("/busy", Reply(503, headers={"Retry-After": past}), Reply(200, b"{}"))
    sleeps = Sleeps()
    client(server.url, sleeps).get("/busy")
    assert sleeps == [0.0]


def test_loopback_backends_are_reached_directly_even_with_a_proxy_configured(
    server: Loopback, monkeypatch: pytest.MonkeyPatch, refused_url: str
) -> None:
    monkeypatch.setenv("http_proxy", refused_url)  # a proxy that would refuse every connection
    monkeypatch.delenv("no_proxy", raising=False)
    server.on("/api/echo", Reply(200, b"echo", "text/plain"))
    assert client(server.url).get("/api/echo", accept="text/plain").body == b"echo"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("n", "shown"), [(25, True), (5, False)])
def test_a_progress_bar_on_a_terminal_only_when_there_are_many_fetches(
    monkeypatch: pytest.MonkeyPatch, n: int, shown: bool
) -> None:
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert fetch_all(list(range(n)), lambda i: i, concurrency=4, what="Tempo traces") == list(range(n))
    assert ("Tempo traces" in term.getvalue()) is shown


def test_no_progress_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    fetch_all(list(range(25)), lambda i: i, concurrency=4, what="Tempo traces")
    assert pipe.getvalue() == ""


@pytest.mark.parametrize("url", ["tempo:3200", "ftp://tempo:3200", "http://", "http://tempo:port"])
def test_a_bad_backend_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(AnalyzerError, match="bad backend URL"):
        HttpClient(url)


def test_a_redirect_to_another_host_is_refused_so_credentials_stay_home(server: Loopback) -> None:
    other = Loopback()
    other.thread.start()
    try:
        other.on("/api/search", Reply(200, b"{}"))
        elsewhere = other.url.replace("127.0.0.1", "localhost") + "/api/search"
        server.on("/api/search", Reply(302, headers={"Location": elsewhere}))
        with pytest.raises(BackendError, match="refused, it changes the host"):
            client(server.url, headers={"Authorization": f"Bearer {TOKEN}"}, secrets=(TOKEN,)).get(
                "/api/search"
            )
        assert other.requests == []
    finally:
        other.httpd.shutdown()
        other.httpd.server_close()


def test_a_redirect_on_the_same_host_is_followed(server: Loopback) -> None:
    server.on("/old", Reply(301, headers={"Location": f"{server.url}/new"}))
    server.on("/new", Reply(200, b'{"moved": true}'))
    assert client(server.url).get("/old").body == b'{"moved": true}'


# --- hostile backends: endless, slow, redirecting --------------------------------------------------------
MIB = 2**20


@pytest.mark.timeout(60)
def test_an_endless_answer_ends_at_the_cap_with_memory_bounded(server: Loopback) -> None:
    server.on("/api/search", Reply(body=b"x" * 65536, endless=True))
    tracemalloc.start()
    try:
        with pytest.raises(BackendError) as e:
            client(server.url, max_bytes=4 * MIB).get("/api/search")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(e.value) == (
        f"the answer from {server.url}/api/search is larger than the 4 MiB cap (--max-answer-mib): "
        f"narrow the search, or raise the cap"
    )
    assert peak < 4 * 4 * MIB  # the body read so far, not what the server would have sent
    assert len(server.requests) == 1  # too large is an answer, never retried


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(server: Loopback) -> None:
    server.on("/big", Reply(body=b"x" * 65536, endless=True, headers={"Content-Length": str(2**40)}))
    with pytest.raises(BackendError, match="larger than the 1 MiB cap"):
        client(server.url, max_bytes=MIB).get("/big")


def test_an_error_body_is_capped_too(server: Loopback) -> None:
    server.on("/boom", Reply(500, b"y" * 65536, endless=True))
    with pytest.raises(BackendError, match="larger than the 1 MiB cap"):
        client(server.url, max_bytes=MIB, retries=0).get("/boom")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("head", [True, False], ids=["head", "body"])
def test_a_server_sending_a_byte_at_a_time_is_cut_at_the_deadline_of_each_attempt(
    server: Loopback, head: bool
) -> None:
    # each byte comes well within any per-read timeout; only a deadline on the whole attempt ends this
    server.on("/drip", Reply(body=b'{"a": 1}', endless=True, drip_s=0.05, drip_head=head))
    with pytest.raises(BackendError) as e:
        client(server.url, timeout_s=1.0, retries=1).get("/drip")
    assert str(e.value) == f"timed out after 1s waiting for {server.url}/drip (gave up after 2 attempts)"
    assert server.paths() == ["/drip", "/drip"]


def test_credential_headers_never_follow_a_redirect_even_on_the_same_host(server: Loopback) -> None:
    server.on("/old", Reply(302, headers={"Location": f"{server.url}/new"}))
    server.on("/new", Reply(200, b"{}"))
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Scope-OrgID": "team-a", "X-Api-Key": "k"}
    assert client(server.url, headers=headers, secrets=(TOKEN,)).get("/old").url == f"{server.url}/new"
    first, second = server.requests
    assert first.headers["authorization"] == f"Bearer {TOKEN}" and first.headers["x-scope-orgid"] == "team-a"
    assert {"authorization", "x-scope-orgid", "x-api-key"}.isdisjoint(second.headers)
    assert second.headers["accept"] == "application/json"  # what is not configured still goes


def test_a_401_after_a_redirect_says_credentials_stay_behind(server: Loopback) -> None:
    server.on("/old", Reply(307, headers={"Location": "/new"}))
    server.on("/new", Reply(401, b"who are you"))
    with pytest.raises(BackendError) as e:
        client(server.url, headers={"Authorization": f"Bearer {TOKEN}"}, secrets=(TOKEN,)).get("/old")
    assert f"authentication failed at {server.url}/new (HTTP 401)" in str(e.value)
    assert f"{server.url}/old redirected there, and credentials never follow a redirect" in str(e.value)


def test_an_https_to_http_redirect_on_the_same_host_and_port_is_refused(
    server: Loopback, tls_server: tuple[str, str]
) -> None:
    url, ca = tls_server
    downgrade = Reply(302, headers={"Location": f"{server.url}/api/search"})
    server.on("/api/search", lambda req: downgrade if req.tls else Reply(200, b"{}"))
    c = client(url, ca_file=ca, headers={"Authorization": f"Bearer {TOKEN}"}, secrets=(TOKEN,))
    with pytest.raises(BackendError) as e:
        c.get("/api/search")
    assert str(e.value) == (
        f"{url}/api/search redirects to {server.url}/api/search: refused, it changes the scheme (https -> http)"
    )
    assert [r.tls for r in server.requests] == [True]  # nothing went out in plain text


def test_a_redirect_to_another_port_on_the_same_host_is_refused(server: Loopback) -> None:
    other = Loopback()
    other.thread.start()
    try:
        other.on("/api/search", Reply(200, b"{}"))
        server.on("/api/search", Reply(301, headers={"Location": f"{other.url}/api/search"}))
        with pytest.raises(BackendError, match=r"refused, it changes the port \(\d+ -> \d+\)"):
            client(server.url, headers={"Authorization": f"Bearer {TOKEN}"}).get("/api/search")
        assert other.requests == []
    finally:
        other.httpd.shutdown()
        other.httpd.server_close()


@pytest.mark.parametrize(
    ("origin", "target", "refusal"),
    [
        ("https://tempo:3200/a", "http://tempo:3200/b", "it changes the scheme (https -> http)"),
        ("http://tempo:3200/a", "https://tempo:3200/b", "it changes the scheme (http -> https)"),
        ("https://tempo/a", "http://tempo/b", "it changes the scheme (https -> http)"),
        ("http://tempo:3200/a", "http://tempo:3201/a", "it changes the port (3200 -> 3201)"),
        ("http://tempo:3200/a", "http://admin:3200/a", "it changes the host (tempo -> admin)"),
        ("http://tempo/a", "ftp://tempo/a", "it changes the scheme (http -> ftp)"),
        ("http://tempo/a", "http://tempo:99999/a", "its location cannot be read (Port out of range 0-65535)"),
        ("http://tempo/a", "http://[::1/a", "its location cannot be read (Invalid IPv6 URL)"),
        ("http://tempo/a", "http://tempo:80/b", None),  # the default port, written out
        ("https://Tempo:443/a", "https://tempo/b?c=d", None),
        ("http://tempo:3200/a", "http://tempo:3200/api/v2/b", None),
    ],
)
def test_the_redirect_rule_keeps_scheme_host_and_port(origin: str, target: str, refusal: str | None) -> None:
    assert redirect_refusal(origin, target) == refusal


def test_a_redirect_loop_ends(server: Loopback) -> None:
    server.on("/a", Reply(302, headers={"Location": "/b"}))
    server.on("/b", Reply(302, headers={"Location": "/a"}))
    with pytest.raises(BackendError, match=f"{server.url}/a: more than 5 redirects"):
        client(server.url).get("/a")


@pytest.mark.parametrize("value", ["tok\n", "a\r\nX-Evil: 1", "a\r\n X-Evil: 1", "t\x00k", "tök€"])
def test_a_header_value_that_cannot_be_sent_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(AnalyzerError) as e:
        HttpConfig(headers={"X-Scope-OrgID": value})
    assert "the X-Scope-OrgID header" in str(e.value) and "the value is not shown" in str(e.value)
    assert value not in str(e.value) and "X-Evil" not in str(e.value) and "\n" not in str(e.value)
