"""Redraws docs/timeline.png: one simulated run of the parallel_subworkflows portfolio workflow, its HTML
timeline as `otel-fold ID --timeline` writes it, and the picture as headless Chromium shows it (the browser
tests' driver, tests/browser.py).

    .venv/bin/python scripts/timeline_png.py [OUT.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.browser, when run as a script
from tests import browser  # noqa: E402

_WORKFLOW = "parallel_subworkflows"  # subworkflows in parallel, the critical path through one of them


def main(argv: list[str]) -> int:
    """Write the picture; 1 with a one-line reason where there is no browser or the page has errors."""
    out = Path(argv[0]) if argv else ROOT / "docs" / "timeline.png"
    why = browser.missing()
    if why is not None:
        print(f"timeline_png.py: {why}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        page = browser.draw(Path(tmp), {"timeline.html": (_WORKFLOW, "--timeline")})["timeline.html"]
        with browser.chromium() as chromium:
            seen = browser.visit(chromium, page)
            if seen.errors:
                print(f"timeline_png.py: the page has errors: {seen.errors}", file=sys.stderr)
                return 1
            seen.page.locator("svg").first.screenshot(path=str(out))  # the picture, without the page's margin
    print(f"timeline_png.py: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
