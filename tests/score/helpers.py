"""Helpers of the score tests: masks made from a reference with known edits, the numbers the
tests expect computed independently with numpy, and a static HTTP server with Range support.

Group codes here are the test's own (independent of stacgen.score.codes): 0 no data, 1 clear,
2 cloud, 3 shadow.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine

from stacgen import constants

U8 = npt.NDArray[np.uint8]
ND, CLEAR, CLOUD, SHADOW = 0, 1, 2, 3
ITEM = "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209"  # 31TFJ, has shadows

# One native value per group for each built-in table, read off the table descriptions.
ENCODE: dict[str, dict[int, int]] = {
    "sen2cor": {ND: 0, CLEAR: 4, CLOUD: 9, SHADOW: 3},
    "fmask4": {ND: 255, CLEAR: 0, CLOUD: 4, SHADOW: 2},
    "python-fmask": {ND: 0, CLEAR: 1, CLOUD: 2, SHADOW: 3},
    # Theia: bit 0 (any) + bit 1 clouds, bit 0 + bit 5 shadows; no no-data value in CLM.
    "maja-theia": {CLEAR: 0, CLOUD: 0b11, SHADOW: 0b100001},
    # native: bit 0 + bit 7 high clouds, bit 0 + bit 2 shadows.
    "maja-native": {CLEAR: 0, CLOUD: 0b10000001, SHADOW: 0b101},
    "s2cloudless": {CLEAR: 0, CLOUD: 1},
    "cloudsen12": {CLEAR: 0, CLOUD: 1, SHADOW: 3},
    "kappamask": {ND: 0, CLEAR: 1, CLOUD: 4, SHADOW: 2},
    "alcd": {ND: 0, CLEAR: 5, CLOUD: 2, SHADOW: 4},
}


def item_dir(catalog: Path, item_id: str = ITEM) -> Path:
    return catalog / constants.COLLECTION_ID / item_id


def item_json(catalog: Path, item_id: str = ITEM) -> Path:
    return item_dir(catalog, item_id) / f"{item_id}.json"


@dataclass(frozen=True)
class Ref:
    values: U8
    transform: Affine
    crs: Any


def read_reference(catalog: Path, item_id: str = ITEM) -> Ref:
    with rasterio.open(item_dir(catalog, item_id) / "classification.tif") as src:
        return Ref(src.read(1), src.transform, src.crs)


def alcd_groups(values: U8, class_1_clear: bool = False) -> U8:
    """ALCD classes -> groups, as ALCD.md and the issue define them."""
    out = np.zeros(values.shape, np.uint8)
    out[np.isin(values, (2, 3))] = CLOUD
    out[values == 4] = SHADOW
    out[np.isin(values, (5, 6, 7) + ((1,) if class_1_clear else ()))] = CLEAR
    return out


def edit(groups: U8, k: int, seed: int = 7) -> U8:
    """K cloud pixels flipped to clear and K clear pixels to shadow, at random places."""
    rng = np.random.default_rng(seed)
    out = groups.copy()
    cloud = np.flatnonzero(groups == CLOUD)
    clear = np.flatnonzero(groups == CLEAR)
    out.flat[rng.choice(cloud, k, replace=False)] = CLEAR
    out.flat[rng.choice(clear, k, replace=False)] = SHADOW
    return out


def encode(groups: U8, table: str) -> U8:
    lut = np.zeros(4, np.uint8)
    for g, v in ENCODE[table].items():
        lut[g] = v
    return lut[groups]


def write_mask(path: Path, values: npt.NDArray[Any], ref: Ref, factor: int, **kw: Any) -> Path:
    """`values` on the reference grid, each cell repeated factor x factor (a finer mask)."""
    fine = np.repeat(np.repeat(values, factor, 0), factor, 1)
    t = ref.transform
    transform = Affine(t.a / factor, 0, t.c, 0, t.e / factor, t.f)
    profile = dict(
        driver="GTiff",
        width=fine.shape[1],
        height=fine.shape[0],
        count=1,
        dtype=fine.dtype,
        crs=ref.crs,
        transform=transform,
    )
    profile.update(kw)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(fine, 1)
    return path


def expected(ref_g: U8, user_g: U8) -> dict[str, dict[str, int]]:
    """The three confusion matrices, straight from the definitions, pixel by pixel."""
    valid = (ref_g != ND) & (user_g != ND)
    out = {}
    for name, positive, ref_set in (
        ("invalid", (CLOUD, SHADOW), (CLEAR, CLOUD, SHADOW)),
        ("cloud", (CLOUD,), (CLEAR, CLOUD)),
        ("shadow", (SHADOW,), (CLEAR, SHADOW)),
    ):
        considered = valid & np.isin(ref_g, ref_set)
        rp, up = np.isin(ref_g, positive), np.isin(user_g, positive)
        out[name] = {
            "tp": int((considered & rp & up).sum()),
            "fp": int((considered & ~rp & up).sum()),
            "fn": int((considered & rp & ~up).sum()),
            "tn": int((considered & ~rp & ~up).sum()),
        }
    return out


def got(result: Any) -> dict[str, dict[str, int]]:
    return {
        name: {k: getattr(c.confusion, k) for k in ("tp", "fp", "fn", "tn")}
        for name, c in result.comparisons.items()
    }


# --- a static file server with Range support, counting what it serves ----------------------
@dataclass
class Served:
    url: str
    # (method, path, Range header, status) of each request
    requests: list[tuple[str, str, str | None, int]] = field(default_factory=list)


_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def _handler(root: Path, log: Served) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._send(head=True)

        def do_GET(self) -> None:
            self._send(head=False)

        def _send(self, head: bool) -> None:
            path = root / self.path.split("?")[0].lstrip("/")
            header = self.headers.get("Range")
            if not path.is_file():
                log.requests.append((self.command, self.path, header, 404))
                self.send_error(404)
                return
            data = path.read_bytes()
            status, body = 200, data
            m = _RANGE.match(header or "")
            if m:
                start = int(m[1])
                end = min(int(m[2]) if m[2] else len(data) - 1, len(data) - 1)
                status, body = 206, data[start : end + 1]
            log.requests.append((self.command, self.path, header, status))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            ctype = "application/json" if path.suffix == ".json" else "application/octet-stream"
            self.send_header("Content-Type", ctype)
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


@contextmanager
def static_server(root: Path) -> Iterator[Served]:
    log = Served("")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, log))
    log.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield log
    finally:
        server.shutdown()
        server.server_close()
