"""Attribute plans made together (`Columns.add_plans`, the protobuf fast path's way) are the plans `add_plan` makes
one at a time, sharing their promoted and other parts; runs of serialized attributes split by the compiled walk
(`Scan.key_values`) are the KeyValues protobuf reads; `_sequence_codes` numbers equal sequences alike, hash
collisions included."""

from __future__ import annotations

import random

import numpy as np
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, TracesData

from analyzer import table as t
from analyzer.decode import _columns, _proto_scan
from analyzer.decode._columns import Columns

# (key, value) pairs, promoted and not, values of several kinds (a tuple, a dict: not hashable)
PAIRS = [
    (key, value) for key in (*t.PROMOTED[:4], "routine", "res_ver") for value in ("a", 2, (1, 2), {"k": 1})
]


def _plans(seed: int, n: int) -> list[list[int]]:
    """`n` plans as codes into PAIRS, some repeating a key (the later pair wins), some empty."""
    rng = random.Random(seed)
    return [[rng.randrange(len(PAIRS)) for _ in range(rng.randrange(0, 7))] for _ in range(n)]


def _together(plans: list[list[int]]) -> tuple[Columns, np.ndarray]:
    cols = Columns("<test>")
    items = np.array([k for p in plans for k in p], dtype=np.int64)
    first = np.cumsum([0, *map(len, plans)])
    return cols, cols.add_plans(items, first, PAIRS)


def test_plans_made_together_are_the_ones_made_one_at_a_time() -> None:
    plans = _plans(7, 2_000)
    one = Columns("<test>")
    expected = [one.add_plan([PAIRS[k] for k in p]) for p in plans]
    cols, made = _together(plans)
    assert made.tolist() == expected
    assert cols.plans == one.plans


def test_plans_alike_in_a_part_share_it() -> None:
    plans = [[0, 20], [0, 21], [4, 20], [0, 20]]  # PAIRS[0], [4] promoted; [20], [21] not
    cols, _ = _together(plans)
    (p0, o0), (p1, o1), (p2, o2), (p3, o3) = cols.plans
    assert p0 is p1 is p3 and p2 is not p0
    assert o0 is o2 is o3 and o1 is not o0


def _sequences(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = random.Random(seed)
    seqs = [tuple(rng.randrange(3) for _ in range(rng.randrange(0, 4))) for _ in range(300)]
    items = np.array([x for s in seqs for x in s], dtype=np.int64)
    ends = np.cumsum([len(s) for s in seqs])
    return items, ends - [len(s) for s in seqs], ends


def _expected(items: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[list[int], list[int]]:
    index: dict[tuple[int, ...], int] = {}
    firsts: list[int] = []
    codes = []
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        seq = tuple(items[a:b].tolist())
        if seq not in index:
            index[seq] = len(index)
            firsts.append(i)
        codes.append(index[seq])
    return codes, firsts


@pytest.mark.parametrize("collide", [False, True], ids=["hashed", "every hash colliding"])
def test_equal_sequences_get_equal_codes(monkeypatch: pytest.MonkeyPatch, collide: bool) -> None:
    if collide:  # every position weighs the same: permutations of one multiset hash alike
        monkeypatch.setattr(_columns, "_mix", lambda x: np.ones_like(x))
    items, starts, ends = _sequences(3)
    codes, firsts = _columns._sequence_codes(items, starts, ends)
    assert (codes.tolist(), firsts.tolist()) == _expected(items, starts, ends)


def test_runs_of_attributes_split_into_the_key_values_protobuf_reads() -> None:
    rng = random.Random(5)
    spans = []
    for i in range(200):
        attributes = [KeyValue(key=f"k{rng.randrange(4)}", value=AnyValue(int_value=rng.randrange(3)))
                      for _ in range(rng.randrange(0, 5))]  # fmt: skip
        spans.append(Span(trace_id=bytes(16), span_id=(i + 1).to_bytes(8, "big"), attributes=attributes))
    data = TracesData(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()
    buf = np.frombuffer(data, dtype=np.uint8)
    scan = _proto_scan.scan(buf, np.array([0]), np.array([len(buf)]))
    runs = scan.distinct(buf, _proto_scan.ATTRIBUTES)
    first, codes, at, size = scan.key_values(buf)
    kv_bytes = [buf[a : a + n].tobytes() for a, n in zip(at.tolist(), size.tolist(), strict=True)]
    assert len(set(kv_bytes)) == len(kv_bytes)  # one code per distinct KeyValue
    # their offsets and sizes hold only the distinct ones: not views of an array sized by every KeyValue, which
    # a store's read would keep until its spans are added (its peak memory)
    assert at.base is None and size.base is None
    for r, run in enumerate(runs):
        expected = [kv.SerializeToString() for kv in Span.FromString(run).attributes]
        assert [kv_bytes[c] for c in codes[first[r] : first[r + 1]]] == expected
