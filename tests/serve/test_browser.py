"""STAC Browser in a real headless Chromium against `serve`: an item page shows the item id, the
class table with its colours, the thumbnail, and the visual COG drawn on the map; its search
page, filtering by cloud cover, lists the items pystac-client finds with the same filter.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages
ended by NUL on fds 3 and 4), so nothing beyond Debian's `chromium` is needed. Skipped only when
Chromium or the built STAC Browser (`make browser`) is missing; CI installs both.
A screenshot of the page is saved in screenshots/ (git-ignored).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pystac_client import Client
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from stacgen import constants
from stacgen.serve import BROWSER_HINT, find_browser, serve
from tests.catalogs import FixtureCatalog
from tests.must_run import missing
from tests.paths import REPO
from tests.serve_subprocess import stacgen_serve

pytestmark = pytest.mark.timeout(180)
CHROMIUM_ENV = "STACGEN_CHROMIUM"
BODY_TEXT = "(document.body ? document.body.innerText : '')"  # no body until the page loads
SCREENSHOTS = REPO / "screenshots"
WIDTH, HEIGHT = 1280, 1800
WAIT = 45.0  # seconds for the page to reach a state; the software-rendered map is the slowest
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    # The map is WebGL: software rendering, opted in (the silent fallback is deprecated).
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-sync",
    "--no-default-browser-check",
    "--no-first-run",
    "--mute-audio",
    "--hide-scrollbars",
    f"--window-size={WIDTH},{HEIGHT}",
)


class Chromium:
    """A headless Chromium in its own process group, spoken to over the DevTools pipe."""

    def __init__(self, exe: str, profile: Path, log: Path) -> None:
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()
        # The protocol pipe must be fds 3 (commands) and 4 (answers) of Chromium; bash, as dash
        # cannot redirect from fds above 9.
        shell = f'exec "$0" "$@" 3<&{to_chrome} 4>&{from_chrome}'
        args = [*FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        with log.open("wb") as stderr:
            self.proc = subprocess.Popen(
                ["/bin/bash", "-c", shell, exe, *args],
                pass_fds=(to_chrome, from_chrome),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []  # messages that answer no command (console ...)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + WAIT
        while True:
            answer = self._receive(deadline)
            if "id" not in answer:
                self.events.append(answer)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    def pump(self, until: Callable[[], bool], what: str | Callable[[], str]) -> None:
        """Read Chromium's events until `until()` holds; fail if it does not within WAIT."""
        deadline = time.monotonic() + WAIT
        while not until():
            try:
                message = self._receive(deadline)
            except TimeoutError:
                pytest.fail(f"Chromium never reported {what if isinstance(what, str) else what()}")
            if "id" not in message:
                self.events.append(message)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Page(self, session)

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, EOFError, subprocess.TimeoutExpired):
            pass
        finally:
            # Whatever Chromium left behind (renderers, zygotes) is in the group it leads.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            os.close(self._in)
            os.close(self._out)


class Page:
    def __init__(self, chromium: Chromium, session: str) -> None:
        self.chromium = chromium
        self.session = session

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.chromium.send(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def text(self) -> str:
        return str(self.evaluate(BODY_TEXT))

    def wait_until(self, what: str, expression: str) -> None:
        deadline = time.monotonic() + WAIT
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                pytest.fail(f"STAC Browser never showed {what}; the page said:\n{self.text()}")
            time.sleep(0.2)

    def open_requests(self) -> dict[str, str]:
        """This page's HTTP requests (id: URL) that have started and neither finished nor
        failed yet (the Network domain must be enabled). data: and blob: URLs read no network
        (a worker's script given as a data: URL is never reported finished to the page)."""
        started: dict[str, str] = {}
        ended: set[str] = set()
        for event in self.chromium.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                started[params["requestId"]] = params["request"]["url"]
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                ended.add(params["requestId"])
        return {
            key: url
            for key, url in started.items()
            if key not in ended and url.startswith(("http://", "https://"))
        }

    def settle(self) -> None:
        """Wait until the page has nothing left to report: every request it made has finished
        (or failed, which is then reported), and a console message written now has come back,
        so every event written before it has arrived."""
        self.chromium.pump(
            lambda: not self.open_requests(),
            lambda: f"the end of the page's requests ({sorted(self.open_requests().values())})",
        )
        marker = f"stacgen-settled-{uuid.uuid4().hex}"
        self.evaluate(f"console.log({json.dumps(marker)})")

        def echoed() -> bool:
            return any(
                e.get("method") == "Runtime.consoleAPICalled"
                and marker in json.dumps(e["params"].get("args", []))
                for e in self.chromium.events
            )

        self.chromium.pump(echoed, "the page's console marker")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])


