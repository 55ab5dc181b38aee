"""The pictures `otel-fold --timeline/--waterfall` write, opened in headless Chromium (tests/browser.py): they
load without errors and fetch nothing, every bar shows its hover title under the pointer, an array's
sub-task rows expand on click, and the screenshot shows every colour the document draws.

Skipped, with the reason in the summary (-rs), where Chromium or Playwright is missing; the README's test
command installs Chromium where the user is root with apt-get (scripts/chromium.py), as in CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests import browser

pytestmark = [
    pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing())),
    pytest.mark.slow,  # a browser start, and pages of up to 23,000 px
]

# page file -> (portfolio workflow, picture flag): a timeline with an array node (its sub-task rows),
# one with nested subworkflows and the critical path through them, and the waterfall
PAGES = {
    "timeline-array.html": ("big_map", "--timeline"),
    "timeline-array.svg": ("big_map", "--timeline"),
    "timeline-subworkflows.html": ("parallel_subworkflows", "--timeline"),
    "waterfall.html": ("big_map", "--waterfall"),
    "waterfall.svg": ("big_map", "--waterfall"),
}

# Every visible element with a hover title of its own (bars, idle cuts) that has a point where the pointer
# lands on something without a title (an outline, a band, a stripe drawn over it): [its title, what is hit].
_HOVER_MISSES = """() => {
  const misses = [];
  let bars = 0;
  for (const el of document.querySelectorAll('rect')) {
    const title = el.querySelector(':scope > title');
    if (!title || !el.checkVisibility()) continue;
    el.scrollIntoView({block: 'center', inline: 'center'});
    const b = el.getBoundingClientRect();
    if (b.width < 1 || b.height < 1) continue;
    bars++;
    const top = Math.max(b.top, 0), bottom = Math.min(b.bottom, innerHeight);
    const ys = [];
    for (let y = top + 0.5; y < bottom && ys.length < 200; y += 3) ys.push(y);
    const points = [0.1, 0.5, 0.9].flatMap(fx => ys.map(y => [b.left + b.width * fx, y]));
    for (const [x, y] of points) {
      const hit = document.elementFromPoint(x, y);
      if (!hit || !hit.querySelector(':scope > title')) {
        misses.push([title.textContent, hit ? `${hit.tagName}.${hit.getAttribute('class')}` : 'nothing']);
        break;
      }
    }
  }
  return {bars, misses};
}"""

# The fill colours of the visible, opaque bars and swatches at least 3 px each way (their inside is that
# colour exactly, whatever the anti-aliasing of their edges), as [r, g, b].
_DRAWN_FILLS = """() => {
  const out = new Set();
  for (const el of document.querySelectorAll('rect')) {
    const b = el.getBoundingClientRect();
    if (b.width < 3 || b.height < 3 || !el.checkVisibility()) continue;
    const style = getComputedStyle(el);
    if (style.opacity !== '1' || style.fillOpacity !== '1') continue;
    const fill = style.fill;
    if (fill.startsWith('rgb(')) out.add(fill);
  }
  return [...out].map(f => f.slice(4, -1).split(',').map(Number));
}"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return browser.draw(tmp_path_factory.mktemp("pictures"), PAGES)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser.chromium() as b:
        yield b


@pytest.fixture(params=list(PAGES))
def opened(request: pytest.FixtureRequest, pages: dict[str, Path], chromium: Any) -> Iterator[browser.Visit]:
    seen = browser.visit(chromium, pages[request.param])
    yield seen
    seen.page.close()


def _expand_all(seen: browser.Visit) -> int:
    summaries = seen.page.locator("details > summary")
    for i in range(summaries.count()):
        summaries.nth(i).click()
    return summaries.count()


def test_page_loads_without_errors_and_fetches_nothing_else(opened: browser.Visit) -> None:
    _expand_all(opened)
    assert opened.errors == []
    assert opened.requests == [opened.url]


def test_every_bar_shows_its_hover_title_under_the_pointer(opened: browser.Visit) -> None:
    _expand_all(opened)  # the sub-task rows too
    found = opened.page.evaluate(_HOVER_MISSES)
    assert found["bars"] >= 10
    misses = found["misses"]
    assert not misses, f"{len(misses)} bars whose hover title is covered, the first: {misses[:5]}"


def test_array_node_rows_expand_on_click(pages: dict[str, Path], chromium: Any) -> None:
    seen = browser.visit(chromium, pages["timeline-array.html"])
    try:
        details = seen.page.locator("details")
        assert details.count() == 1
        summary, rows = details.locator("summary"), details.locator("g.row")
        subtasks = int(re.search(r"(\d+) sub-tasks", summary.inner_text()).group(1))  # type: ignore[union-attr]
        assert subtasks >= 2 and rows.count() == subtasks
        assert not rows.first.is_visible()
        summary.click()
        assert details.evaluate("d => d.open")
        assert all(rows.nth(i).is_visible() for i in range(subtasks))
        assert rows.nth(subtasks - 1).bounding_box()["y"] > summary.bounding_box()["y"]  # type: ignore[index]
        summary.click()
        assert not rows.first.is_visible()
    finally:
        seen.page.close()


def test_screenshot_shows_every_colour_the_page_draws(opened: browser.Visit, tmp_path: Path) -> None:
    _expand_all(opened)
    drawn = {tuple(rgb) for rgb in opened.page.evaluate(_DRAWN_FILLS)}
    png = browser.screenshot(opened.page, tmp_path / "page.png")
    with Image.open(png) as image:
        size = image.size
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 24) or []}
    assert size[0] >= 1200 and size[1] >= 300
    assert len(drawn) >= 5  # the categories' fills, stripes, the legend
    assert drawn <= colours, f"drawn but not in the screenshot: {sorted(drawn - colours)}"
