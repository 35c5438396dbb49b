"""stacgen.ml.chips: chips against the COGs read by rasterio at the same coordinates."""

from __future__ import annotations

import json
import multiprocessing
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
import rasterio.env
from affine import Affine

from stacgen import constants
from stacgen.ml import IGNORE_INDEX, Chips, ChipsError
from stacgen.testing.imagery_chips import write_imagery
from tests.ml.helpers import ALCD_INDEX, SPLITS, band_path, item_split, label_path, read_at


def test_label_equals_the_label_cog_at_the_same_coordinates(label_grid_catalog: Path) -> None:
    chips = Chips(label_grid_catalog, split="train", grid=60, size=64, min_valid=0.0)
    assert len(chips) > 0
    for i in range(len(chips)):
        sample = chips[i]
        labels = read_at(label_path(label_grid_catalog, sample["item"]), sample)
        expected = np.vectorize(ALCD_INDEX.__getitem__)(labels)
        assert sample["mask"].dtype == np.int64
        assert sample["mask"].shape == (64, 64)
        np.testing.assert_array_equal(sample["mask"], expected)


def test_image_equals_the_imagery_cogs_at_the_same_window(label_grid_catalog: Path) -> None:
    chips = Chips(label_grid_catalog, split="train", bands=["B05", "B01"], size=64)
    assert len(chips) > 0
    for i in range(len(chips)):
        sample = chips[i]
        assert sample["image"].dtype == np.float32
        assert sample["image"].shape == (2, 64, 64)
        for b, band in enumerate(("B05", "B01")):
            dn = read_at(band_path(label_grid_catalog, sample["item"], band), sample)
            np.testing.assert_allclose(sample["image"][b], dn / 10000, rtol=1e-6, atol=0)


def test_the_window_is_on_the_items_grid(label_grid_catalog: Path) -> None:
    chips = Chips(label_grid_catalog, split="test", size=50, stride=40, min_valid=0.0)
    assert len(chips) > 0
    for i in range(len(chips)):
        sample = chips[i]
        row, col, height, width = sample["window"]
        item = json.loads(
            (
                label_grid_catalog
                / constants.COLLECTION_ID
                / sample["item"]
                / f"{sample['item']}.json"
            ).read_text()
        )
        props = item["properties"]
        t = Affine(*props["proj:transform"][:6])
        assert sample["crs"] == props["proj:code"]
        assert Affine(*sample["transform"]) == t * Affine.translation(col, row)
        assert (height, width) == (50, 50)
        assert 0 <= row <= props["proj:shape"][0] - 50
        assert 0 <= col <= props["proj:shape"][1] - 50


def test_windows_cover_each_item_and_stay_inside(label_grid_catalog: Path) -> None:
    chips = Chips(label_grid_catalog, split="train", size=64, stride=64, min_valid=0.0)
    by_item: dict[str, set[tuple[int, int]]] = {}
    for w in chips.windows:
        by_item.setdefault(w.scene.item_id, set()).add((w.row, w.col))
    assert by_item
    for places in by_item.values():  # 183 px: 0, 64 and the last one flush with the edge
        assert places == {(r, c) for r in (0, 64, 119) for c in (0, 64, 119)}


def test_min_valid_drops_chips_with_too_much_no_data(label_grid_catalog: Path) -> None:
    every = Chips(label_grid_catalog, split="train", size=32, min_valid=0.0, seed=None)
    kept = Chips(label_grid_catalog, split="train", size=32, min_valid=0.9, seed=None)
    assert 0 < len(kept) < len(every)
    shares = {}
    for i in range(len(every)):
        sample = every[i]
        labels = read_at(label_path(label_grid_catalog, sample["item"]), sample)
        shares[(sample["item"], sample["window"])] = float(np.isin(labels, range(2, 8)).mean())
    kept_places = {(w.scene.item_id, w.window) for w in kept.windows}
    assert kept_places == {place for place, share in shares.items() if share >= 0.9}


