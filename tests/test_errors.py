"""stacgen.errors: every error class of the package derives from the one base, and the CLI's one
handler prints its details and message as single, escaped lines."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from click.testing import CliRunner

import stacgen
from stacgen.cli import main
from stacgen.errors import StacgenError


def _modules() -> list[str]:
    # stacgen.__main__ runs the command line when imported.
    found = pkgutil.walk_packages(stacgen.__path__, "stacgen.")
    return [m.name for m in found if m.name != "stacgen.__main__"]


def test_every_error_class_derives_from_stacgen_error() -> None:
    found = {}
    for name in _modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == name:
                found[f"{name}.{cls.__qualname__}"] = cls
    assert len(found) >= 18, sorted(found)  # the issue counted 18 unrelated ones
    assert [name for name, cls in found.items() if not issubclass(cls, StacgenError)] == []


def test_the_cli_prints_details_then_the_message_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    from stacgen.publish import pgstac

    class Failing(pgstac.PgstacLoadError):
        details = ("first \x1b[31mproblem", "second problem")

    def load(*_: object) -> None:
        raise Failing("postgresql://x: refused\x07")

    monkeypatch.setattr(pgstac, "load", load)
    result = CliRunner().invoke(main, ["pgstac", "load", "postgresql://x"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "first \\x1b[31mproblem",
        "second problem",
        "Error: postgresql://x: refused\\x07",
    ]
