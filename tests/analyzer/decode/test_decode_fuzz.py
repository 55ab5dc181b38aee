"""Seeded fuzzing of the decoders through the command line: every damaged input ends in a table (maybe with
warnings) or a one-line error with exit code 2, never a traceback.

The inputs are the upstream fixtures (../shared/fixtures, PROVENANCE.md) and a store file of our own (framed
OTLP protobuf written by flyte_otel on a virtual clock), each damaged in two ways: bytes changed, cut or
inserted (tokens that broke the decoders before: a lone surrogate escape, nesting past the parser's depth,
invalid UTF-8), and JSON values replaced by values of the wrong type (null names, lone surrogates, numbers
where ids belong). Seeded: a failure names its case, and running it again gives the same input.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from decode_testlib import FIXTURES

import flyte_otel as fo
from analyzer import framing
from analyzer.cli import main
from tests import builders as B
from tests.builders import MS
from tests.fuzzing import value_places

SEED = 16
CASES_PER_INPUT = 40  # x 11 inputs: 440 cases, a few seconds
DEEP = 1_100  # past orjson's and the standard library's nesting limits (1,024 and the recursion limit)

# byte strings inserted into a payload
TOKENS = (b"null", b'"\\ud800"', b'"\\udfff x"', b"\xff\xfe\xc3", b"[" * DEEP, b"{" * 50, b"1e999", b"-1",
          b"99999999999999999999999", b'"', b",", b"}", b"\x00" * 9, b'"0000000000000000000000000000000A"')  # fmt: skip
# JSON values put in place of any value of a document
VALUES: tuple[Any, ...] = (None, "\ud800", "a\udfffb", "", 0, -1, 2**70, 1.5, True, [], {}, "ZZ", "0" * 40,
                           "AAAAAAAAAAE=", [[[]]], {"stringValue": None}, {"key": None})  # fmt: skip


def _store_file() -> bytes:
    with B.recording() as rec:
        with (
            fo.round("ex-fuzz", start=B.T0, end=B.T0 + 100 * MS),
            fo.streak("ex-fuzz", start=B.T0 + 10 * MS, end=B.T0 + 40 * MS),
        ):
            pass
        payload = rec.payload()
    return framing.frame(payload) + framing.frame(payload)


def _damage_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    how = rng.randrange(3)
    if how == 0:
        return data[:at] + rng.choice(TOKENS) + data[at:]
    if how == 1:
        return data[:at]
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _damage_json(data: bytes, rng: random.Random) -> bytes:
    doc = json.loads(data)
    places = value_places(doc)
    for _ in range(rng.randint(1, 3)):
        node, key = rng.choice(places)
        node[key] = rng.choice(VALUES) if rng.random() < 0.9 else _DEEP
    # ensure_ascii: a lone surrogate is written as its \\u escape; the deep value is spliced in as text
    # (json.dumps itself would recurse too deep)
    return json.dumps(doc).encode().replace(json.dumps(_DEEP).encode(), b"[" * DEEP + b"]" * DEEP)


_DEEP = "deeply nested value"


INPUTS: dict[str, Callable[[], bytes]] = {
    p.name: p.read_bytes for p in sorted(FIXTURES.glob("*.json")) + sorted(FIXTURES.glob("*.pb"))
}
INPUTS["store.binpb"] = _store_file


def _cases(name: str) -> list[tuple[str, bytes]]:
    data = INPUTS[name]()
    rng = random.Random(f"{SEED}:{name}")
    damage = [_damage_bytes] + ([_damage_json] if name.endswith(".json") else [])
    return [(f"{name}#{i}", rng.choice(damage)(data, rng)) for i in range(CASES_PER_INPUT)]


@pytest.mark.parametrize("name", INPUTS)
def test_no_damaged_input_ends_in_a_traceback(name, tmp_path, capsys):
    tried, failures = 0, []
    for case, data in _cases(name):
        path = tmp_path / f"{case.replace('#', '-')}"
        path.write_bytes(data)
        try:
            code = main(["--file", str(path)])
        except Exception as e:  # a traceback: what this test is for
            failures.append(f"{case}: {type(e).__name__}: {e}"[:300])
            continue
        finally:
            tried += 1
        _, err = capsys.readouterr()
        errors = [line for line in err.splitlines() if not line.startswith("otel-fold: warning:")]
        if code not in (0, 1, 2) or (code and len(errors) != 1) or "Traceback" in err:
            failures.append(f"{case}: exit {code}, stderr {err[-300:]!r}")
    assert tried == CASES_PER_INPUT
    assert failures == [], "\n".join(failures)
