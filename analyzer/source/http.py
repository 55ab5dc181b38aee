"""One small HTTP transport for the remote sources: retries with bounded backoff, TLS, auth, no secret in any message.

Stdlib only (urllib). A source says *what* to ask (path, query, Accept); this module says *how* bytes move,
so each is tested and replaced alone (the split httpx makes between client and transport).

A backend is not trusted to end its answers: each attempt has a deadline from connecting to the last byte
(a timer shuts the socket down, so a server dripping a byte a second is cut too), and a body over the answer
cap is refused as it arrives. Redirects are followed here, not by urllib, whose handler copies every header of
the request, Authorization included, to the new URL and reads the redirect's whole body (CPython v3.11.7
Lib/urllib/request.py:679-681 and :746): only to the same scheme, host and port, and without the configured
headers, which hold the credentials.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import http.client
import io
import logging
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from analyzer import progress
from analyzer.errors import AnalyzerError, BackendError
from analyzer.source.config import DEFAULT_MAX_ANSWER_MIB

__all__ = [
    "AUTH_STATUSES",
    "MAX_REDIRECTS",
    "PROGRESS_MIN_ITEMS",
    "REDIRECT_STATUSES",
    "REJECTED_CONTENT_TYPES",
    "RETRY_STATUSES",
    "HttpClient",
    "HttpConfig",
    "Response",
    "answer_too_large",
    "backoff_delay",
    "check_header_value",
    "fetch_all",
    "fetch_each",
    "redirect_refusal",
]

log = logging.getLogger(__name__)

# Statuses worth another try: the server or a proxy says "later", not "never".
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
# A 200 with one of these is a proxy's or a login page, never a trace payload.
REJECTED_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
# Redirects followed (to the same scheme, host and port only), and how many in a row before giving up.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_MIB = 2**20
_CHUNK = 256 * 1024  # bytes read at a time, so the cap is checked as the body arrives
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SNIPPET = 200  # characters of an error body quoted in a message
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PROGRESS_MIN_ITEMS = 20  # fewer fetches than this finish without a progress bar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class HttpConfig:
    """How to reach one backend: timeouts, retry policy, TLS and the headers (auth included) sent with every call."""

    timeout_s: float = 30.0  # one attempt, from connecting to the last byte, redirects included
    max_bytes: int = DEFAULT_MAX_ANSWER_MIB * _MIB  # a longer answer body is an error
    retries: int = 4  # further attempts after the first
    backoff_s: float = 0.5  # first delay; doubled per attempt, with jitter
    backoff_max_s: float = 10.0  # bound of one delay, Retry-After included
    ca_file: str | None = None
    insecure: bool = False  # skip TLS verification (only when asked)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    secrets: tuple[str, ...] = field(default=(), repr=False)  # redacted from every message

    def __post_init__(self) -> None:
        for name, value in self.headers.items():
            check_header_value(value, f"the {name} header")


@dataclass(frozen=True)
class Response:
    """One HTTP answer: the final URL asked, status, lowercase headers and the whole body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, lowercase ("" when absent)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class HttpClient:
    """GETs against one base URL with the retry, TLS and auth policy of an `HttpConfig`."""

    def __init__(
        self,
        base_url: str,
        config: HttpConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        _check_url(self.base_url)
        self.config = config or HttpConfig()
        self._sleep = sleep
        self._tls = _ssl_context(self.config) if self.base_url.startswith("https:") else None
        if self._tls is not None and self.config.insecure:
            log.warning("TLS certificate verification is off for %s (--insecure)", self.base_url)
        # build_opener adds the default handlers, including the environment's proxies, unless replaced here:
        # a proxy elsewhere cannot reach our loopback.
        loopback = urllib.parse.urlsplit(self.base_url).hostname in _LOOPBACK_HOSTS
        self._proxies: tuple[urllib.request.BaseHandler, ...] = (
            (urllib.request.ProxyHandler({}),) if loopback else ()
        )

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        """The absolute URL of `path` with its query string."""
        url = self.base_url + "/" + path.lstrip("/")
        if params:
            url += "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        return url

    def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        accept: str = "application/json",
        expect: Sequence[int] = (200,),
        reject_types: Sequence[str] = REJECTED_CONTENT_TYPES,
    ) -> Response:
        """GET with retries; returns when the status is in `expect` (and the media type is not in `reject_types`),
        raises BackendError otherwise."""
        url = self.url(path, params)
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                resp = self._once(url, accept)
            except _Transient as e:
                if last:
                    raise BackendError(self.redact(f"{e} (gave up after {attempts} attempts)")) from None
                self._wait(attempt, None, str(e))
                continue
            if resp.status in expect:
                if resp.content_type in reject_types:
                    raise BackendError(
                        self.redact(
                            f"{url} answered {resp.content_type}, not a trace payload (a proxy or login page?): "
                            f"{_snippet(resp.body)}"
                        )
                    )
                return resp
            if resp.status in AUTH_STATUSES:
                raise BackendError(self.redact(_auth_failure(url, resp)))
            if resp.status in RETRY_STATUSES and not last:
                self._wait(attempt, resp.headers.get("retry-after"), f"HTTP {resp.status} from {url}")
                continue
            tail = f" after {attempts} attempts" if resp.status in RETRY_STATUSES else ""
            raise BackendError(self.redact(f"HTTP {resp.status} from {url}{tail}: {_snippet(resp.body)}"))
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def redact(self, text: str) -> str:
        """`text` with every configured secret replaced by ***."""
        for secret in self.config.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def _once(self, url: str, accept: str) -> Response:
        """One attempt, redirects included, within the deadline."""
        with _Deadline(self.config.timeout_s) as deadline:
            try:
                resp = self._follow(url, accept, deadline)
            except (OSError, http.client.HTTPException) as e:  # URLError is an OSError
                raise self._failure(url, e, deadline) from None
            if deadline.expired:  # the timer cut the body short: what was read is not the answer
                raise _Transient(f"timed out after {self.config.timeout_s:g}s waiting for {url}")
            return resp

    def _follow(self, url: str, accept: str, deadline: _Deadline) -> Response:
        """GET `url`, following redirects to the same scheme, host and port; the configured headers (the
        credentials) go with the first request only."""
        opener = urllib.request.build_opener(
            _AnswerRedirects(),
            _HTTPHandler(deadline),
            _HTTPSHandler(deadline, self._tls),
            *self._proxies,
        )
        headers = dict(self.config.headers)
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._open(opener, url, {"Accept": accept, "User-Agent": "otel-fold", **headers}, deadline)
            location = resp.headers.get("location") if resp.status in REDIRECT_STATUSES else None
            if location is None:
                return resp
            target = location
            with contextlib.suppress(ValueError):  # an unreadable location is refused just below
                target = urllib.parse.urljoin(url, location)
            refusal = redirect_refusal(url, target)
            if refusal:
                raise BackendError(self.redact(f"{url} redirects to {target}: refused, {refusal}"))
            log.info("%s redirects to %s (sent without credentials)", url, target)
            url, headers = target, {}
        raise BackendError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _open(
        self, opener: urllib.request.OpenerDirector, url: str, headers: dict[str, str], deadline: _Deadline
    ) -> Response:
        req = urllib.request.Request(url, headers=headers, method="GET")
        log.debug("GET %s", url)  # the URL carries no secret; headers are never logged
        try:
            answer = opener.open(req, timeout=deadline.remaining())
        except urllib.error.HTTPError as e:  # a status other than 2xx: still an answer, with a body
            answer = e
        with answer:
            status, head = answer.status or 0, _lower(answer.headers.items() if answer.headers else ())
            return Response(url, status, head, self._read(answer, url, head))

    def _read(self, answer: Any, url: str, headers: Mapping[str, str]) -> bytes:
        """The whole body, read a chunk at a time up to the answer cap."""
        cap = self.config.max_bytes
        declared = _content_length(headers)
        if declared is not None and declared > cap:
            raise answer_too_large(url, cap)
        body = io.BytesIO()  # getvalue() hands its buffer over: the body is not copied at the end
        try:
            while chunk := answer.read(_CHUNK):
                body.write(chunk)
                if body.tell() > cap:
                    raise answer_too_large(url, cap)
        except http.client.IncompleteRead as e:  # a chunked body cut short
            raise _Transient(
                f"truncated response from {url}: got {body.tell() + len(e.partial)} bytes"
            ) from None
        if declared is not None and body.tell() < declared:
            raise _Transient(f"truncated response from {url}: got {body.tell()} of {declared} bytes")
        return body.getvalue()

    def _failure(self, url: str, e: BaseException, deadline: _Deadline) -> Exception:
        """The error a failed attempt is reported as: a deadline, a TLS refusal, or a transient failure."""
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        if deadline.expired or isinstance(reason, TimeoutError):
            return _Transient(f"timed out after {self.config.timeout_s:g}s waiting for {url}")
        if isinstance(e, urllib.error.URLError) and isinstance(reason, ssl.SSLError | ssl.CertificateError):
            return BackendError(
                f"TLS error talking to {url}: {reason} (use --ca-file for a private CA, --insecure to skip checks)"
            )
        if isinstance(e, urllib.error.URLError):
            return _Transient(f"cannot connect to {url}: {reason}")
        return _Transient(f"connection to {url} failed: {type(e).__name__}: {e}")

    def _wait(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = backoff_delay(self.config, attempt, _retry_after_s(retry_after))
        log.info(
            "%s; retrying in %.2fs (attempt %d of %d)",
            self.redact(why),
            delay,
            attempt + 1,
            self.config.retries + 1,
        )
        self._sleep(delay)


def backoff_delay(config: HttpConfig, attempt: int, retry_after_s: float | None = None) -> float:
    """Seconds to wait before attempt `attempt` + 1: the server's Retry-After, else exponential with jitter; bounded."""
    if retry_after_s is None:
        base = config.backoff_s * (2 ** (attempt - 1))
        retry_after_s = base * (0.5 + random.random() / 2)  # jitter: concurrent fetches do not retry in step
    return min(retry_after_s, config.backoff_max_s)


class _Transient(Exception):
    """A failure another attempt may cure (connection refused, timeout, cut-off body)."""


def redirect_refusal(origin: str, target: str) -> str | None:
    """Why a redirect from `origin` to `target` is not followed (it changes the scheme, host or port, or cannot
    be read), or None."""
    try:
        before, after = urllib.parse.urlsplit(origin), urllib.parse.urlsplit(target)
        changes = [(what, key(before), key(after)) for what, key in _SAME_ORIGIN]
    except ValueError as e:  # urlsplit's: a bad IPv6 literal, a port that is not a number or out of range
        return f"its location cannot be read ({e})"
    return next((f"it changes the {what} ({was} -> {now})" for what, was, now in changes if was != now), None)


# What a redirect must keep: a change of scheme (https -> http) would send the request in clear text, a change
# of host or port reaches another server. Compared as RFC 6454 compares origins.
_SAME_ORIGIN: tuple[tuple[str, Callable[[urllib.parse.SplitResult], object]], ...] = (
    ("scheme", lambda u: u.scheme.lower()),
    ("host", lambda u: u.hostname),
    ("port", lambda u: u.port or _DEFAULT_PORTS.get(u.scheme.lower())),
)


def answer_too_large(where: str, max_bytes: int) -> BackendError:
    """The error for an answer from `where` over the cap (never retried: the next attempt would be as long)."""
    return BackendError(
        f"the answer from {where} is larger than the {max_bytes / _MIB:g} MiB cap (--max-answer-mib): "
        f"narrow the search, or raise the cap"
    )


def check_header_value(value: str, what: str) -> None:
    """AnalyzerError naming `what`, never the value, if `value` holds a character that must not go into an HTTP
    header value as we send it (anything but printable ASCII: a CR or LF would start another header)."""
    at = next((i for i, c in enumerate(value) if not " " <= c <= "~"), None)
    if at is not None:
        raise AnalyzerError(
            f"{what} holds a character that cannot go into an HTTP header at position {at} "
            f"(a newline, another control character or non-ASCII text); the value is not shown"
        )


def _auth_failure(url: str, resp: Response) -> str:
    redirected = (
        f"; {url} redirected there, and credentials never follow a redirect: use that URL"
        if resp.url != url
        else ""
    )
    return (
        f"authentication failed at {resp.url} (HTTP {resp.status}): check the credentials "
        f"(OTEL_FOLD_TOKEN / OTEL_FOLD_TOKEN_FILE, OTEL_FOLD_USER / OTEL_FOLD_PASSWORD){redirected}"
    )


class _Deadline:
    """The end of one attempt: when it passes, every socket the attempt opened is shut down, which ends a read
    blocked in any phase (TLS handshake, headers, body) however slowly the server sends."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        """Seconds left (the socket timeout of a new connection, so connect and handshake end in time too)."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the deadline passes (at once if it has)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # socket.socket's own shutdown even on a TLS socket, whose override would unwrap it under the reading thread
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket the attempt's deadline can shut down."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        """Connect (and, over TLS, shake hands: bounded by the socket timeout), then hand the socket over."""
        super().connect()
        self._deadline.watch(self.sock)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, http.client.HTTPSConnection):
    """The same over TLS: the socket watched is the TLS one."""


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPConnection, deadline=self._deadline)
        return self.do_open(connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self._deadline, self._tls = deadline, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPSConnection, deadline=self._deadline)
        return self.do_open(connection, req, context=self._tls)


