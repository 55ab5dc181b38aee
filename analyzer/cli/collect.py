"""`otel-fold collect`: receive OTLP traces over gRPC and HTTP into the local store until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from analyzer.collect.intake import DEFAULT_MAX_BYTES
from analyzer.collect.receiver import Receiver
from analyzer.collect.sink import StoreSink
from analyzer.store.files import STORE_ENV, default_store

__all__ = ["HELP", "TOKEN_ENV", "add_arguments", "run"]

# The subcommand's one line in `otel-fold --help`, and the variable holding the bearer token.
HELP = "receive OTLP traces (gRPC and HTTP, protobuf or JSON) and append them to the local store"
TOKEN_ENV = "OTEL_FOLD_COLLECT_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Listener addresses, store directory, token and size limit."""
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
        help=f"store directory (default ${STORE_ENV}, else ~/.local/share/otel-fold/store)",
    )
    parser.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        metavar="VAR",
        help="require 'Authorization: Bearer <token>' with the token read from this environment "
        "variable when it is set (default %(default)s); never passed on the command line",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help="refuse requests larger than N bytes, also after gzip (default %(default)s)",
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


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, then stop accepting, drain, flush and close."""
    store = args.store or default_store()
    token = os.environ.get(args.token_env) or None
    receiver = Receiver(
        StoreSink(store),
        grpc_address=_address(args.grpc),
        http_address=_address(args.http),
        token=token,
        max_bytes=args.max_bytes,
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
