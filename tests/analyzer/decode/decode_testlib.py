"""Helpers shared by the decoder tests: where the upstream fixtures are, and a canonical row order."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analyzer import table as t

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Row order and dtypes do not matter for "the same trace"; values do (attributes compared as dicts)."""
    out = df.astype(object).where(df.notna(), None)
    out[t.ATTRIBUTES] = out[t.ATTRIBUTES].map(lambda d: json.dumps(d, sort_keys=True, default=repr))
    return out.sort_values([t.TRACE_ID, t.SPAN_ID, t.START, t.ATTRIBUTES]).reset_index(drop=True)
