"""How long a client may take, how much it may send, and how many are served at once: the listeners' limits.

A slow client (one that never finishes its headers or body) must not hold a thread and a descriptor
forever, nor crowd out the exporters the receiver is for. HTTP reads run against a deadline for the whole
headers and for the whole body, however the bytes trickle in; at the cap a new connection evicts the one
that has waited longest for a request. gRPC takes the same limits as server options (grpc_server.py).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_HEADER_TIMEOUT_S",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CONNECTIONS",
    "ConnectionCap",
    "DeadlineReader",
    "Limits",
]

# Defaults of `otel-fold collect --header-timeout/--body-timeout/--max-connections`: a request's line and
# headers within 10 s of the connection being ready for one (new, or idle between keep-alive requests); a
# whole body (16 MiB at ~0.5 MB/s) within 30 s; 64 HTTP connections, and 64 gRPC calls, at once.
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
DEFAULT_MAX_CONNECTIONS = 64
# The largest request accepted by default, in bytes after gunzip (`otel-fold collect --max-bytes`).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Deadlines (seconds) and the cap on connections (HTTP) and calls (gRPC) served at once."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout: float = DEFAULT_BODY_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS


class DeadlineReader(io.RawIOBase):
    """A socket's reading side that raises TimeoutError once `deadline` (time.monotonic()) has passed.

    A socket timeout alone bounds each read, so a client sending a byte just within it holds on forever;
    here every read gets only the time left.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.deadline = math.inf

    def readable(self) -> bool:
        """A reader."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Receive into `buffer` what arrives before the deadline; 0 at the end of the stream."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class ConnectionCap:
    """At most `limit` connections; at the limit a new one evicts the one that has waited longest for a request.

    A connection waiting for a request (idle between keep-alive requests, or still sending its headers)
    can be evicted; one reading a body or being answered cannot. So slow clients cannot keep an exporter
    out, and if every connection is busy the new one is refused (closed at once; exporters retry).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        # open connection -> since when it waits for a request (monotonic s), or None while busy
        self._open: dict[socket.socket, float | None] = {}

    def admit(self, sock: socket.socket) -> bool:
        """Take a new connection, evicting another if at the limit; False if it must be refused."""
        with self._lock:
            if len(self._open) >= self._limit and not self._evict():
                return False
            self._open[sock] = time.monotonic()  # a new connection waits for its first request
            return True

    def _evict(self) -> bool:
        waiting = [(since, sock) for sock, since in self._open.items() if since is not None]
        if not waiting:
            return False
        _, victim = min(waiting, key=lambda pair: pair[0])
        # No longer counted: its thread sees the end of the stream and leaves on its own.
        del self._open[victim]
        with contextlib.suppress(OSError):
            victim.shutdown(socket.SHUT_RDWR)
        _log.debug("http: %d connections open: closed the one waiting longest for a request", self._limit)
        return True

    def waiting(self, sock: socket.socket) -> None:
        """The connection waits for its next request: it may be evicted."""
        with self._lock:
            # A new connection has waited since it was admitted: eviction follows the order of arrival.
            if sock in self._open and self._open[sock] is None:
                self._open[sock] = time.monotonic()

    def busy(self, sock: socket.socket) -> None:
        """The connection has a request: it may not be evicted."""
        with self._lock:
            if sock in self._open:
                self._open[sock] = None

    def release(self, sock: socket.socket) -> None:
        """The connection is closing."""
        with self._lock:
            self._open.pop(sock, None)
