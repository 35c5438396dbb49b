"""`stacgen imagery fetch` on the command line: its summary, --dry-run, bad input in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stacgen import constants
from stacgen.cli import main
from stacgen.testing.safe import write_safes_for_catalog


@pytest.fixture
def catalog(built_catalog: Path, tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(built_catalog, root)
    return root


def _first(root: Path) -> str:
    return sorted(p.name for p in (root / constants.COLLECTION_ID).iterdir() if p.is_dir())[0]


def _args(root: Path, safes: Path, *more: str) -> list[str]:
    return ["imagery", "fetch", str(root), "--provider", "safe", "--safe-dir", str(safes), *more]


def test_fetch_then_up_to_date(catalog: Path, tmp_path: Path, schemas: Path) -> None:
    item_id = _first(catalog)
    write_safes_for_catalog(catalog, tmp_path / "safes", items=[item_id], bands=["B02", "B03"])
    args = _args(catalog, tmp_path / "safes", "--items", item_id, "--bands", "B2,B03", "--quiet")
    first = CliRunner().invoke(main, [*args, "--schemas", str(schemas)])
    assert first.exit_code == 0, first.output
    assert "1 item(s): 1 fetched, 0 resumed, 0 up to date" in first.output
    again = CliRunner().invoke(main, [*args, "--schemas", str(schemas)])
    assert "1 item(s): 0 fetched, 0 resumed, 1 up to date" in again.output
    dry = CliRunner().invoke(main, [*args, "--dry-run", "--schemas", str(schemas)])
    assert dry.exit_code == 0
    assert dry.output.splitlines()[0].startswith(f"{item_id}: up to date from safe ")


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--bands", "B13"], "Error: --bands: 'B13' is not a Sentinel-2 band (B01 ... B12, B8A)"),
        (["--items", "a", "--split", "test"], "Error: --items and --split: choose one"),
        (["--items", "nope"], "Error: --items: no label item nope in the catalog"),
        (["--split", "nope"], "Error: --split: no item in split 'nope' (splits: "),
    ],
)
def test_bad_input_is_one_line(
    catalog: Path, tmp_path: Path, schemas: Path, more: list[str], message: str
) -> None:
    (tmp_path / "safes").mkdir()
    result = CliRunner().invoke(
        main, [*_args(catalog, tmp_path / "safes", *more), "--schemas", str(schemas)]
    )
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1


def test_an_unknown_provider_names_the_known_ones(catalog: Path, schemas: Path) -> None:
    result = CliRunner().invoke(
        main, ["imagery", "fetch", str(catalog), "--provider", "ftp", "--schemas", str(schemas)]
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: --provider: 'ftp' is not a provider (known: safe, gcs, earth-search, cdse)\n"
    )


def test_items_not_found_are_listed_one_line_each(
    catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    (tmp_path / "safes").mkdir()
    result = CliRunner().invoke(
        main, [*_args(catalog, tmp_path / "safes"), "--schemas", str(schemas)]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    count = len([p for p in (catalog / constants.COLLECTION_ID).iterdir() if p.is_dir()])
    assert len(lines) == count + 1
    assert all(": no SAFE of " in line for line in lines[:-1])
    assert lines[-1].startswith(f"Error: fetch failed for {count} item(s); ")
