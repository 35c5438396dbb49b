"""stacgen masks fetch sen2cor against a fake L2A STAC API and COG server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from stacgen.cli import main
from stacgen.masks.errors import MasksError
from stacgen.masks.l2a import Settings
from stacgen.masks.sen2cor import fetch
from stacgen.score import match_masks, score_mask
from tests.bounded import finishes_within
from tests.fake_zenodo import running_server
from tests.masks.fake_l2a import FakeL2A

LABELS = "alcd-reference-cloud-masks"


def _labels(catalog: Path) -> list[tuple[dict[str, Any], Path]]:
    found = []
    for path in sorted((catalog / LABELS).glob("*/*.json")):
        if path.stem == path.parent.name:
            item = json.loads(path.read_text())
            found.append((item, path.parent / item["assets"]["classification"]["href"]))
    return found


@pytest.fixture
def fake() -> Iterator[FakeL2A]:
    with running_server() as server:
        yield FakeL2A(server).start()


def _read(path: Path) -> tuple[np.ndarray, dict[str, str], Any]:
    with rasterio.open(path) as src:
        return src.read(1), src.tags(), src.transform


def test_scl_window_of_the_same_datatake(
    built_catalog: Path, fake: FakeL2A, tmp_path: Path
) -> None:
    labels = _labels(built_catalog)
    assert len(labels) >= 3
    (a, a_path), (b, b_path), (c, _) = labels[:3]
    # a: Collection-1 in c1-l2a, and a decoy of another orbit the same day; b: only the older
    # collection, two reprocessings; c: nowhere
    _, a_scl, _ = fake.add(
        "sentinel-2-c1-l2a", a, a_path, baseline="05.00", generated="20230101T000000"
    )
    fake.add(
        "sentinel-2-c1-l2a", a, a_path, baseline="05.10", generated="20240101T000000", orbit_shift=1
    )
    fake.add("sentinel-2-l2a", b, b_path, baseline="02.07", generated="20180101T000000")
    _, b_scl, _ = fake.add(
        "sentinel-2-l2a", b, b_path, baseline="02.08", generated="20190101T000000"
    )
    settings = Settings(api=fake.api, timeout=5)
    ids = [a["id"], b["id"], c["id"]]
    run = fetch("earth-search", built_catalog, tmp_path / "scl", items=ids, settings=settings)
    assert [f.item_id for f in run.masks] == ids[:2]
    assert list(run.missing) == [c["id"]]
    assert "no L2A item of datatake" in run.missing[c["id"]]
    values, tags, transform = _read(run.masks[0].path)
    np.testing.assert_array_equal(values, a_scl)  # the label window, values unchanged
    with rasterio.open(a_path) as label:
        assert transform.c == label.transform.c
        assert transform.f == label.transform.f
        assert transform.a == pytest.approx(label.transform.a / 3)
    assert tags["L2A_PROCESSING_BASELINE"] == "05.00"
    assert tags["L2A_GENERATION_TIME"] == "2023-01-01T00:00:00Z"
    assert "not the Sen2Cor 2.5.5" in tags["NOTE"]
    b_values, b_tags, _ = _read(run.masks[1].path)
    np.testing.assert_array_equal(b_values, b_scl)
    assert b_tags["L2A_PROCESSING_BASELINE"] == "02.08"  # the later reprocessing
    assert fake.ranges  # read by byte ranges
    assert all(s["bbox"] == lab["bbox"] for s, lab in zip(fake.searches, [a, b], strict=False))
    manifest = json.loads((tmp_path / "scl" / "manifest.json").read_text())
    # the decoy of another orbit is not a candidate: identity is the datatake, not the day
    assert len(manifest["items"][0]["l2a"]["candidates"]) == 1
    assert "not the Sen2Cor 2.5.5" in manifest["note"]
    assert list(manifest["missing"]) == [c["id"]]


def test_scored_as_sen2cor(built_catalog: Path, fake: FakeL2A, tmp_path: Path) -> None:
    (a, a_path), *_ = _labels(built_catalog)
    fake.add("sentinel-2-c1-l2a", a, a_path, baseline="05.00", generated="20230101T000000")
    run = fetch(
        "earth-search",
        built_catalog,
        tmp_path / "scl",
        items=[a["id"]],
        settings=Settings(api=fake.api, timeout=5),
    )
    mask = str(run.masks[0].path)
    assert match_masks([mask], built_catalog / "catalog.json")[0].item.id == a["id"]
    score = score_mask(mask, "sen2cor", str(built_catalog / LABELS / a["id"] / f"{a['id']}.json"))
    # the fake SCL is the reference's own classes: every valid pixel agrees
    confusion = score.comparisons["invalid"].confusion
    assert confusion.n > 0
    assert confusion.fp == confusion.fn == 0


def test_planetary_computer_reads_with_its_token(
    built_catalog: Path, fake: FakeL2A, tmp_path: Path
) -> None:
    (a, a_path), *_ = _labels(built_catalog)
    fake.token = "st=2026&sig=fake"
    _, scl, _ = fake.add(
        "sentinel-2-l2a", a, a_path, baseline="02.12", generated="20201006T080531", planetary=True
    )
    settings = Settings(api=fake.api, sas=fake.server.url_for("/sas"), timeout=5)
    run = fetch(
        "planetary-computer", built_catalog, tmp_path / "scl", items=[a["id"]], settings=settings
    )
    values, tags, _ = _read(run.masks[0].path)
    np.testing.assert_array_equal(values, scl)
    assert "sig=" not in tags["SCL_HREF"]  # the token is never written down


def test_nothing_found_writes_nothing(built_catalog: Path, fake: FakeL2A, tmp_path: Path) -> None:
    (a, _), *_ = _labels(built_catalog)
    with pytest.raises(MasksError, match="no L2A found for any item"):
        fetch(
            "earth-search",
            built_catalog,
            tmp_path / "scl",
            items=[a["id"]],
            settings=Settings(api=fake.api, timeout=5),
        )
    assert list(tmp_path.iterdir()) == []


def test_cli(built_catalog: Path, fake: FakeL2A, tmp_path: Path) -> None:
    (a, a_path), *_ = _labels(built_catalog)
    fake.add("sentinel-2-c1-l2a", a, a_path, baseline="05.00", generated="20230101T000000")
    out = tmp_path / "scl"
    args = [
        "masks",
        "fetch",
        "sen2cor",
        str(built_catalog),
        "--provider",
        "earth-search",
        "--items",
        a["id"],
        "--api",
        fake.api,
        "--out",
        str(out),
        "--timeout",
        "5",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "baseline 05.00, generated 2023-01-01T00:00:00Z" in result.output
    assert (out / f"{a['id']}_sen2cor.tif").is_file()


def test_an_api_that_never_answers_is_one_line(built_catalog: Path, tmp_path: Path) -> None:
    import socket

    (a, _), *_ = _labels(built_catalog)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        api = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        settings = Settings(api=api, timeout=1)

        def call() -> str:
            with pytest.raises(MasksError) as err:
                fetch(
                    "earth-search",
                    built_catalog,
                    tmp_path / "scl",
                    items=[a["id"]],
                    settings=settings,
                )
            return str(err.value)

        message = finishes_within(60, call)
    assert message.startswith(f"{api}/search: ")
    assert "Timeout" in message or "Connection" in message
    assert not (tmp_path / "scl").exists()


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("<html>", "malformed JSON (Expecting value"),
        ("[]", "malformed JSON (expected an object)"),
        ('{"features": ' + "[" * 100_000 + "]" * 100_000 + "}", "malformed JSON (nested too deep)"),
    ],
)
def test_an_api_answer_that_is_not_a_json_object_is_one_line(
    built_catalog: Path, tmp_path: Path, httpserver: Any, body: str, said: str
) -> None:
    # The same check as a JSON file's and the imagery providers' (fileutil.json_object).
    (a, _), *_ = _labels(built_catalog)
    httpserver.expect_request("/api/search", method="POST").respond_with_data(body)
    settings = Settings(api=httpserver.url_for("/api"), timeout=5)
    with pytest.raises(MasksError) as err:
        fetch("earth-search", built_catalog, tmp_path / "scl", items=[a["id"]], settings=settings)
    assert str(err.value).startswith(f"{httpserver.url_for('/api/search')}: {said}")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "scl").exists()
