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

import pytest
from source_loopback import Loopback, Reply

from analyzer.errors import AnalyzerError, BackendError
from analyzer.source.http import HttpClient, HttpConfig, fetch_all

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
def tls_server(server: Loopback, tmp_path):  # type: ignore[no-untyped-def]
    """The loopback server behind TLS with a freshly made self-signed certificate for 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otel-fold test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / "cert.pem"
    key_pem = tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    server.httpd.socket = ctx.wrap_socket(server.httpd.socket, server_side=True)
    server.on("/api/echo", Reply(200, b"echo", "text/plain"))
    return server.url.replace("http://", "https://"), str(cert_pem)


def test_tls_with_a_custom_ca_verifies(tls_server) -> None:  # type: ignore[no-untyped-def]
    url, ca = tls_server
    assert client(url, ca_file=ca).get("/api/echo", accept="text/plain").body == b"echo"


def test_tls_with_an_unknown_ca_fails_clearly_and_is_not_retried(tls_server) -> None:  # type: ignore[no-untyped-def]
    url, _ = tls_server
    with pytest.raises(BackendError) as e:
        client(url).get("/api/echo")
    assert f"TLS error talking to {url}/api/echo" in str(e.value) and "--ca-file" in str(e.value)


def test_tls_insecure_skips_verification_when_asked(tls_server) -> None:  # type: ignore[no-untyped-def]
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
    assert (f"{n}/{n}" in term.getvalue()) is shown


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
        with pytest.raises(BackendError, match="HTTP 302"):
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
