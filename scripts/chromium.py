"""Installs Debian's chromium for the browser tests where it is missing and the user is root with apt-get, as
in CI: a step of the README's test command. It never fails that command: where it cannot install, it says
why in one line, and the browser tests are skipped with the same reason (tests/browser.py).

    .venv/bin/python scripts/chromium.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.browser, when run as a script
from tests import browser  # noqa: E402

_LOCK = "DPkg::Lock::Timeout=300"  # wait for another apt-get's lock rather than fail at once
_UPDATE = ["apt-get", "-q", "-o", _LOCK, "update"]
_INSTALL = ["apt-get", "-q", "-y", "-o", _LOCK, "install", browser.DEBIAN_PACKAGE]
_STEP_TIMEOUT_S = 900  # a hung mirror fails the step, not the test command
_SKIPPED = "the browser tests will be skipped"


def _run(argv: list[str]) -> str | None:
    """None if the step succeeded; else what went wrong, apt-get's last lines included."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=_STEP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`{' '.join(argv)}`: {e}"
    if done.returncode == 0:
        return None
    said = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
    return f"`{' '.join(argv)}` exited {done.returncode}:\n{said}"


def main() -> int:
    """Install Chromium if it is missing and can be; always 0."""
    if browser.executable() is not None:
        return 0
    why = browser.cannot_install()
    if why is not None:
        print(f"chromium.py: no Chromium, and {why}: {_SKIPPED}")
        return 0
    print(f"chromium.py: installing Debian's {browser.DEBIAN_PACKAGE} for the browser tests (about a minute)")
    sys.stdout.flush()
    stale = _run(_UPDATE)  # a failed update can still leave package lists that install from
    failed = _run(_INSTALL)
    if failed is not None:
        print(f"chromium.py: {_SKIPPED}; {failed}" + (f"\n(before it, {stale})" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
