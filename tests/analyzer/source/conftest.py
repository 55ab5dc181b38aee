"""Fixtures of the source tests: a loopback HTTP server, and a port nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from source_loopback import Loopback


@pytest.fixture
def server() -> Iterator[Loopback]:
    """A running loopback server, stopped after the test."""
    s = Loopback()
    s.thread.start()
    try:
        yield s
    finally:
        s.release.set()
        s.httpd.shutdown()
        s.httpd.server_close()


@pytest.fixture
def refused_url() -> str:
    """A 127.0.0.1 URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
