"""A trace author cannot drive the reader's terminal: control characters in span names, node ids and attribute
values are shown escaped in every text output and message, and never break an SVG/HTML file."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import flyte_otel as fo
from analyzer.cli import main
from flyte_otel import semconv as sc
from tests import builders as B
from tests.builders import MS

# ESC sequences that set the window title and clear the screen, CR and BS that overwrite, a newline that forges a
# fold line, a C1 CSI, and characters XML 1.0 cannot hold
EVIL_NAME = "handleNode\x1b]0;pwned\x07\x1b[2J\r\x08\n1.1 forged line\x9b31m"
EVIL_NODE = "n0\x1b[31m\x00\x0b"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # every control character but the line separator \n


def _trace(tmp_path: Path) -> Path:
    with B.recording() as rec:
        evil = fo.operation(EVIL_NAME, attributes={sc.EXEC_ID: "ex1", sc.NODE_ID: EVIL_NODE},
                            start=B.T0 + 1 * MS, end=B.T0 + 5 * MS)  # fmt: skip
        with fo.operation(sc.ROUND, attributes={sc.EXEC_ID: "ex1"}, start=B.T0, end=B.T0 + 9 * MS), evil:
            pass
        path = tmp_path / "evil.binpb.raw"
        path.write_bytes(rec.payload())
    return path


@pytest.mark.parametrize(
    "argv", [[], ["--stats", "name"], ["--stats", "node"]], ids=["fold", "stats-name", "stats-node"]
)
def test_text_outputs_show_control_characters_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(["ex1", "--file", str(_trace(tmp_path)), *argv]) == 0
    out = capsys.readouterr()
    assert not RAW.search(out.out + out.err)
    assert "forged line" not in [
        line.split(" ", 1)[-1] for line in out.out.splitlines()
    ]  # no line of its own
    assert "\\x1b" in out.out


def test_messages_quoting_trace_content_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil_file = tmp_path / "trace\x1b]0;pwned\x07\r.json"  # a name given by whoever shared the file
    assert main(["ex1\x1b[2J\r", "--file", str(evil_file)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not RAW.search(err) and "\\x1b]0;pwned\\x07" in err


@pytest.mark.parametrize("suffix", ["svg", "html"])
def test_pictures_stay_well_formed(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    out = tmp_path / f"t.{suffix}"
    assert main(["ex1", "--file", str(_trace(tmp_path)), "--waterfall", str(out)]) == 0
    text = out.read_text()
    if suffix == "svg":
        ET.fromstring(text)  # raises on a character XML cannot hold
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
