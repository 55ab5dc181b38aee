"""The README's test command: CI runs exactly it, and its Chromium step (scripts/chromium.py) never fails it;
where Chromium cannot be had, the browser tests' skip reason says why."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import browser

ROOT = Path(__file__).resolve().parents[1]
_FAKE_APT = "#!/bin/sh\necho 'E: Unable to locate package chromium' >&2\nexit 100\n"


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"# the tests \(what CI runs: \.ci/run\)\n(.+)\n", readme)
    assert block is not None, "README: the test command's line is gone"
    return block.group(1)


def _chromium_step(path: Path) -> subprocess.CompletedProcess[str]:
    """scripts/chromium.py with PATH = `path` alone: no Chromium on it, and only the apt-get put there."""
    env = {**os.environ, "PATH": str(path)}
    script = ROOT / "scripts" / "chromium.py"
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)


def test_ci_runs_exactly_the_readme_test_command_and_it_installs_chromium():
    command = _readme_test_command()
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert lines[-1] == command
    steps = command.split(" && ")
    assert ".venv/bin/python scripts/chromium.py" in steps
    assert steps.index(".venv/bin/python scripts/chromium.py") < steps.index(".venv/bin/python -m pytest")


def test_chromium_step_without_apt_get_says_so_and_succeeds(tmp_path: Path):
    done = _chromium_step(tmp_path)
    assert done.returncode == 0
    assert (
        done.stdout
        == "chromium.py: no Chromium, and there is no apt-get: the browser tests will be skipped\n"
    )


def test_chromium_step_whose_apt_get_fails_shows_its_error_and_succeeds(tmp_path: Path):
    apt = tmp_path / "apt-get"
    apt.write_text(_FAKE_APT)
    apt.chmod(0o755)
    done = _chromium_step(tmp_path)
    assert done.returncode == 0
    if os.geteuid() != 0:
        assert "the user is not root" in done.stdout
    else:
        assert "the browser tests will be skipped" in done.stdout
        assert "install chromium` exited 100" in done.stdout
        assert "E: Unable to locate package chromium" in done.stdout


def test_skip_reason_names_what_is_missing_and_why_it_was_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = browser.missing()
    assert reason is not None
    assert reason.startswith("no Chromium on PATH (chromium, ")
    assert ", and there is no apt-get: scripts/chromium.py installs Debian's chromium only as root" in reason