def find_chromium() -> str | None:
    return (
        os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    )


def rgb_of(png: bytes) -> npt.NDArray[np.uint8]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a screenshot is no map
        with MemoryFile(png) as mem, mem.open() as image:
            pixels: npt.NDArray[np.uint8] = image.read()[:3]
    return pixels


def colour_pixels(png: bytes, rgb: tuple[int, int, int], tolerance: int = 3) -> int:
    pixels = rgb_of(png).astype(np.int16)
    target = np.array(rgb, dtype=np.int16).reshape(3, 1, 1)
    return int((np.abs(pixels - target) <= tolerance).all(axis=0).sum())


@pytest.fixture(scope="module", name="chromium")
def chromium_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    exe = find_chromium()
    if exe is None:
        reason = f"Chromium is not installed (apt-get install chromium, or set {CHROMIUM_ENV})"
        missing("browser", reason)
    if find_browser() is None:
        missing("browser", BROWSER_HINT)
    folder = tmp_path_factory.mktemp("chromium")
    chromium = Chromium(exe, folder / "profile", folder / "chromium.log")
    yield chromium
    chromium.close()


def test_item_page_shows_id_classes_thumbnail_and_map(
    chromium: Chromium, serve_catalog: FixtureCatalog
) -> None:
    # The clearest scene: its land blocks keep their exact colour on the map at any zoom.
    item_id = min(
        serve_catalog.item_ids(),
        key=lambda i: serve_catalog.item(i)["properties"]["eo:cloud_cover"],
    )
    page = chromium.new_page()
    with serve(serve_catalog.root, "127.0.0.1", 0) as server:
        assert server.urls.browser is not None
        # STAC Browser opens on the API: the item's page is its API path.
        url = f"{server.urls.browser}#/collections/{constants.COLLECTION_ID}/items/{item_id}"
        page.send("Page.navigate", url=url)
        page.wait_until(f"the item id {item_id}", f"{BODY_TEXT}.includes('{item_id}')")

        # The visual COG, read by the browser with range requests, is drawn in class colours.
        land = next(c.rgb for c in constants.CLASSES if c.name == "land")
        deadline = time.monotonic() + WAIT
        while (drawn := colour_pixels(page.screenshot(), land)) < 2000:
            if time.monotonic() > deadline:
                pytest.fail(f"the map never drew the visual COG ({drawn} land pixels)")
            time.sleep(0.5)

        thumbnail = "i => i.src.endsWith('/thumbnail.png') && i.naturalWidth > 0"
        page.wait_until("the thumbnail", f"[...document.images].some({thumbnail})")
        # The class table is in the classification asset's panel: open it.
        page.wait_until(
            "the classification asset",
            "document.querySelector('button[aria-controls=\"asset-classification\"]') !== null",
        )
        page.evaluate(
            "document.querySelector('button[aria-controls=\"asset-classification\"]').click()"
        )
        titles = json.dumps([c.title for c in constants.CLASSES])
        page.wait_until("the class table", f"{titles}.every(t => {BODY_TEXT}.includes(t))")
        page.wait_until("the panel open", "document.querySelector('.collapsing') === null")
        text = page.text()
        shot = page.screenshot()
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "stac-browser-item.png").write_bytes(shot)

    assert item_id in text
    for c in constants.CLASSES:
        assert c.title in text
        assert c.name in text
    # The colour column: a swatch for each class a picture shows, a blank (white) one for no
    # data (transparent) and not_used (no pixel), whose colours in the authors' maps are lime
    # and red; snow purple, not the dark grey beside the near-black shadows.
    for c in constants.CLASSES:
        assert f"#{c.color_hint}" in text
    assert [c.color_hint for c in constants.CLASSES[:2]] == ["FFFFFF", "FFFFFF"]
    assert constants.CLASSES[7].color_hint == "C456C7"
    for c in constants.CLASSES[:2]:
        assert "#" + "".join(f"{v:02X}" for v in c.rgb) not in text