def test_no_item_in_two_splits(label_grid_catalog: Path) -> None:
    items = {
        split: {w.scene.item_id for w in Chips(label_grid_catalog, split, size=64).windows}
        for split in SPLITS
    }
    assert all(items.values())
    assert not items["train"] & items["validate"]
    assert not items["train"] & items["test"]
    assert not items["validate"] & items["test"]
    for split, ids in items.items():
        assert {item_split(label_grid_catalog, i) for i in ids} == {split}


def test_same_seed_same_chips_other_seed_other_order(label_grid_catalog: Path) -> None:
    def places(seed: int | None) -> list[tuple[str, tuple[int, int, int, int]]]:
        chips = Chips(label_grid_catalog, split="train", size=32, seed=seed)
        return [(w.scene.item_id, w.window) for w in chips.windows]

    assert len(places(0)) > 2
    assert places(0) == places(0)
    assert places(1) != places(0)
    assert sorted(places(1)) == sorted(places(0)) == sorted(places(None))


def test_class_counts_come_from_the_items(label_grid_catalog: Path) -> None:
    chips = Chips(label_grid_catalog, split="train", classes="binary")
    ids = {s.item_id for s in chips.scenes}
    assert ids
    expected = np.zeros(2, dtype=np.int64)
    for item_id in ids:
        with rasterio.open(label_path(label_grid_catalog, item_id)) as src:
            counts = np.bincount(src.read(1).ravel(), minlength=8)
        expected += [counts[5:8].sum(), counts[2:5].sum()]
    np.testing.assert_array_equal(chips.class_counts(), expected)
    weights = chips.class_weights()
    assert weights.shape == (2,)
    assert weights[0] * expected[0] == pytest.approx(weights[1] * expected[1], rel=1e-5)


def test_a_pickled_dataset_reads_the_same_chips(label_grid_catalog: Path) -> None:
    chips = Chips(label_grid_catalog, split="validate", size=64)
    assert len(chips) > 0
    first = chips[0]  # opens datasets: the pickle must not carry them
    copy = pickle.loads(pickle.dumps(chips))
    again = copy[0]
    np.testing.assert_array_equal(again["image"], first["image"])
    np.testing.assert_array_equal(again["mask"], first["mask"])


def _chip_keys(chips: Chips, indices: list[int], out: str) -> None:
    keys = []
    for index in indices:
        sample = chips[index]
        keys.append(
            [sample["item"], list(sample["window"]), int((sample["mask"] != IGNORE_INDEX).sum())]
        )
    Path(out).write_text(json.dumps(keys))


def _gdal_cache(chips: Chips, indices: list[int], out: str) -> None:
    chips[indices[0]]
    Path(out).write_text(json.dumps(int(rasterio.env.get_gdal_config("GDAL_CACHEMAX"))))


