"""Headless Chromium for the picture tests and docs/timeline.png: Playwright driving the system's Chromium.

No browser is downloaded (no `playwright install`): Playwright is pointed at the binary of Debian's
`chromium` package, which `scripts/chromium.py` (part of the README's test command) installs where it is
missing and the user is root with apt-get, as in CI. Where there is none, `missing()` says why, and the
browser tests are skipped with that reason.

    paths = draw(tmp, {"t.html": ("big_map", "--timeline")})  # one simulated run, as otel-fold draws it
    with chromium() as browser:
        seen = visit(browser, paths["t.html"])  # seen.errors: console errors and uncaught exceptions
        screenshot(seen.page, tmp / "t.png")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# The binary's names: Debian's package, then other distributions' and Google's builds.
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEBIAN_PACKAGE = "chromium"
# A cold start of Chromium on a loaded 2-core machine can take tens of seconds; these only make a hang fail.
LAUNCH_TIMEOUT_MS = 180_000
ACTION_TIMEOUT_MS = 120_000

# Why scripts/chromium.py cannot install the package here: the first rule that holds.
_CANNOT_INSTALL: tuple[tuple[Callable[[], bool], str], ...] = (
    (lambda: shutil.which("apt-get") is None, "there is no apt-get"),
    (lambda: getattr(os, "geteuid", lambda: -1)() != 0, "the user is not root"),
)


def executable() -> str | None:
    """The Chromium binary on PATH, or None."""
    return next((path for path in map(shutil.which, NAMES) if path), None)


def cannot_install() -> str | None:
    """Why apt-get cannot install Chromium for this user (None: it can)."""
    return next((why for holds, why in _CANNOT_INSTALL if holds()), None)


def missing() -> str | None:
    """Why the browser tests cannot run here (None: they can), as a skip reason."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]'"
    if executable() is not None:
        return None
    names = f"no Chromium on PATH ({', '.join(NAMES)})"
    why = cannot_install()
    if why is not None:
        return f"{names}, and {why}: scripts/chromium.py installs Debian's {DEBIAN_PACKAGE} only as root with apt-get"
    return f"{names}: run scripts/chromium.py (the README's test command does), which installs it or says why not"


def draw(root: Path, pictures: Mapping[str, tuple[str, str]], seed: int = 3) -> dict[str, Path]:
    """Pictures of one simulated run (`otel-fold bench --small`) of each workflow named, each written by
    `otel-fold ID --timeline/--waterfall PATH` into `root`: file name -> (portfolio workflow, picture flag)."""
    import yaml  # here, not at the top: scripts/chromium.py imports this module and needs only the stdlib

    from analyzer.cli import main

    store, bench = root / "store", root / "bench.yaml"
    workflows = sorted({workflow for workflow, _ in pictures.values()})
    argv = [
        "bench",
        *workflows,
        "-n",
        "1",
        "--small",
        "--seed",
        str(seed),
        "--store",
        str(store),
        "-o",
        str(bench),
    ]
    if main(argv) != 0:
        raise RuntimeError(f"otel-fold {' '.join(argv)} failed")
    runs = yaml.safe_load(bench.read_text(encoding="utf-8"))
    out = {}
    for name, (workflow, flag) in pictures.items():
        exec_id = str(runs[f"flyte.benchmark.{workflow}"]["execution"])
        if main([exec_id, "--store", str(store), flag, str(root / name)]) != 0:
            raise RuntimeError(f"otel-fold {exec_id} {flag} failed")
        out[name] = root / name
    return out


@contextmanager
def chromium() -> Iterator[Browser]:
    """The system's Chromium, headless; closed (and its processes ended) on leaving, error or not."""
    from playwright.sync_api import sync_playwright

    path = executable()
    if path is None:
        raise RuntimeError(missing())
    with sync_playwright() as pw:
        # /dev/shm is 64 MiB in a default container: Chromium's renderer crashes on a tall page there
        browser = pw.chromium.launch(
            executable_path=path, timeout=LAUNCH_TIMEOUT_MS, args=["--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """An open page and what it did while loading and since."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, its own first


def visit(browser: Browser, path: Path, width: int = 1400, height: int = 900) -> Visit:
    """Open a local file in a new page and wait for its load event."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    seen = Visit(page, path.resolve().as_uri())
    page.on("console", lambda m: seen.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: seen.requests.append(r.url))
    page.goto(seen.url, wait_until="load", timeout=ACTION_TIMEOUT_MS)
    return seen


def screenshot(page: Page, out: Path) -> Path:
    """The whole document as PNG. The viewport is sized to the document first: Playwright's own full-page
    capture of an SVG document (no body) did not finish in 90 s here (Playwright 1.65, Chromium 156)."""
    width, height = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    page.set_viewport_size({"width": int(width), "height": int(height)})
    page.screenshot(path=str(out), timeout=ACTION_TIMEOUT_MS)
    return out