# Elements of the metadata panels that scroll vertically because their content is taller
# than their box: what a person must scroll inside the page to see.
SCROLL_BOXES = """[...document.querySelectorAll('.metadata *')].filter(e => {
  const style = getComputedStyle(e);
  return ['auto', 'scroll'].includes(style.overflowY) && e.scrollHeight > e.clientHeight + 2;
}).map(e => e.innerText.slice(0, 40))"""


def _shown_number(value: float) -> str:
    """A number as STAC Browser prints it (en locale): up to 4 decimals here, no trailing 0."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def test_item_page_shows_whole_tables_units_and_rounded_scores(
    chromium: Chromium, serve_catalog: FixtureCatalog
) -> None:
    """What a person reads on an item page: every class row and every overview count without a
    scroll box, the covers with their unit, the scores with four decimals, the class table
    saying what it counts; a full-page screenshot is kept (screenshots/)."""
    # The snowiest scene: snow and shadow both have pixels there.
    item_id = max(
        serve_catalog.item_ids(),
        key=lambda i: serve_catalog.item(i)["properties"]["eo:snow_cover"],
    )
    props = serve_catalog.item(item_id)["properties"]
    page = chromium.new_page()
    with serve(serve_catalog.root, "127.0.0.1", 0) as server:
        assert server.urls.browser is not None
        url = f"{server.urls.browser}#/collections/{constants.COLLECTION_ID}/items/{item_id}"
        page.send("Page.navigate", url=url)
        page.wait_until("the item's scores", f"{BODY_TEXT}.includes('Accuracy (k-fold mean)')")
        selector = 'button[aria-controls="asset-classification"]'
        page.wait_until("the classification asset", f"document.querySelector('{selector}')")
        page.evaluate(f"document.querySelector('{selector}').click()")
        page.wait_until("the class table", f"{BODY_TEXT}.includes('Share of pixels')")
        page.wait_until("the panel open", "document.querySelector('.collapsing') === null")
        text = page.text()
        boxes = page.evaluate(SCROLL_BOXES)
        height = page.evaluate("document.documentElement.scrollHeight")
        shot = page.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
        )
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "stac-browser-item-full.png").write_bytes(base64.b64decode(shot["data"]))
    (SCREENSHOTS / "stac-browser-item-full.txt").write_text(text, encoding="utf-8")

    assert boxes == []  # the class table, every class's share and pixels, is shown whole
    classes = serve_catalog.item(item_id)["assets"]["classification"]["classification:classes"]
    assert len(classes) == len(constants.CLASSES)
    for c in classes:  # a row's share of the pixels, then its pixel count (no separators)
        assert f"{_shown_number(c['percentage'])}\u00a0%\t{c['count']}" in text, c["name"]
    assert "Percentage of samples" not in text  # stac-fields' label; they are pixels
    assert "Pixels" in text
    covers = {
        "Cloud Shadow Cover": "alcd:shadow_cover",
        "Water Cover": "alcd:water_cover",
        "Valid Pixels": "alcd:valid_percent",
        "Cloud Cover": "eo:cloud_cover",
    }
    for label, key in covers.items():
        # label, then value and unit (a no-break space between), each on its line
        assert f"{label}\n{_shown_number(props[key])}\u00a0%\n" in text, label
    for name in ("accuracy", "f1_score", "precision", "recall", "specificity"):
        shown = _shown_number(props[f"alcd:{name}"])
        assert len(shown.split(".")[-1]) <= 4
        assert f"(k-fold mean)\n{shown}\n" in text
    assert "ALCD reference mask" in text  # the alcd extension's title, not "Alcd"


def click(page: Page, selector: str, text: str | None = None) -> None:
    """Click the first element matching `selector` (and holding `text`), once it exists."""
    find = f"[...document.querySelectorAll({json.dumps(selector)})]"
    if text is not None:
        find += f".filter(e => e.textContent.includes({json.dumps(text)}))"
    page.wait_until(f"{selector} {text or ''}", f"{find}.length > 0")
    page.evaluate(f"{find}[0].click()")


def type_into(page: Page, selector: str, value: str) -> None:
    """Set an input's value the way typing does (Vue listens to the input event)."""
    page.wait_until(selector, f"document.querySelector({json.dumps(selector)}) !== null")
    page.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
        f"e.value = {json.dumps(value)}; e.dispatchEvent(new Event('input', {{bubbles: true}})); "
        "e.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )


