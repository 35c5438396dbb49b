"""The `stacgen` command as a user runs it: exit codes, stdout, one line per problem."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from stacgen import constants
from stacgen.cli import main
from stacgen.testing import synthetic
from tests.fake_zenodo import TEST_LICENSE, FakeZenodo, pin_payload

COLL = constants.COLLECTION_ID


def _free_port_url() -> str:
    """A loopback URL where nothing listens: any request to it fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_build_from_zenodo_end_to_end(
    zenodo: FakeZenodo,
    archive_tgz: Path,
    tmp_path: Path,
    schemas: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = archive_tgz.read_bytes()
    pin_payload(monkeypatch, payload)
    zenodo.add_record(constants.RECORD_ID, payload)
    zenodo.add_concept(constants.CONCEPT_RECORD_ID, constants.RECORD_ID)
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["build", "--zenodo-url", zenodo.url, "--cache-dir", str(cache), "--out", str(out)]
    args += ["--record", str(constants.CONCEPT_RECORD_ID), "--schemas", str(schemas)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"{out}: " in result.stdout
    assert "built" in result.stdout
    collection = json.loads((out / COLL / "collection.json").read_text())
    assert (
        collection["license"]
        == zenodo.records[constants.RECORD_ID].metadata["license"]["id"].upper()
    )
    checked = CliRunner().invoke(main, ["validate", str(out), "--schemas", str(schemas)])
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip() == f"{out}: valid"
    # Everything is cached now: a forced rebuild needs no network at all.
    offline = args[:]
    offline[offline.index("--zenodo-url") + 1] = _free_port_url()
    again = CliRunner().invoke(main, [*offline, "--force"])
    assert again.exit_code == 0, again.output
    assert len(zenodo.file_requests()) == 1


def test_download_prints_only_the_path(
    zenodo: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"x" * 1000
    pin_payload(monkeypatch, payload)
    zenodo.add_record(constants.RECORD_ID, payload)
    args = ["download", "--zenodo-url", zenodo.url, "--cache-dir", str(tmp_path), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert result.stdout == f"{path}\n"
    assert path.name == constants.ARCHIVE_NAME
    assert path.read_bytes() == payload


def test_download_error_is_one_line_and_exit_1(zenodo: FakeZenodo, tmp_path: Path) -> None:
    args = ["download", "--zenodo-url", zenodo.url, "--cache-dir", str(tmp_path), "--record", "999"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "999" in line


def test_bad_input_lists_every_problem(tmp_path: Path) -> None:
    folders = synthetic.default_folders(synthetic.REPRESENTATIVE_COUNT)
    top = synthetic.make_tree(tmp_path / "src", size=32, folders=folders)
    plain = [f for f in folders if f.product != constants.SHARED_PRODUCT]
    first = top / plain[0].subset / plain[0].product
    second = top / plain[1].subset / plain[1].product
    (first / constants.PARAMETERS).write_text("[1, 2")
    (second / constants.CONTOURS).unlink()
    out = tmp_path / "out"
    args = ["build", "--archive", str(top), "--out", str(out), "--no-validate", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    # The JSON parser's own wording varies between Pythons: only stacgen's part is pinned.
    assert len(lines) == 3
    malformed = next(line for line in lines if "used_parameters" in line)
    assert malformed.startswith(f"{first / constants.PARAMETERS}: malformed JSON (")
    assert "line 1" in malformed
    assert f"{second / constants.CONTOURS}: required file is missing" in lines
    assert lines[-1] == f"Error: build failed with 2 problem(s); {out} is untouched"
    assert not out.exists()


def test_unreadable_archive_is_one_line_and_exit_1(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not a tarball at all")
    out = tmp_path / "out"
    args = ["build", "--archive", str(junk), "--out", str(out), "--cache-dir", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--no-validate", "--quiet"])
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if not x.startswith("WARNING")]
    assert line.startswith(f"Error: {junk}: not a readable tgz archive (")
    assert line.endswith(f"; {out} is untouched")
    assert not out.exists()


def test_validate_reports_problems_and_exits_1(
    built_catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built_catalog, copy)
    item_dir = next(p for p in (copy / COLL).iterdir() if p.is_dir())
    (item_dir / "thumbnail.png").write_bytes(b"not the thumbnail")
    result = CliRunner().invoke(main, ["validate", str(copy), "--schemas", str(schemas)])
    assert result.exit_code == 1
    assert "thumbnail.png" in result.stdout
    assert result.stderr.strip() == f"Error: {copy}: {len(result.stdout.splitlines())} problem(s)"


def _offline_without_a_mirror(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine with neither a schema mirror nor a network: the pinned
    schemas' host refuses every connection, and the cache is empty."""
    env = {k: v for k, v in os.environ.items() if k != "STACGEN_SCHEMAS"}
    return {
        **env,
        "STACGEN_SCHEMA_URL": _free_port_url(),
        "STACGEN_CACHE_DIR": str(tmp_path / "cache"),
    }


def _stacgen(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "stacgen", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_validate_without_schemas_fails_in_one_line(built_catalog: Path, tmp_path: Path) -> None:
    result = _stacgen(["validate", str(built_catalog)], _offline_without_a_mirror(tmp_path))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: cannot fetch schema http://127.0.0.1:")
    assert line.endswith("(offline? pass --schemas DIR or set STACGEN_SCHEMAS to a schema mirror)")
    assert result.stdout == ""


def test_offline_build_without_schemas_publishes_and_says_how_to_validate(
    archive_tgz: Path, tmp_path: Path, schemas: Path
) -> None:
    out = tmp_path / "out"
    env = _offline_without_a_mirror(tmp_path)
    result = _stacgen(["build", "--archive", str(archive_tgz), "--out", str(out), "--quiet"], env)
    assert result.returncode == 0, result.stderr
    (skipped,) = [ln for ln in result.stderr.splitlines() if "schema" in ln]
    assert skipped.startswith("WARNING: schema validation skipped: cannot fetch schema ")
    assert skipped.endswith(
        f"; every other check passed; validate later with `stacgen validate {out}`"
    )
    # Without a record JSON: one warning saying what the collection carries and how to fix it.
    (licence,) = [ln for ln in result.stderr.splitlines() if "licen" in ln]
    assert licence.startswith("WARNING: no Zenodo record JSON for record 1460961: ")
    assert "license 'other' with a license link to https://zenodo.org/records/1460961" in licence
    assert "--record-json FILE (make RECORD_JSON=FILE)" in licence
    collection = json.loads((out / COLL / "collection.json").read_text())
    assert collection["license"] == "other"
    assert [ln["href"] for ln in collection["links"] if ln["rel"] == "license"] == [
        "https://zenodo.org/records/1460961"
    ]
    state = json.loads((out / ".stacgen-state.json").read_text())
    assert state["license"] == {"id": "other", "from_record": False}
    # The command the warning names, run where the schemas are at hand, finds it valid.
    later = _stacgen(["validate", str(out), "--schemas", str(schemas)], env)
    assert later.returncode == 0, later.stdout + later.stderr
    assert later.stdout.strip() == f"{out}: valid"


def test_build_takes_the_record_json_saved_with_the_archive(
    zenodo: FakeZenodo, archive_tgz: Path, tmp_path: Path, schemas: Path
) -> None:
    zenodo.add_record(constants.RECORD_ID, b"the archive", concept_id=constants.CONCEPT_RECORD_ID)
    saved = tmp_path / "1460961.json"  # what a user saves from zenodo.org/api/records/1460961
    saved.write_bytes(requests.get(f"{zenodo.url}/api/records/1460961", timeout=10).content)
    out = tmp_path / "out"
    env = {**_offline_without_a_mirror(tmp_path), "STACGEN_SCHEMAS": str(schemas)}
    args = ["build", "--archive", str(archive_tgz), "--record-json", str(saved), "--out", str(out)]
    result = _stacgen([*args, "--quiet"], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warning at all
    collection = json.loads((out / COLL / "collection.json").read_text())
    assert collection["license"] == TEST_LICENSE.upper()
    assert collection["title"] == "Test record 1460961"
    state = json.loads((out / ".stacgen-state.json").read_text())
    assert state["license"] == {"id": TEST_LICENSE.upper(), "from_record": True}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2", "malformed JSON"),
        ('{"id": 1460962, "metadata": {}}', "Zenodo record 1460962, not record 1460961"),
        ('{"metadata": {}}', "not a Zenodo record JSON"),
    ],
)
def test_a_bad_record_json_is_one_line_before_any_work(
    tmp_path: Path, content: str, reason: str
) -> None:
    saved = tmp_path / "record.json"
    saved.write_text(content)
    out = tmp_path / "out"
    args = ["build", "--archive", str(tmp_path / "none.tgz"), "--record-json", str(saved)]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--no-validate"])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {saved}: ")
    assert reason in line
    assert line.endswith("(--record-json)")
    assert not out.exists()


def test_a_missing_schema_mirror_is_named_with_its_option(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    result = CliRunner().invoke(main, ["validate", str(tmp_path), "--schemas", str(gone)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {gone}: schema mirror folder does not exist (--schemas)"
    )


# --- offline (issue 12, item 4) -------------------------------------------------------------------
def test_offline_fails_at_once_in_one_line_with_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dns(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    args = ["build", "--zenodo-url", "https://zenodo.org", "--cache-dir", str(tmp_path / "c")]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--no-validate"])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("WARNING")]
    assert lines == [
        f"Error: Zenodo record {constants.RECORD_ID}: cannot reach "
        f"https://zenodo.org/api/records/{constants.RECORD_ID}: [Errno -2] Name or service not "
        "known; to build from a copy of the archive: make catalog "
        f"ARCHIVE=path/to/{constants.ARCHIVE_NAME}"
    ]


def test_an_archive_that_is_the_records_is_used_offline_next_time(
    archive_tgz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin_payload(monkeypatch, archive_tgz.read_bytes())
    cache, out = tmp_path / "cache", tmp_path / "out"
    common = ["--cache-dir", str(cache), "--out", str(out), "--no-validate"]
    first = CliRunner().invoke(main, ["build", "--archive", str(archive_tgz), *common])
    assert first.exit_code == 0, first.output
    # No archive given and no Zenodo: the verified copy is used, and nothing is rebuilt.
    offline = ["build", "--zenodo-url", _free_port_url(), *common]
    again = CliRunner().invoke(main, offline)
    assert again.exit_code == 0, again.output
    assert "up to date" in again.stdout
    # A copy that is not the record's any more is not used.
    monkeypatch.setattr(constants, "ARCHIVE_MD5", "0" * 32)
    refused = CliRunner().invoke(main, offline)
    assert refused.exit_code == 1
    assert "cannot reach" in refused.stderr
