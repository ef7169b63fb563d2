"""PNG screenshots of the static dashboard, taken in headless Chromium (Playwright + Debian chromium).

For the README and for reviews: what people see, with the plots rendered from the real data.
"""
from __future__ import annotations

from pathlib import Path

PLOT_WAIT_MS = 15000


def take(site: Path, out: Path, pages: list[str] | None = None, width: int = 1400, page=None) -> list[Path]:
    """One full-page PNG per dashboard page (default: every page in the navigation bar); in `page`
    (a Playwright page) when given, else in a Chromium of its own."""
    if page is not None:
        return _shoot(page, Path(site), Path(out), pages, width)
    from playwright.sync_api import sync_playwright

    from hwcov.backends.browser.jobs import launch

    with sync_playwright() as p:
        browser = launch(p)
        try:
            return _shoot(browser.new_page(), Path(site), Path(out), pages, width)
        finally:
            browser.close()


def _shoot(page, site: Path, out: Path, pages: list[str] | None, width: int) -> list[Path]:
    from hwcov.reports.dashboard import NAV

    out.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    shots = []
    for name in pages or [n for n, _ in NAV]:
        page.goto((site / name).resolve().as_uri())
        page.wait_for_load_state("load")
        if page.locator(".js-plotly-plot").count():
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=PLOT_WAIT_MS)
        shot = out / (Path(name).stem + ".png")
        page.screenshot(path=str(shot), full_page=True)
        shots.append(shot)
    return shots
