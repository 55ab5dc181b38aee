"""SpanTable (analyzer/table.py): columns held as numpy and Arrow arrays, and ``.df`` built from them on first use
the same DataFrame as the table was before it had columns of its own (columns, order, dtypes, categories, values).

Three kinds of evidence: the upstream fixtures' frames equal, digest for digest, the frames that the table built
as a DataFrame (main at f9022c9) made of them; every decoded table (fixtures, simulated executions through the
OTLP protobuf and JSON encoders) has the dtypes and categories that table had, and values equal to the columns
the fold path reads; tables made by hand equal what that table's own construction (`_as_pandas_built`, kept
here) makes of the same columns.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flyte_otel as fo
from analyzer import classify
from analyzer import table as t
from analyzer.decode import decode, decode_path
from analyzer.decode._columns import KINDS, REF_TYPES, STATUSES
from flyte_otel import semconv
from flyte_otel.otlp_encode import encode_json
from propeller_sim.clock import VirtualClock
from propeller_sim.engine import Simulator, configure
from propeller_sim.portfolio import BY_NAME
from propeller_sim.profile import load_profile
from tests import builders as B

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"

# sha256 (first 16 hex digits) of `_describe(decode_path(fixture).df)`, as the DataFrame-holding table built
# it (f9022c9, pandas 3.1.1): dtypes, categories (values, order, dtype), codes and every value.
MAIN_BUILT = {
    "jaeger_apiv3_GetTrace.snapshot.json": "bab93fd06108323c",
    "jaeger_domain_01.jaeger-domain.json": "3661a5fddc5f0405",
    "jaeger_transform_otlp_in.otlp.json": "232555d31152b2c5",
    "jaeger_transform_ui_out.jaeger-v1-api.json": "232555d31152b2c5",
    "jaegerui_stats_testTraceNormal.jaeger-v1-trace.json": "b5a6640992683371",
    "otelproto_example_trace.otlp.json": "6e0edab7bbe59fe9",
    "otelproto_example_trace.otlp.pb": "6e0edab7bbe59fe9",
    "tempo_tempopb_trace_batches.tempo-v1-api.json": "6e0edab7bbe59fe9",
}
_IDS = (t.TRACE_ID, t.SPAN_ID, t.PARENT_ID)
_CATEGORICAL = (t.SERVICE, t.NAME, t.KIND, t.STATUS, t.REF_TYPE, t.CATEGORY)


def _describe(df: pd.DataFrame) -> str:
    """A digest of everything that makes two frames the same: column order, dtypes, categories, values. Ids
    are replaced by their order of first appearance (the SDK draws them at random; which are equal counts)."""
    out: list[Any] = []
    for name in df.columns:
        s = df[name]
        entry: list[Any] = [name, str(s.dtype)]
        if isinstance(s.dtype, pd.CategoricalDtype):
            entry += [str(s.cat.categories.dtype), [repr(c) for c in s.cat.categories], s.cat.codes.tolist()]
        values = s.astype(object).tolist()
        if name in _IDS:
            seen: dict[str, int] = {}
            values = [seen.setdefault(v, len(seen)) if isinstance(v, str) else v for v in values]
        out.append(entry + [[repr(v) for v in values]])
    out.append(repr(df.index))
    return hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16]


def _simulated(dialect: str, workflow: str, encoding: str) -> t.SpanTable:
    """One execution of `workflow` by the simulator (virtual clock, seed 7) in `dialect`, recorded by the SDK
    and decoded from its OTLP protobuf or JSON encoding."""
    exporter = InMemorySpanExporter()
    configure(dialect, exporter=exporter, batch=False)
    try:
        sim = Simulator(load_profile("default"), seed=7, clock=VirtualClock(B.T0), dialect=dialect)
        entry = BY_NAME[workflow]
        sim.run(entry.plan(small=True), failures=entry.sim_failures(), exec_id=f"sim-{workflow}")
        spans = list(exporter.get_finished_spans())
    finally:
        fo.shutdown()
    if encoding == "json":
        return decode(json.dumps(encode_json(spans)).encode())
    return decode(encode_spans(spans).SerializeToString())


def _chain() -> t.SpanTable:
    task = B.Task(transition=1 * B.MS, node_setup=2 * B.MS, task_setup=3 * B.MS, runtime=10 * B.MS)
    return B.build(B.chain, [task] * 3, setup=5 * B.MS, teardown=4 * B.MS)


DECODED = {
    **{name: (lambda name=name: decode_path(FIXTURES / name)) for name in MAIN_BUILT},
    **{
        f"{dialect}/{workflow}.{encoding}": (lambda d=dialect, w=workflow, e=encoding: _simulated(d, w, e))
        for dialect in ("flyte_otel", "upstream")
        for workflow in ("tiny_chain", "retries")
        for encoding in ("binpb", "json")
    },
    "builders.chain": _chain,
}


@pytest.mark.parametrize("name", MAIN_BUILT)
def test_fixture_frame_is_the_one_the_dataframe_table_built(name: str) -> None:
    assert _describe(decode_path(FIXTURES / name).df) == MAIN_BUILT[name]


@pytest.mark.parametrize("name", DECODED)
def test_decoded_frame_has_the_tables_dtypes_and_categories(name: str) -> None:
    table = DECODED[name]()
    df = table.df
    assert list(df.columns) == list(t.COLUMNS)
    assert isinstance(df.index, pd.RangeIndex) and len(df) == len(table)
    for col in _IDS:
        assert df[col].dtype == "str", col
    for col in (t.START, t.END):
        assert df[col].dtype == np.int64
    for col in (*t.PROMOTED, t.ATTRIBUTES):
        assert df[col].dtype == object, col
    categories = {c: list(df[c].cat.categories) for c in _CATEGORICAL}
    assert categories[t.KIND] == list(KINDS)  # every enum value, used or not, in OTLP's order
    assert categories[t.STATUS] == list(STATUSES)
    assert categories[t.REF_TYPE] == list(REF_TYPES)
    for col in (t.SERVICE, t.NAME):  # in order of first appearance
        assert categories[col] == list(dict.fromkeys(df[col].dropna())), col
    assert categories[t.CATEGORY] == sorted(set(df[t.CATEGORY]))
    for col in _CATEGORICAL:
        assert df[col].cat.categories.dtype == "str", col
        assert df[col].cat.codes.tolist() == table.codes(col).codes.tolist(), col


@pytest.mark.parametrize("name", DECODED)
def test_decoded_frame_holds_the_columns_the_fold_reads(name: str) -> None:
    table = DECODED[name]()
    df = table.df
    for col in t.COLUMNS:
        frame_values = [None if v is None or v != v else v for v in df[col].astype(object).tolist()]
        assert frame_values == table.column(col).tolist(), col


def _as_pandas_built(columns: dict[str, Any]) -> pd.DataFrame:
    """What the table built when it was a DataFrame (f9022c9's SpanTable.from_columns), categories per row."""
    n = len(columns[t.SPAN_ID])
    data: dict[str, Any] = {}
    for col in t.COLUMNS:
        if col in (*t.PROMOTED, t.ATTRIBUTES):
            data[col] = pd.Series(columns.get(col, [None] * n), dtype=object)
        elif col in columns:
            data[col] = columns[col]
        elif col in (t.START, t.END):
            data[col] = np.zeros(n, dtype=np.int64)
        elif col != t.CATEGORY:
            data[col] = [""] * n if col == t.PARENT_ID else [None] * n
    df = pd.DataFrame({c: v for c, v in data.items()})
    df[t.START] = df[t.START].astype(np.int64)
    df[t.END] = df[t.END].astype(np.int64)

    def text(v: Any) -> str:
        return "" if v is None or v != v else str(v)

    rows = zip(df[t.NAME], df[t.SERVICE], df[semconv.EVENT_KIND], strict=True)
    df.insert(len(df.columns) - 1, t.CATEGORY, [classify.category(*map(text, r)) for r in rows])
    for col in _CATEGORICAL:
        df[col] = df[col].astype("category")
    return df


HAND_MADE: dict[str, dict[str, Any]] = {
    "ids and times": {
        t.TRACE_ID: ["a" * 32] * 3,
        t.SPAN_ID: ["1" * 16, "2" * 16, "3" * 16],
        t.PARENT_ID: ["", "1" * 16, "1" * 16],
        t.START: [0, 1, 2],
        t.END: [10, 5, 6],
    },
    "names, services and attributes": {
        t.SPAN_ID: ["1" * 16, "2" * 16, "3" * 16, "4" * 16],
        t.PARENT_ID: ["", None, "1" * 16, "1" * 16],
        t.NAME: ["streak", "round", "handleNode", "round"],
        t.SERVICE: ["flytepropeller", None, "flytepropeller", "k8s"],
        t.KIND: ["internal", "server", "internal", "internal"],
        t.START: np.array([3, 1, 2, 0]),
        t.END: [4.0, 5.0, 6.0, 7.0],
        "exec_id": ["x", None, "x", "y"],
        "flyte.event.kind": [None, "node", None, None],
        "node": ["n0", "n1", None, "n0"],
        "flyte.node.upstream": [("a", "b"), None, (), None],
        t.ATTRIBUTES: [{"k": 1}, None, {"k": 2, "l": [1]}, None],
    },
    "numpy strings": {
        t.SPAN_ID: np.array(["1" * 16, "2" * 16]),
        t.NAME: np.array(["b", "a"]),
        t.STATUS: ["ok", "error"],
    },
}


@pytest.mark.parametrize("name", HAND_MADE)
def test_hand_made_frame_is_what_the_dataframe_table_built(name: str) -> None:
    columns = HAND_MADE[name]
    pd.testing.assert_frame_equal(t.SpanTable.from_columns(columns).df, _as_pandas_built(columns))


def test_rows_taken_are_the_frames_rows_categories_kept() -> None:
    table = _simulated("upstream", "tiny_chain", "binpb")
    keep = np.zeros(len(table), dtype=bool)
    keep[::3] = True
    expected = table.df[keep].reset_index(drop=True)
    taken = table.take(keep)
    pd.testing.assert_frame_equal(taken.df, expected)
    rows = np.flatnonzero(keep)[::-1]  # indices, in any order
    pd.testing.assert_frame_equal(table.take(rows).df, table.df.iloc[rows].reset_index(drop=True))


def test_a_table_of_a_frame_reads_its_columns_and_keeps_the_frame() -> None:
    table = _chain()
    some = table.df[table.df[t.NAME] != "round"]
    of_frame = t.SpanTable.from_frame(some)
    assert of_frame.df is some
    assert len(of_frame) == len(some)
    assert of_frame.column(t.SPAN_ID).tolist() == some[t.SPAN_ID].tolist()
    assert of_frame.codes(t.NAME).values().tolist() == some[t.NAME].astype(object).tolist()
    assert of_frame.column(t.START).tolist() == some[t.START].tolist()
