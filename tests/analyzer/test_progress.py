"""Reading the store draws progress on stderr on a terminal only, and only once it has taken DELAY_S."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from analyzer import progress
from analyzer.load import read_store
from tests.analyzer.store.test_store_index import _spans, _write


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _write(tmp_path / "a.jsonl", _spans(), 2)
    return tmp_path


@pytest.mark.parametrize("exec_id", [None, "exec-a"], ids=["every span", "one execution"])
def test_a_read_that_takes_long_draws_a_bar_on_a_terminal(store, monkeypatch, exec_id):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)  # every read "takes long"
    read_store(store, exec_id)
    drawn = terminal.getvalue()
    assert f"reading {store}" in drawn and "\r" in drawn


def test_nothing_is_drawn_off_a_terminal_or_before_the_delay(store, monkeypatch):
    redirected = io.StringIO()
    monkeypatch.setattr("sys.stderr", redirected)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    read_store(store, "exec-a")
    assert redirected.getvalue() == ""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(progress, "DELAY_S", 3600.0)  # no read of this store takes an hour
    read_store(store, "exec-b")
    assert terminal.getvalue() == ""


_REPO = Path(__file__).resolve().parents[2]
_PACKAGES = ("analyzer", "propeller_sim", "flyte_otel", "benchmarks")


def _imports_tqdm(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        if any(n.split(".")[0] == "tqdm" for n in names):
            return True
    return False


def test_every_progress_bar_is_drawn_by_analyzer_progress():
    # one place decides terminal-or-not: a bar made elsewhere could draw into a file or a pipe
    drawing = {p.relative_to(_REPO).as_posix() for pkg in _PACKAGES for p in (_REPO / pkg).rglob("*.py")
               if _imports_tqdm(p)}  # fmt: skip
    assert drawing == {"analyzer/progress.py"}


@pytest.mark.parametrize("unit", ["trace", "run"])
def test_a_bar_is_drawn_on_a_terminal_and_nothing_elsewhere(monkeypatch, unit):
    for stream, drawn in ((_Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr("sys.stderr", stream)
        with progress.bar(3, "work", unit) as shown:
            shown.set_postfix_str("now")
            shown.update(3)
        assert ("work" in stream.getvalue()) is drawn
