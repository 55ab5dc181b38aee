"""Seeded fuzzing of `otel-fold diff` through the command line: every damaged report ends in a diff table or a
one-line error with a non-zero exit code, never a traceback.

The inputs are benchmark files written by `otel-fold bench` on the simulator (conftest.BENCH_FILES), as YAML
and as JSON, each damaged in one of these ways: a value replaced by one of another type (NaN, infinities,
huge numbers, lists, mappings, booleans, lone surrogates), a key renamed, a value nested deep, two places
made to share one mapping (which YAML writes as an anchor and an alias) or a block of nested aliases added,
the text cut short, or bytes changed or inserted. The damaged file is NEW, BASE, or both. Seeded: a failure
names its case, and running it again gives the same input.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from analyzer.cli import main
from analyzer.decode.report import decode_report
from analyzer.render.report_yaml import render_json
from tests.analyzer.cli.bad_reports import laughs
from tests.fuzzing import value_places

SEED = 19
CASES = 360  # 120 per input x 3 inputs: ~30 s here, most of it the diffs of inputs that are still reports
_DEEP = "deeply nested value"  # stands for a nesting too deep to dump, spliced in as text

# values put in place of any value or key of a document
VALUES: tuple[Any, ...] = (
    None, True, False, "", "x", "1.5s", "-3ms", "12%", "nan%", "1e999", "inf", "2001-13-01", "\ud800", "\x1b[2J",
    0, -1, 1.5, 2**63, -(2**63) - 1, 2**70, 10**400, float("nan"), float("inf"), float("-inf"), 1e300,
    [], {}, [[1]], [{"a": 1}], [{"n0": 1}], {"a": [1]}, {"p50": {"p50": "1s"}}, ["1s", "2s"], [None],
)  # fmt: skip
# byte strings inserted into a file
TOKENS: tuple[bytes, ...] = (
    b"\x00", b"\xff\xfe", b"\t", b"&a ", b"*a", b"!!binary ", b"!!python/object:os.system ", b"[" * 60,
    b"{" * 60, b": ", b"- ", b"\n  - ", b"? ", b'"\\ud800"', b".nan", b"-.inf", b"1e999", b"%", b"\r", b"\x1b",
    b"\n---\n", b"<<: ", b"=",
)  # fmt: skip


def _dump(doc: Any, as_json: bool) -> str:
    """The document as JSON, or as YAML the way PyYAML writes it (anchors and aliases for shared objects)."""
    text = json.dumps(doc) if as_json else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    deep = "[" * 2000 + "]" * 2000 if as_json else "[" * 60 + "]" * 60
    return text.replace(json.dumps(_DEEP) if as_json else _DEEP, deep)


def _swap_value(doc: Any, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        node, key = rng.choice(value_places(doc))
        node[key] = rng.choice(VALUES)


def _swap_key(doc: Any, rng: random.Random) -> None:
    maps = [(node, key) for node, key in value_places(doc) if isinstance(node, dict)]
    node, key = rng.choice(maps)
    new = rng.choice([rng.choice(maps)[1], "runs", "nodes", "warnings", "kind", 1, None, True, 1.5, "\ud800"])
    node[new] = node.pop(key)


def _nest(doc: Any, rng: random.Random) -> None:
    node, key = rng.choice(value_places(doc))
    depth = rng.choice([20, 40])
    value: Any = rng.choice([1, "1s"])
    for _ in range(depth):
        value = {"a": value} if rng.random() < 0.5 else [value]
    node[key] = value if rng.random() < 0.7 else _DEEP


def _share(doc: Any, rng: random.Random) -> None:
    containers = [(node, key) for node, key in value_places(doc) if isinstance(node[key], dict | list)]
    a_node, a_key = rng.choice(containers)
    inside = {id(node) for node, _ in value_places(a_node[a_key])} | {id(a_node[a_key])}
    # a place outside the shared value: sharing it with one of its own descendants would make a cycle
    b_node, b_key = rng.choice([(n, k) for n, k in containers if id(n) not in inside])
    b_node[b_key] = a_node[a_key]


# Changes made to the parsed document, which is then written out again.
DOC_DAMAGE: tuple[Callable[[Any, random.Random], None], ...] = (_swap_value, _swap_key, _nest, _share)


def _damage_doc(text: str, as_json: bool, rng: random.Random) -> bytes:
    doc = json.loads(text) if as_json else yaml.safe_load(text)
    rng.choice(DOC_DAMAGE)(doc, rng)
    # _share writes YAML with an alias; JSON cannot say that, so the shared value is written twice there
    return _dump(doc, as_json).encode("utf-8", "surrogatepass")


def _damage_text(text: str, as_json: bool, rng: random.Random) -> bytes:
    data = text.encode()
    at = rng.randrange(len(data) + 1)
    how = rng.randrange(4)
    if how == 0:
        return data[:at]
    if how == 1:
        return data[:at] + rng.choice(TOKENS) + data[at:]
    if how == 2:
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    return (text + laughs(rng.randint(2, 5)).replace("x:\n", "", 1)).encode()


def _inputs(bench_reports: dict[str, Path]) -> dict[str, str]:
    texts = {name: path.read_text(encoding="utf-8") for name, path in bench_reports.items()}
    runs = decode_report(texts["runs.yaml"], "runs.yaml")
    return {
        "runs.json": render_json(runs),
        "children.yaml": texts["children.yaml"],
        "upstream.yaml": texts["upstream.yaml"],
    }


def _case(text: str, as_json: bool, rng: random.Random) -> tuple[bytes, str]:
    """A damaged file, and which side it goes to."""
    damage = _damage_doc if rng.random() < 0.6 else _damage_text
    return damage(text, as_json, rng), rng.choice(["new", "new", "base", "both"])


def _outcome(code: int, out: str, err: str) -> str | None:
    """What is wrong with one run of the command line, or None: a table, or one line and a non-zero code."""
    if "Traceback" in err:
        return f"traceback {err[-300:]!r}"
    if code == 0:
        try:
            out.encode("utf-8")  # what a strict standard output would do with the table
        except UnicodeEncodeError as e:
            return f"exit 0, a table that cannot be printed: {e}"
        return (
            None
            if out.startswith("# base: ") and not err
            else f"exit 0, out {out[:200]!r}, err {err[-200:]!r}"
        )
    if code not in (1, 2) or err.count("\n") != 1 or not err.startswith("otel-fold: ") or out:
        return f"exit {code}, stderr {err[-300:]!r}"
    return None


def test_no_damaged_report_ends_in_a_traceback(
    bench_reports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = _inputs(bench_reports)
    tried, failures, codes = 0, [], dict.fromkeys((0, 1, 2), 0)
    for i in range(CASES):
        name = list(inputs)[i % len(inputs)]
        rng = random.Random(f"{SEED}:{name}:{i}")
        data, side = _case(inputs[name], name.endswith(".json"), rng)
        good, bad = tmp_path / f"good-{name}", tmp_path / f"case{i}-{name}"
        good.write_text(inputs[name], encoding="utf-8")
        bad.write_bytes(data)
        base, new = {"new": (good, bad), "base": (bad, good), "both": (bad, bad)}[side]
        tried += 1
        try:
            code = main(["diff", str(base), str(new)])
        except Exception as e:  # a traceback: what this test is for
            failures.append(f"case {i} ({name}, {side}): {type(e).__name__}: {e}"[:300])
            capsys.readouterr()
            continue
        out, err = capsys.readouterr()
        codes[code] = codes.get(code, 0) + 1
        if (problem := _outcome(code, out, err)) is not None:
            failures.append(f"case {i} ({name}, {side}): {problem}")
    print(f"diff fuzz: {tried} inputs, {len(failures)} failures, exit codes {codes}")
    assert tried == CASES
    assert failures == [], "\n".join(failures)
