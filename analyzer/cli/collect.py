"""`otel-fold collect`: receive OTLP traces over gRPC and HTTP into the local store until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from analyzer.collect.connections import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    Limits,
)
from analyzer.errors import AnalyzerError
from analyzer.store.files import STORE_ENV, default_store

__all__ = ["HELP", "TOKEN_ENV", "add_arguments", "run"]

# The subcommand's one line in `otel-fold --help`, and the variable holding the bearer token.
HELP = "receive OTLP traces (gRPC and HTTP, protobuf or JSON) and append them to the local store"
TOKEN_ENV = "OTEL_FOLD_COLLECT_TOKEN"


# The slow-client limits: flag, type, default, metavar, help.
_LIMIT_FLAGS: tuple[tuple[str, type[int] | type[float], float, str, str], ...] = (
    (
        "--header-timeout",
        float,
        DEFAULT_HEADER_TIMEOUT_S,
        "S",
        "HTTP: close a connection whose request line and headers are not in within S seconds of it being "
        "ready for one (new or idle keep-alive); gRPC: the HTTP/2 handshake",
    ),
    (
        "--body-timeout",
        float,
        DEFAULT_BODY_TIMEOUT_S,
        "S",
        "close an HTTP connection whose body is not in within S seconds, and cancel a gRPC call whose "
        "message is not",
    ),
    (
        "--max-connections",
        int,
        DEFAULT_MAX_CONNECTIONS,
        "N",
        "serve at most N HTTP connections (at the cap a new one evicts the one waiting longest for a "
        "request) and N gRPC calls (more are refused with UNAVAILABLE) at once",
    ),
)


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(value: str) -> int | float:
        try:
            n = kind(value)
        except ValueError:
            n = 0
        if not n > 0:
            raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
        return n

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Listener addresses, store directory, token, size limit, timeouts and the connection cap."""
    parser.add_argument(
        "--grpc",
        default="127.0.0.1:4317",
        metavar="HOST:PORT",
        help="OTLP/gRPC listen address (default %(default)s; 'off' to disable; port 0: any free)",
    )
    parser.add_argument(
        "--http",
        default="127.0.0.1:4318",
        metavar="HOST:PORT",
        help="OTLP/HTTP listen address, path /v1/traces (default %(default)s; 'off' to disable)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"store directory (default ${STORE_ENV}, else $XDG_DATA_HOME/otel-fold/store, else ~/.local/share/otel-fold/store)",
    )
    parser.add_argument(
        "--token-env",
        default=None,
        metavar="VAR",
        help="require 'Authorization: Bearer <token>' with the token read from this environment variable "
        f"(never from the command line); named explicitly, it must be set and not empty. Default: "
        f"{TOKEN_ENV}, when it is set",
    )
    parser.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="allow a listener beyond loopback (e.g. --grpc 0.0.0.0:4317) without a token: anyone who can "
        "connect can write to the store",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help="refuse requests larger than N bytes, also after gzip (default %(default)s)",
    )
    for flag, kind, default, metavar, text in _LIMIT_FLAGS:
        parser.add_argument(
            flag, type=_positive(kind), default=default, metavar=metavar, help=f"{text} (default %(default)s)"
        )
    parser.add_argument(
        "--grace",
        type=float,
        default=5.0,
        metavar="S",
        help="on SIGTERM/SIGINT, let requests in flight finish for up to S seconds",
    )


def _address(value: str) -> str | None:
    return None if value.lower() == "off" else value


def _token(named: str | None) -> str | None:
    """The token from the environment; an explicitly named variable must hold one."""
    # Stripped: a secret read from a file often ends in a newline, which no header can carry.
    token = os.environ.get(named or TOKEN_ENV, "").strip() or None
    if named and token is None:
        raise AnalyzerError(f"--token-env {named}: the variable is unset or empty")
    return token


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, then stop accepting, drain, flush and close."""
    from analyzer.collect.receiver import Receiver
    from analyzer.collect.sink import StoreSink

    store = args.store or default_store()
    token = _token(args.token_env)
    receiver = Receiver(
        StoreSink(store),
        grpc_address=_address(args.grpc),
        http_address=_address(args.http),
        token=token,
        max_bytes=args.max_bytes,
        limits=Limits(args.header_timeout, args.body_timeout, args.max_connections),
        insecure_no_token=args.insecure_no_token,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    receiver.start()
    listening = [
        f"{name} {addr.rpartition(':')[0]}:{port}"
        for name, addr, port in (
            ("grpc", args.grpc, receiver.grpc_port),
            ("http", args.http, receiver.http_port),
        )
        if port
    ]
    # One line on stderr that scripts (and the tests) read to learn the bound ports.
    print(
        f"otel-fold collect: listening on {', '.join(listening)}; store {store}"
        f"{'; bearer token required' if token else ''}",
        file=sys.stderr,
        flush=True,
    )
    stop.wait()
    receiver.stop(grace=args.grace)
    print(
        f"otel-fold collect: stopped; {receiver.sink.spans} spans stored in {store}",
        file=sys.stderr,
        flush=True,
    )
    return 0
