"""`stacgen download` against a hostile Zenodo answer and a hostile saved record (issue 18):
JSON nested 100,000 deep is one line naming what it came from, never a RecursionError.

Every answer is made at test time on 127.0.0.1 (pytest-httpserver, tests/fake_zenodo.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stacgen.cli import main
from stacgen.source import zenodo as zenodo_module
from tests.fake_zenodo import TEST_RECORD_ID, FakeZenodo, make_payload, running_server

DEEP = [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 100_000 + "1" + "}" * 100_000,
]


def cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("body", DEEP)
def test_a_record_answer_nested_100000_deep_is_one_line(body: str, tmp_path: Path) -> None:
    with running_server() as server:
        server.expect_request(f"/api/records/{TEST_RECORD_ID}").respond_with_data(
            body, content_type="application/json"
        )
        url = server.url_for("").rstrip("/")
        result = cli("download", "--record", TEST_RECORD_ID, "--zenodo-url", url,
                     "--cache-dir", tmp_path / "cache", "--quiet")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: Zenodo record {TEST_RECORD_ID}: ")
    assert "is not JSON" in lines[0]
    assert not list((tmp_path / "cache").rglob("*.json")), "nothing of it is saved"


@pytest.mark.parametrize("body", DEEP)
def test_a_saved_record_nested_100000_deep_is_ignored_and_fetched_again(
    body: str, zenodo: FakeZenodo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    payload = make_payload(20_000)
    zenodo.add_record(TEST_RECORD_ID, payload)
    cache = tmp_path / "cache"
    saved = cache / "zenodo" / str(TEST_RECORD_ID) / zenodo_module.RECORD_FILE
    saved.parent.mkdir(parents=True)
    saved.write_text(body)
    with caplog.at_level(logging.WARNING):
        path = zenodo_module.download_archive(
            TEST_RECORD_ID, zenodo_url=zenodo.url, cache_dir=cache, sleep=lambda _: None
        )
    assert path.read_bytes() == payload
    assert any(
        str(saved) in r.getMessage() and "nested too deep" in r.getMessage() for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    assert saved.read_bytes() != body.encode(), "the record was saved again, whole"