RESULT_IDS = (
    "[...new Set([...document.querySelectorAll('a[href*=\"/items/\"]')]"
    ".map(a => decodeURIComponent(a.getAttribute('href').split('/items/')[1] || ''))"
    ".filter(id => id))]"
)


def test_search_by_cloud_cover_lists_what_pystac_client_finds(
    chromium: Chromium, serve_catalog: FixtureCatalog
) -> None:
    covers = sorted(
        serve_catalog.item(i)["properties"]["eo:cloud_cover"] for i in serve_catalog.item_ids()
    )
    threshold = covers[len(covers) // 2]
    page = chromium.new_page()
    with serve(serve_catalog.root, "127.0.0.1", 0) as server:
        assert server.urls.browser is not None
        expected = sorted(
            i.id
            for i in Client.open(server.urls.api)
            .search(filter=f"eo:cloud_cover < {threshold}", max_items=None)
            .items()
        )
        assert 0 < len(expected) < len(covers)
        page.send("Page.navigate", url=f"{server.urls.browser}#/search")
        page.wait_until("the search form", f"{BODY_TEXT}.includes('Additional filters')")
        click(page, ".queryables .dropdown-toggle")
        click(page, ".queryables .dropdown-item", "eo:cloud_cover")
        click(page, ".queryable-group .op .dropdown-toggle-split")
        click(page, ".queryable-group .op .dropdown-item", "less than")
        type_into(page, ".queryable-group input.value", str(threshold))
        type_into(page, ".limit input", "100")
        click(page, "form.filter button[type=submit]")
        page.wait_until("the results", f"{RESULT_IDS}.length > 0")
        listed = sorted(page.evaluate(RESULT_IDS))
        shot = page.screenshot()
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / "stac-browser-search.png").write_bytes(shot)
        assert listed == expected, page.text()
        # A result opens its item page.
        click(page, f'a[href*="/items/{expected[0]}"]')
        page.wait_until("the item page", f"location.hash.endsWith('/items/{expected[0]}')")
        page.wait_until("the item's id", f"{BODY_TEXT}.includes('{expected[0]}')")


# --- the collection page, as a cloud-mask user first sees it (issue 12) ------------------------
# These drive `stacgen serve` as a subprocess (catalog at /, STAC Browser at /browser/).

# The map's STAC layer and its footprint geometry, read from the Vue component OpenLayers is in.
MAP_POLYGONS = """(() => {
  const el = document.querySelector('.map-container');
  const layer = el && el.__vue__ ? el.__vue__.stacLayer : null;
  if (!layer) return 0;
  let count = 0;
  const walk = l => {
    const source = l.getSource ? l.getSource() : null;
    if (source && source.getFeatures) {
      source.getFeatures().forEach(f => {
        const g = f.getGeometry();
        count += g.getPolygons ? g.getPolygons().length : 1;
      });
    }
    if (l.getLayers) l.getLayers().getArray().forEach(walk);
  };
  walk(layer);
  return count;
})()"""


