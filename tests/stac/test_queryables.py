"""stacgen.stac.queryables: which properties a filter may use, and their JSON Schema."""

from __future__ import annotations

from stacgen.stac.queryables import PropertyTypes


def test_one_json_type_per_property_nulls_aside() -> None:
    types = PropertyTypes(
        [
            {"n": 1, "s": "a", "b": True, "mixed": 1, "obj": {"k": 1}, "null": None},
            {"n": 2.5, "s": None, "b": False, "mixed": "1", "obj": {"k": 2}, "null": None},
        ]
    )
    assert types.types() == {"n": "number", "s": "string", "b": "boolean"}


def test_arrays_carry_their_elements_type() -> None:
    types = PropertyTypes(
        [{"tags": ["a"], "mix": [1], "empty": []}, {"tags": ["b", "c"], "mix": ["x"], "empty": []}]
    )
    assert types.definitions() == {
        "empty": {"type": "array", "items": {}},
        "mix": {"type": "array", "items": {}},
        "tags": {"type": "array", "items": {"type": "string"}},
    }


def test_date_times_are_instants_other_strings_text() -> None:
    types = PropertyTypes([{"created": "2020-01-01T00:00:00Z", "day": "2020-01-01"}])
    assert types.definitions() == {
        "created": {"type": "string", "format": "date-time"},
        "day": {"type": "string"},
    }