class _AnswerRedirects(urllib.request.HTTPRedirectHandler):
    """Hands every redirect back as an answer, unread and unparsed: HttpClient._follow decides and follows."""

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        return None  # not handled here: the default handler raises it as an HTTPError, which is read as an answer

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _check_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError as e:
        raise AnalyzerError(f"bad backend URL {url!r}: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AnalyzerError(f"bad backend URL {url!r}: expected http://host:port or https://host:port")


def _ssl_context(config: HttpConfig) -> ssl.SSLContext:
    if config.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=config.ca_file)
    except (OSError, ssl.SSLError) as e:
        raise BackendError(f"cannot read the CA file {config.ca_file}: {e}") from None


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in items}


def _snippet(body: bytes) -> str:
    text = body[:_SNIPPET].decode("utf-8", "replace").strip().replace("\n", " ")
    return (text + ("…" if len(body) > _SNIPPET else "")) or "(empty body)"


def fetch_all(items: Sequence[T], fetch: Callable[[T], R], *, concurrency: int, what: str) -> list[R]:
    """`fetch` over `items` with at most `concurrency` at once, results in input order."""
    return list(fetch_each(items, fetch, concurrency=concurrency, what=what))


def fetch_each(items: Sequence[T], fetch: Callable[[T], R], *, concurrency: int, what: str) -> Iterator[R]:
    """Yield `fetch(item)` in input order while up to `concurrency` fetches run ahead; a bar on stderr when many.

    The caller consumes (decodes) each answer while the next ones are in flight, so bodies do not pile up.
    The first failure met in input order is raised and the fetches not yet started are cancelled.
    """
    with _bar(len(items), what) as shown:
        if len(items) <= 1 or concurrency <= 1:
            for i in items:
                yield fetch(i)
                shown.update(1)
            return
        with ThreadPoolExecutor(
            max_workers=min(concurrency, len(items)), thread_name_prefix="otel-fold-fetch"
        ) as pool:
            futures = [pool.submit(fetch, i) for i in items]
            try:
                for f in futures:
                    yield f.result()
                    shown.update(1)
            finally:
                for f in futures:
                    f.cancel()  # on failure or an abandoned iteration: the queued fetches are not started


def _bar(n: int, what: str) -> contextlib.AbstractContextManager[progress.Progress]:
    # a few fetches end before a bar would tell anything
    return (
        progress.bar(n, what, "trace") if n >= PROGRESS_MIN_ITEMS else contextlib.nullcontext(progress.SILENT)
    )
