"""A real browser for the plots tests: Debian's headless Chromium, driven by
Playwright, with the network off, reporting what Vega drew on a page.
Skipped with a reason where Chromium is missing (CI=true makes that a failure).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

from services import unavailable

# As this machine needs it: no sandbox as root, no GPU, no calls home.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]
CHART = re.compile(r"var spec = (\{.*?\});\s*vegaEmbed\('#([^']+)', spec\);", re.DOTALL)
DRAWN = """ids => ids.map(id => {
    const el = document.getElementById(id);
    const svg = el && el.querySelector('svg');
    return {id, svg: !!svg, canvas: !!(el && el.querySelector('canvas')),
            marks: svg ? svg.querySelectorAll('.role-mark > *').length : 0,
            text: svg ? svg.textContent : ''};
})"""


def chromium() -> str:
    names = ("chromium", "google-chrome", "chromium-browser")  # Debian, GitHub's runners
    path = next((found for name in names if (found := shutil.which(name))), None)
    if not path:
        unavailable("Chromium is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("Playwright is not installed (make install)")
    return path


def charts_in(page: Path) -> dict[str, str]:
    """Chart id -> title, as DVC wrote them into the page."""
    return {chart_id: json.loads(spec)["title"]["text"]
            for spec, chart_id in CHART.findall(page.read_text())}


def open_offline(page: Path, screenshot: Path, settle_ms: int = 15000) -> tuple[list, list]:
    """What Vega drew for each chart of `page`, and the console's errors, with every
    request but the page's own files refused."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    ids = list(charts_in(page))
    errors: list[str] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith("file:") else route.abort())
        tab = context.new_page()
        tab.on("console", lambda message: message.type == "error" and errors.append(message.text))
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(page.resolve().as_uri())
        with contextlib.suppress(PlaywrightTimeout):  # all drawn, or the time is up
            tab.wait_for_function(f"({DRAWN})({json.dumps(ids)}).every(c => c.marks > 0)",
                                  timeout=settle_ms)
        drawn = tab.evaluate(DRAWN, ids)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return drawn, errors
