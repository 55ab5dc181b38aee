"""`otel-fold diff` on report files from elsewhere (CI artifacts): our own files load back, and a hostile or
broken one is refused with one line naming the file and the place in it, never a traceback or a blow-up."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analyzer.cli import main
from analyzer.decode.report import decode_report
from analyzer.render.report_yaml import render_json
from tests.analyzer.cli.bad_reports import laughs

GOOD = "x:\n  duration: 1s\n  nodes:\n  - n0:\n      duration: 1s\n"


def _diff(tmp_path: Path, capsys: pytest.CaptureFixture[str], new: str | bytes) -> tuple[int, str, Path]:
    base, bad = tmp_path / "base.yaml", tmp_path / "new.yaml"
    base.write_text(GOOD)
    if isinstance(new, bytes):
        bad.write_bytes(new)
    else:
        bad.write_text(new, encoding="utf-8", errors="surrogatepass")
    code = main(["diff", str(base), str(bad)])
    return code, capsys.readouterr().err, bad


def _events(text: str) -> list[yaml.Event]:
    return list(yaml.parse(text))


def test_our_benchmark_files_have_no_anchors_and_load_back_as_yaml_and_json(
    bench_reports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, path in bench_reports.items():
        text = path.read_text(encoding="utf-8")
        assert not [e for e in _events(text) if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None)]
        doc = decode_report(text, name)
        as_json = tmp_path / f"{name}.json"
        as_json.write_text(render_json(doc), encoding="utf-8")
        assert decode_report(as_json.read_text(encoding="utf-8"), as_json.name) == doc
        for other in (path, as_json):
            assert main(["diff", str(path), str(other)]) == 0, capsys.readouterr().err
            out = capsys.readouterr().out
            assert out.startswith("# base: ") and "flyte.benchmark." in out


def test_nested_aliases_are_refused_at_once_without_expanding_them(tmp_path: Path) -> None:
    base, bad = tmp_path / "base.yaml", tmp_path / "laughs.yaml"
    base.write_text(GOOD)
    bad.write_text(laughs())
    assert len(bad.read_bytes()) < 1000  # a few hundred bytes that expand to 9**9 leaves

    def cap_memory() -> (
        None
    ):  # expanded, the aliases take gigabytes: fail fast instead of filling the machine
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    run = subprocess.run(
        [sys.executable, "-m", "analyzer", "diff", str(base), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap_memory,
    )
    assert run.returncode == 2, run.stderr[-500:]
    assert run.stderr == f"otel-fold: {bad}: line 2, column 7: anchors and aliases (&, *) are not allowed\n"


# (case, NEW file's text, what the one line says after "otel-fold: NEW: ")
REFUSED: tuple[tuple[str, str, str], ...] = (
    ("alias", "x:\n  a: &a 1s\n  b: *a\n", "line 2, column 6: anchors and aliases (&, *) are not allowed"),
    ("nan", "x:\n  duration: .nan\n", "x.duration: expected a finite number within ±2**63, got nan"),
    ("minus-inf", "x:\n  nodes: [{n0: {duration: -.inf}}]\n", "x.nodes.n0.duration: expected a finite number"),
    ("json-nan", '{"x": {"duration": NaN}}', "x.duration: expected a finite number within ±2**63, got nan"),
    ("json-1e999", '{"x": {"runs": [{"duration": 1e999}]}}', "x.runs[0].duration: expected a finite number"),
    ("past-2**63", "x:\n  duration: 1.0e+300\n", "x.duration: expected a finite number within ±2**63, got 1e+300"),
    ("percent-nan", "x:\n  userCode: nan%\n", "x.userCode: expected a finite number within ±2**63, got nan"),
    ("nodes-of-lists", "x:\n  nodes: [[1]]\n", "x.nodes[0]: expected a mapping of one id to a mapping, got a list"),
    ("node-of-a-number", "x:\n  nodes: [{n0: 5}]\n", "x.nodes[0]: expected a mapping of one id to a mapping, got one id to a number"),
    ("node-of-two-ids", "x:\n  nodes: [{n0: {}, n1: {}}]\n", "x.nodes[0]: expected a mapping of one id to a mapping, got a mapping of 2 keys"),
    ("node-twice", "x:\n  nodes: [{n0: {duration: 1s}}, {n0: {duration: 2s}}]\n", "x.nodes[1]: a second node 'n0'"),
    (
        "list-for-a-duration",
        "x:\n  nodes:\n  - n0:\n      segments: {TASK_RUNTIME: [1]}\n",
        "x.nodes.n0.segments.TASK_RUNTIME: expected a mapping or a duration (1.2s, or ns), got a list",
    ),
    ("runs-of-numbers", "x:\n  runs: [1, 2]\n", "x.runs[0]: expected a mapping, got a number"),
    ("warning-list", "x:\n  warnings: [[a]]\n", "x.warnings[0]: expected text, got a list"),
    ("number-for-text", "x:\n  nodes: [{n0: {kind: 5}}]\n", "x.nodes.n0.kind: expected text, got a number"),
    ("boolean", "x:\n  duration: true\n", "x.duration: expected a duration (1.2s, or ns), got a boolean"),
    ("null", "x:\n  duration:\n", "x.duration: expected a duration (1.2s, or ns), got null"),
    ("number-key", "x:\n  segments: {1: 1s}\n", "x.segments: a key: expected text, got a number (1)"),
    ("surrogate", 'x:\n  execution: "\\ud800"\n', "x.execution: text with a lone surrogate"),
    ("long-number-text", "x:\n  duration: " + "1" * 100 + "s\n", "x.duration: expected a duration (1.2s, or ns), got 101 characters of text"),
    ("deep-yaml", "x:\n  a: " + "[" * 100 + "]" * 100 + "\n", "line 2, column 36: nested deeper than 32 levels"),
    ("deep-json", '{"x": {"a": ' + "[" * 5000 + "]" * 5000 + "}}", "nested deeper than 32 levels"),
    ("deep-json-mappings", '{"x": ' + '{"a": ' * 200 + "1" + "}" * 201, ": nested deeper than 32 levels"),
    ("timestamp", "x:\n  duration: 2001-13-01\n", "line 2, column 13: 'timestamp' values are not allowed"),
    ("binary", "x:\n  duration: !!binary AAAA\n", "line 2, column 13: 'binary' values are not allowed"),
    ("python", "x: !!python/object/apply:os.system [true]\n", "'python/object/apply:os.system' values are not allowed"),
    ("value-tag", "x:\n  duration: =\n", "line 2, column 13: 'value' values are not allowed"),
    ("bad-int", "x:\n  count: !!int 3.5\n", "line 2, column 10: cannot read this int"),
    ("long-int", "x:\n  count: " + "9" * 5000 + "\n", "line 2, column 10: cannot read this int"),
    ("json-long-int", '{"x": {"count": ' + "9" * 5000 + "}}", "an integer of over 4300 digits"),
    ("unhashable-key", "x:\n  ? [a]\n  : 1\n", "line 2, column 5: while constructing a mapping, found unhashable key"),
    ("syntax", "x:\n  duration: 1s\n  bad: [1, 2\n", "line 4, column 1: while parsing a flow sequence, expected ',' or ']', but got '<stream end>'"),
    ("tab", "x:\n\tduration: 1s\n", "line 2, column 1: while scanning for the next token, found character '\\t' that cannot start any token"),
    ("json-syntax", '{"x": {"duration": 1s}}', "line 1, column 21: Expecting ',' delimiter"),
    ("control-character", "x:\n  duration: 1s\x07\n", "line 2, column 15: character #x0007: special characters are not allowed"),
    ("sketch-version", "x:\n  runs: [{etcd: {writes: {count: 1, sketch: 'ddsketch/2 a=0.01 z=0 5:1'}}}]\n", "x.runs[0].etcd.writes.sketch: expected a sketch starting 'ddsketch/1'"),
    ("sketch-accuracy", "x:\n  runs: [{etcd: {writes: {sketch: 'ddsketch/1 a=0.02 z=0 5:1'}}}]\n", "x.runs[0].etcd.writes.sketch: a sketch of accuracy 0.02, not 0.01"),
    ("sketch-bin", "x:\n  runs: [{etcd: {writes: {sketch: 'ddsketch/1 a=0.01 z=0 5:1 6'}}}]\n", "x.runs[0].etcd.writes.sketch: expected <key>:<count>, got '6'"),
    ("sketch-order", "x:\n  runs: [{etcd: {writes: {sketch: 'ddsketch/1 a=0.01 z=0 6:1 5:1'}}}]\n", "sketch: bucket keys must ascend"),
    ("sketch-zero-count", "x:\n  runs: [{etcd: {writes: {sketch: 'ddsketch/1 a=0.01 z=0 5:0'}}}]\n", "sketch: bucket counts must be positive"),
    ("sketch-count", "x:\n  runs: [{etcd: {writes: {count: 3, sketch: 'ddsketch/1 a=0.01 z=0 5:1'}}}]\n", "x.runs[0].etcd.writes.sketch: holds 1 durations, but the count beside it is 3"),
    ("sketch-number", "x:\n  runs: [{etcd: {writes: {sketch: 5}}}]\n", "x.runs[0].etcd.writes.sketch: expected text, got a number"),
)  # fmt: skip


@pytest.mark.parametrize(("case", "text", "says"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_bad_report_is_one_line_naming_the_file_and_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str, says: str
) -> None:
    code, err, bad = _diff(tmp_path, capsys, text)
    assert code == 2
    assert err.startswith(f"otel-fold: {bad}: ") and err.count("\n") == 1, err
    assert says in err, err
    assert "\\x0a" not in err and "<unicode string>" not in err  # not PyYAML's multi-line message, escaped


def test_a_value_on_one_side_and_a_mapping_on_the_other_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, _ = _diff(tmp_path, capsys, "x:\n  duration: {p50: 1s}\n")
    assert code == 2
    assert (
        err
        == "otel-fold: BASE and NEW differ in shape at x.duration: a value in one, a mapping in the other\n"
    )
