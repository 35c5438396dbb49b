"""The report page in a real headless Chromium (Debian's `chromium`, driven over the DevTools
pipe by tests/serve/test_browser.py's Chromium): opened from disk (file://), it raises no
console error and makes no network request, every picture loads, and its tables sort when a
column header is clicked. A full-page screenshot is kept in screenshots/benchmark-report.png
(git-ignored), for a person to look at."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stacgen.cli import main
from tests.benchmark.conftest import MaskSet
from tests.must_run import missing
from tests.paths import REPO
from tests.serve.test_browser import CHROMIUM_ENV, Chromium, Page, find_chromium

pytestmark = pytest.mark.timeout(180)
SCREENSHOT = REPO / "screenshots" / "benchmark-report.png"
LOADED = "document.readyState === 'complete' && [...document.images].every(i => i.complete)"
IMAGES = "[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight])"


@pytest.fixture(scope="module", name="chromium")
def chromium_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    exe = find_chromium()
    if exe is None:
        missing(
            "browser", f"Chromium is not installed (apt-get install chromium, or {CHROMIUM_ENV})"
        )
    folder = tmp_path_factory.mktemp("chromium-report")
    chromium = Chromium(exe, folder / "profile", folder / "chromium.log")
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def report(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("browser-report") / "report"
    args = ["benchmark", *(s.spec for s in mask_sets), "--catalog", str(built_catalog)]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads((out / "benchmark.json").read_text())
    return out, doc


def problems(chromium: Chromium, session: str) -> list[str]:
    """Console errors, uncaught exceptions, failed loads and any request off the disk."""
    found = []
    for event in chromium.events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(f"log: {params['entry']['text']} ({params['entry'].get('url')})")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {json.dumps(params['exceptionDetails'])[:300]}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
            found.append(f"console {params['type']}: {json.dumps(params['args'])[:300]}")
        elif method == "Network.loadingFailed":
            found.append(f"failed load: {params.get('errorText')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file://", "data:")):
                found.append(f"network request: {url}")
    return found


def column(page: Page, table: str, index: int) -> list[str]:
    cells = f"[...document.querySelectorAll('#{table} tbody tr')].map(r => r.cells[{index}])"
    values: list[str] = page.evaluate(
        f"{cells}.map(c => c.getAttribute('data-value') ?? c.textContent.trim())"
    )
    return values


def test_report_opens_from_disk_without_errors_and_every_image_loads(
    chromium: Chromium, report: tuple[Path, dict[str, Any]]
) -> None:
    out, doc = report
    page = chromium.new_page()
    for domain in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
        page.send(domain)
    page.send("Page.navigate", url=(out / "index.html").as_uri())
    page.wait_until("the page and its pictures loaded", LOADED)
    page.settle()

    images = page.evaluate(IMAGES)
    figures = ["accuracy_vs_cover.png", "heatmap.png", "precision_recall.png"]
    # One thumbnail per comparison, processor and scene; s2cloudless has no shadow class.
    thumbs = [
        f"thumbs/{c}/{p['name']}/{i['id']}.png"
        for c in ("invalid", "cloud", "shadow")
        for p in doc["processors"]
        for i in doc["items"]
        if c != "shadow" or p["name"] != "s2cloudless"
    ]
    assert len(thumbs) == 8 * len(doc["items"]) > 0
    assert sorted(src for src, _, _ in images) == sorted(figures + thumbs)
    broken = [src for src, width, height in images if not (width > 0 and height > 0)]
    assert broken == []

    # The per-scene table sorts by the reference's cloud cover when its header is clicked.
    header = "[...document.querySelectorAll('#scenes thead th')]"
    at = page.evaluate(f"{header}.findIndex(th => th.textContent.trim() === 'cloud %')")
    assert at > 0
    page.evaluate(f"{header}[{at}].click()")
    ascending = [float(v) for v in column(page, "scenes", at)]
    assert ascending == sorted(ascending)
    assert len(ascending) == len(doc["items"])
    page.evaluate(f"{header}[{at}].click()")
    assert [float(v) for v in column(page, "scenes", at)] == sorted(ascending, reverse=True)

    shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    assert problems(chromium, page.session) == []
