# Type stub of the compiled protobuf walk (_wire.pyx): the arrays are numpy, typed as the .pyx declares them.
import numpy as np

def walk(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    record: int,
    fill: bool,
    ok: np.ndarray,
    first_span: np.ndarray,
    first_scope: np.ndarray,
    spans: np.ndarray,
    scopes: np.ndarray,
    trace_hex: np.ndarray,
    span_hex: np.ndarray,
    parent_hex: np.ndarray,
    slots: np.ndarray,
    firsts: np.ndarray,
    codes: np.ndarray,
) -> int: ...
def rehash(slots: np.ndarray, firsts: np.ndarray, codes: np.ndarray) -> None: ...
def first_seen(codes: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def key_values(
    data: np.ndarray, at: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def join_lines(
    lines: list[bytes], first: int, limit: int, prefixes: list[bytes], suffixes: list[bytes]
) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]: ...