def _in_children(
    method: str, target: Any, chips: Chips, parts: list[list[int]], tmp: Path
) -> list[Any]:
    """Each part in its own child process; their answers, read from files.

    Plain processes and files, not a Pool: a Pool's queues and handler threads share locks with
    the parent, and a fork taken while a tracer thread (coverage) holds one hangs the child.
    """
    context: Any = multiprocessing.get_context(method)
    outs = [tmp / f"{method}-{k}.json" for k in range(len(parts))]
    children = [
        context.Process(target=target, args=(chips, part, str(out)))
        for part, out in zip(parts, outs, strict=True)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        if child.is_alive():
            child.kill()
            pytest.fail(f"a {method} child did not finish within 120 s")
        assert child.exitcode == 0
    return [json.loads(out.read_text()) for out in outs]


def test_two_worker_processes_yield_every_chip_once(
    label_grid_catalog: Path, tmp_path: Path
) -> None:
    chips = Chips(label_grid_catalog, split="train", size=64)
    assert len(chips) > 2
    chips[0]  # the parent's open datasets must not be used by forked workers
    indices = list(range(len(chips)))
    halves = _in_children("fork", _chip_keys, chips, [indices[0::2], indices[1::2]], tmp_path)
    keys = [(item, tuple(window), valid) for half in halves for item, window, valid in half]
    assert len(set(keys)) == len(chips)
    assert {(k[0], k[1]) for k in keys} == {(w.scene.item_id, w.window) for w in chips.windows}


def test_a_worker_holds_gdals_block_cache_small(
    label_grid_catalog: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    chips = Chips(label_grid_catalog, split="train", size=64)
    assert len(chips) > 1
    chips[0]
    forked = _in_children("fork", _gdal_cache, chips, [[1]], tmp_path)
    spawned = _in_children("spawn", _gdal_cache, chips, [[1]], tmp_path)
    assert forked == spawned == [128]  # MiB: not 5% of the RAM


def test_a_torch_dataloader_with_two_workers_yields_every_chip_once(
    label_grid_catalog: Path,
) -> None:
    import torch  # a dev dependency (pyproject.toml): never skipped

    chips = Chips(label_grid_catalog, split="train", bands=["B02"], size=64)
    assert len(chips) > 2
    # torch's annotation asks for a Dataset subclass; any map-style object works as it is.
    # timeout: a worker that hangs fails the test in 120 s, not at pytest's 600.
    loader: Any = torch.utils.data.DataLoader(
        chips,  # type: ignore[arg-type]
        batch_size=3,
        num_workers=2,
        timeout=120,
    )
    seen = []
    for batch in loader:
        assert batch["image"].dtype == torch.float32
        assert batch["mask"].dtype == torch.int64
        rows, cols, heights, widths = (t.tolist() for t in batch["window"])
        seen += list(zip(batch["item"], zip(rows, cols, heights, widths, strict=True), strict=True))
    assert sorted(seen) == sorted((w.scene.item_id, w.window) for w in chips.windows)


def test_missing_imagery_names_the_items_and_the_fetch_command(bare_catalog: Path) -> None:
    with pytest.raises(ChipsError) as err:
        Chips(bare_catalog, split="train")
    message = str(err.value)
    assert "\n" not in message
    train = [
        i
        for i in sorted(p.name for p in (bare_catalog / constants.COLLECTION_ID).iterdir())
        if (bare_catalog / constants.COLLECTION_ID / i / f"{i}.json").is_file()
        and item_split(bare_catalog, i) == "train"
    ]
    assert train
    for item_id in train:
        assert item_id in message
    assert f"stacgen imagery fetch {bare_catalog} --provider NAME --split train" in message


def test_some_items_without_imagery_are_named(bare_catalog: Path) -> None:
    folder = bare_catalog / constants.COLLECTION_ID
    train = sorted(
        p.name
        for p in folder.iterdir()
        if (p / f"{p.name}.json").is_file() and item_split(bare_catalog, p.name) == "train"
    )
    assert len(train) >= 2
    write_imagery(bare_catalog, grid="label", items=train[1:])
    with pytest.raises(ChipsError, match=f"no imagery for 1 item.*{train[0]}"):
        Chips(bare_catalog, split="train")


def test_missing_bands_are_named(label_grid_catalog: Path) -> None:
    with pytest.raises(ChipsError, match="--bands B03,B04"):
        Chips(label_grid_catalog, split="train", bands=["B03", "B04"])


def test_bad_parameters_are_one_line(label_grid_catalog: Path, tmp_path: Path) -> None:
    for kwargs, text in (
        ({"split": "training"}, "split 'training'"),
        ({"grid": 30}, "grid 30"),
        ({"classes": "four"}, "classes 'four'"),
        ({"min_valid": 2.0}, "min_valid 2.0"),
        ({"bands": ["B13"]}, "B13"),
    ):
        with pytest.raises(ChipsError, match=text):
            Chips(label_grid_catalog, **kwargs)
    with pytest.raises(ChipsError, match=r"no catalog\.json"):
        Chips(tmp_path)


def test_default_bands_are_those_every_item_has(label_grid_catalog: Path) -> None:
    assert Chips(label_grid_catalog, split="test").bands == ("B01", "B02", "B05")


def label_cells_repeated(catalog: Path, sample: dict[str, Any], factor: int) -> npt.NDArray[Any]:
    """The label under a chip at 60 m / `factor`: the covering 60 m cells read by rasterio,
    each repeated `factor` x `factor` times (numpy.repeat), cropped to the chip."""
    row, col, height, width = sample["window"]
    r0, c0 = row // factor, col // factor
    r1, c1 = -(-(row + height) // factor), -(-(col + width) // factor)
    with rasterio.open(label_path(catalog, sample["item"])) as src:
        cells = src.read(1, window=rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0))
    fine = np.repeat(np.repeat(cells, factor, axis=0), factor, axis=1)
    return fine[row - r0 * factor : row - r0 * factor + height, col - c0 * factor :][:, :width]


@pytest.mark.parametrize(("grid", "factor"), [(20, 3), (10, 6)])
def test_each_label_cell_covers_exactly_its_block(
    native_catalog: Path, grid: int, factor: int
) -> None:
    chips = Chips(native_catalog, split="train", bands=["B01"], grid=grid, size=100, stride=97)
    assert len(chips) > 0
    assert any(w.row % factor or w.col % factor for w in chips.windows)  # not on cell edges
    for i in range(len(chips)):
        sample = chips[i]
        expected = np.vectorize(ALCD_INDEX.__getitem__)(
            label_cells_repeated(native_catalog, sample, factor)
        )
        np.testing.assert_array_equal(sample["mask"], expected)


def block_mean_of_valid(dn: npt.NDArray[Any], k: int) -> npt.NDArray[np.float64]:
    blocks = dn.reshape(dn.shape[0] // k, k, dn.shape[1] // k, k).astype(np.float64)
    n = (blocks > 0).sum(axis=(1, 3))
    return np.where(n > 0, blocks.sum(axis=(1, 3)) / np.maximum(n, 1), 0.0)


def test_native_bands_at_20_m(native_catalog: Path) -> None:
    chips = Chips(native_catalog, split="test", bands=["B02", "B05", "B01"], grid=20, size=60)
    assert len(chips) > 0
    for i in range(len(chips)):
        sample = chips[i]
        row, col, _, _ = sample["window"]
        image = sample["image"].astype(np.float64) * 10000
        # B05 is at 20 m: the same pixels
        b05 = read_at(band_path(native_catalog, sample["item"], "B05"), sample)
        np.testing.assert_allclose(image[1], b05, rtol=1e-6)
        # B02 at 10 m: the mean of each 2 x 2 block's valid pixels
        with rasterio.open(band_path(native_catalog, sample["item"], "B02")) as src:
            b02 = src.read(1, window=rasterio.windows.Window(col * 2, row * 2, 120, 120))
        np.testing.assert_allclose(image[0], block_mean_of_valid(b02, 2), rtol=1e-6)
        # B01 at 60 m: each cell repeated over its 3 x 3 pixels, like the label
        with rasterio.open(band_path(native_catalog, sample["item"], "B01")) as src:
            r0, c0 = row // 3, col // 3
            cells = src.read(1, window=rasterio.windows.Window(c0, r0, 21, 21))
        fine = np.repeat(np.repeat(cells, 3, axis=0), 3, axis=1)
        dr, dc = row - 3 * r0, col - 3 * c0
        np.testing.assert_allclose(image[2], fine[dr : dr + 60, dc : dc + 60], rtol=1e-6)


def test_native_bands_at_60_m_are_averaged_over_valid_pixels(native_catalog: Path) -> None:
    chips = Chips(native_catalog, split="validate", bands=["B02", "B05"], grid=60, size=40)
    assert len(chips) > 0
    for i in range(len(chips)):
        sample = chips[i]
        row, col, _, _ = sample["window"]
        image = sample["image"].astype(np.float64) * 10000
        for b, (band, k) in enumerate((("B02", 6), ("B05", 3))):
            with rasterio.open(band_path(native_catalog, sample["item"], band)) as src:
                dn = src.read(1, window=rasterio.windows.Window(col * k, row * k, 40 * k, 40 * k))
            np.testing.assert_allclose(image[b], block_mean_of_valid(dn, k), rtol=1e-6)


def test_label_grid_imagery_at_20_m_says_to_fetch_native(label_grid_catalog: Path) -> None:
    with pytest.raises(ChipsError, match=r"on the 60 m label grid only.*--grid native"):
        Chips(label_grid_catalog, split="train", grid=20)
