"""`--help` of otel-fold and of every subcommand prints its usage and exits 0 (argparse formats help lazily, so a
stray `%` in a help text only fails when someone asks for help)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli import COMMANDS, main


@pytest.mark.parametrize("argv", [[], *([name] for name in COMMANDS)], ids=["otel-fold", *COMMANDS])
def test_help_prints_usage_and_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: otel-fold {' '.join(argv)}".rstrip())


@pytest.mark.parametrize("argv", [[], *([name] for name in COMMANDS)], ids=["otel-fold", *COMMANDS])
def test_help_of_the_installed_program_prints_usage_and_exits_0(argv: list[str]) -> None:
    """The console script itself (its own start, its own exit), as a user runs it."""
    program = Path(sys.executable).with_name("otel-fold")
    done = subprocess.run([program, *argv, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: otel-fold {' '.join(argv)}".rstrip()) and not done.stderr