def our_errors(chromium: Chromium, origin: str) -> list[str]:
    """Console errors, uncaught exceptions and failed loads that are ours: not those of hosts
    the page reaches outside `origin` (the base map's tiles, unreachable offline)."""
    found = []
    for event in chromium.events:
        params = event.get("params", {})
        if event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            url = entry.get("url") or ""
            if not url or url.startswith(origin):
                found.append(f"{entry['text']} ({url})")
        elif event.get("method") == "Runtime.exceptionThrown":
            found.append(json.dumps(params["exceptionDetails"])[:300])
        elif event.get("method") == "Runtime.consoleAPICalled" and params["type"] == "error":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            if "openstreetmap" not in text:
                found.append(text[:300])
    return found


def _tiles(items: list[dict[str, Any]]) -> set[str]:
    return {
        f"{i['properties']['mgrs:utm_zone']}{i['properties']['mgrs:latitude_band']}"
        f"{i['properties']['mgrs:grid_square']}"
        for i in items
    }


def _catalog_items(catalog: Path) -> list[dict[str, Any]]:
    folder = catalog / constants.COLLECTION_ID
    return [
        json.loads((p / f"{p.name}.json").read_text())
        for p in sorted(folder.iterdir())
        if (p / f"{p.name}.json").is_file()
    ]


def test_collection_page_shows_covers_footprints_and_markdown(
    chromium: Chromium, built_catalog: Path
) -> None:
    items = _catalog_items(built_catalog)
    page = chromium.new_page()
    for domain in ("Runtime.enable", "Log.enable", "Network.enable"):
        page.send(domain)
    with stacgen_serve(built_catalog) as origin:
        page.send(
            # STAC Browser opens on the API: the collection's page is its API path.
            "Page.navigate",
            url=f"{origin}/browser/#/collections/{constants.COLLECTION_ID}",
        )
        # Item cards: each item's title, with its cloud and snow cover (item description).
        covers = [
            f"Cloud cover {i['properties']['eo:cloud_cover']:.1f} %, "
            f"snow cover {i['properties']['eo:snow_cover']:.1f} %"
            for i in items
        ]
        cards = "[...document.querySelectorAll('.item-card')].map(c => c.innerText).join('\\n')"
        first = json.dumps([items[0]["properties"]["title"], covers[0]])
        page.wait_until("the first item card", f"{first}.every(t => ({cards}).includes(t))")
        # The map draws one outline per MGRS tile (the collection's per-tile bboxes).
        page.wait_until(
            "the tiles on the collection map", f"{MAP_POLYGONS} >= {len(_tiles(items))}"
        )
        description = page.evaluate("document.querySelector('.styled-description').textContent")
        rendered_list = page.evaluate(
            "document.querySelectorAll('.styled-description li code').length"
        )
        for item in items:  # every card, once it has scrolled into view and loaded
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            title = json.dumps(item["properties"]["title"])
            page.wait_until(f"the card of {item['id']}", f"({cards}).includes({title})")
        text = page.evaluate(cards)
        page.settle()
        errors = our_errors(chromium, origin)
        page.evaluate("window.scrollTo(0, 0)")
        shot = page.screenshot()
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "stac-browser-collection.png").write_bytes(shot)

    assert "|---|" not in description
    assert "| value |" not in description
    assert rendered_list >= len(constants.CLASSES)  # the class list is a Markdown list
    for cover in covers:
        assert cover in text
    assert errors == []


def test_item_page_has_no_console_errors_of_ours(chromium: Chromium, built_catalog: Path) -> None:
    item = _catalog_items(built_catalog)[0]
    page = chromium.new_page()
    for domain in ("Runtime.enable", "Log.enable", "Network.enable"):
        page.send(domain)
    chromium.events.clear()
    with stacgen_serve(built_catalog) as origin:
        url = f"{origin}/browser/#/collections/{constants.COLLECTION_ID}/items/{item['id']}"
        page.send("Page.navigate", url=url)
        page.wait_until("the item title", f"{BODY_TEXT}.includes({json.dumps(item['id'])})")
        thumbnail = "i => i.src.endsWith('/thumbnail.png') && i.naturalWidth > 0"
        page.wait_until("the thumbnail", f"[...document.images].some({thumbnail})")
        page.wait_until("the item on the map", f"{MAP_POLYGONS} >= 1")
        page.settle()
        errors = our_errors(chromium, origin)
    assert errors == []
