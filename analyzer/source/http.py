"""One small HTTP transport for the remote sources: retries with bounded backoff, TLS, auth, no secret in any message.

Stdlib only (urllib). A source says *what* to ask (path, query, Accept); this module says *how* bytes move,
so each is tested and replaced alone (the split httpx makes between client and transport).
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm import tqdm

from analyzer.errors import AnalyzerError, BackendError

__all__ = [
    "AUTH_STATUSES",
    "PROGRESS_MIN_ITEMS",
    "REJECTED_CONTENT_TYPES",
    "RETRY_STATUSES",
    "HttpClient",
    "HttpConfig",
    "Response",
    "backoff_delay",
    "fetch_all",
    "fetch_each",
]

log = logging.getLogger(__name__)

# Statuses worth another try: the server or a proxy says "later", not "never".
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
# A 200 with one of these is a proxy's or a login page, never a trace payload.
REJECTED_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
_SNIPPET = 200  # characters of an error body quoted in a message
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PROGRESS_MIN_ITEMS = 20  # fewer fetches than this finish without a progress bar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class HttpConfig:
    """How to reach one backend: timeouts, retry policy, TLS and the headers (auth included) sent with every call."""

    timeout_s: float = 30.0
    retries: int = 4  # further attempts after the first
    backoff_s: float = 0.5  # first delay; doubled per attempt, with jitter
    backoff_max_s: float = 10.0  # bound of one delay, Retry-After included
    ca_file: str | None = None
    insecure: bool = False  # skip TLS verification (only when asked)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    secrets: tuple[str, ...] = field(default=(), repr=False)  # redacted from every message


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
        handlers: list[urllib.request.BaseHandler] = [_NoRedirectToOtherHost()]
        if self.base_url.startswith("https:"):
            handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(self.config)))
            if self.config.insecure:
                log.warning("TLS certificate verification is off for %s (--insecure)", self.base_url)
        if urllib.parse.urlsplit(self.base_url).hostname in _LOOPBACK_HOSTS:
            handlers.append(urllib.request.ProxyHandler({}))  # a proxy elsewhere cannot reach our loopback
        # build_opener adds the default handlers, including the environment's proxies (unless replaced above).
        self._opener = urllib.request.build_opener(*handlers)

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
                raise BackendError(
                    self.redact(
                        f"authentication failed at {url} (HTTP {resp.status}): check the credentials "
                        f"(OTEL_FOLD_TOKEN / OTEL_FOLD_TOKEN_FILE, OTEL_FOLD_USER / OTEL_FOLD_PASSWORD)"
                    )
                )
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
        headers = {"Accept": accept, "User-Agent": "otel-fold", **self.config.headers}
        req = urllib.request.Request(url, headers=headers, method="GET")
        log.debug("GET %s", url)  # the URL carries no secret; headers are never logged
        try:
            with self._opener.open(req, timeout=self.config.timeout_s) as r:
                return Response(url, r.status, _lower(r.headers.items()), _read_all(r, url))
        except urllib.error.HTTPError as e:
            try:
                body = e.read()
            except (OSError, http.client.HTTPException):
                body = b""
            return Response(url, e.code, _lower(e.headers.items() if e.headers else ()), body)
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, ssl.SSLError | ssl.CertificateError):
                raise BackendError(
                    f"TLS error talking to {url}: {reason} (use --ca-file for a private CA, --insecure to skip checks)"
                ) from None
            if isinstance(reason, TimeoutError | socket.timeout):
                raise _Transient(f"timed out after {self.config.timeout_s:g}s waiting for {url}") from None
            raise _Transient(f"cannot connect to {url}: {reason}") from None
        except TimeoutError:
            raise _Transient(f"timed out after {self.config.timeout_s:g}s waiting for {url}") from None
        except (ConnectionError, http.client.HTTPException) as e:
            raise _Transient(f"connection to {url} failed: {type(e).__name__}: {e}") from None

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


class _NoRedirectToOtherHost(urllib.request.HTTPRedirectHandler):
    """Follow redirects on the same host only, so auth headers never travel to another one."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            raise urllib.error.HTTPError(
                req.full_url, code, f"redirect to another host refused: {msg}", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


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


def _read_all(r: http.client.HTTPResponse, url: str) -> bytes:
    try:
        return r.read()
    except http.client.IncompleteRead as e:
        expected = f" of {len(e.partial) + e.expected}" if e.expected else ""
        raise _Transient(f"truncated response from {url}: got {len(e.partial)}{expected} bytes") from None


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
    if len(items) <= 1 or concurrency <= 1:
        with tqdm(
            total=len(items), desc=what, unit="trace", file=sys.stderr, disable=_quiet(len(items))
        ) as bar:
            for i in items:
                yield fetch(i)
                bar.update(1)
        return
    with (
        ThreadPoolExecutor(
            max_workers=min(concurrency, len(items)), thread_name_prefix="otel-fold-fetch"
        ) as pool,
        tqdm(total=len(items), desc=what, unit="trace", file=sys.stderr, disable=_quiet(len(items))) as bar,
    ):
        futures = [pool.submit(fetch, i) for i in items]
        try:
            for f in futures:
                yield f.result()
                bar.update(1)
        finally:
            for f in futures:
                f.cancel()  # on failure or an abandoned iteration: the queued fetches are not started


def _quiet(n: int) -> bool | None:
    # None lets tqdm decide: shown on a terminal, hidden when stderr is a file or a pipe.
    return True if n < PROGRESS_MIN_ITEMS else None
