"""Every patch to Rasa and Sanic (rasa_server/patches.py): what each replaces, and that it
behaves as the original did.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.utils.common import all_subclasses

from rasa_server import patches

SPEC = RemoteAction.action_response_format_spec()

GOOD = {"events": [{"event": "slot", "name": "topic", "value": "cost"}], "responses": [{"text": "hi"}]}

BAD = {"events": [{"name": "no event type"}], "responses": "not a list"}


def _error(validate: Any, instance: Any, schema: dict[str, Any]) -> str:
    with pytest.raises(jsonschema.ValidationError) as raised:
        validate(instance, schema)
    return str(raised.value)


def test_a_valid_action_answer_passes_and_a_bad_one_fails_as_before() -> None:
    patches.cached_validate(GOOD, SPEC)
    jsonschema.validate(GOOD, SPEC)  # the original agrees
    assert _error(patches.cached_validate, BAD, SPEC) == _error(jsonschema.validate, BAD, SPEC)


def test_the_schema_is_checked_and_its_validator_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    original = patches.validator_for

    def counting(schema: dict[str, Any]) -> Any:
        built.append(schema)
        return original(schema)

    monkeypatch.setattr(patches, "validator_for", counting)
    monkeypatch.setattr(patches, "_validators", {})
    for _ in range(3):
        patches.cached_validate(GOOD, RemoteAction.action_response_format_spec())  # a new dict each time
    with pytest.raises(jsonschema.ValidationError):
        patches.cached_validate(BAD, SPEC)
    assert len(built) == 1
    other = {"type": "object", "required": ["text"]}
    patches.cached_validate({"text": "x"}, other)
    assert len(built) == 2


def test_an_invalid_schema_is_still_refused() -> None:
    with pytest.raises(jsonschema.SchemaError):
        patches.cached_validate({}, {"type": "no such type"})


def test_apply_installs_the_cached_lookups_where_rasa_looks_them_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonschema, "validate", patches._ORIGINAL_VALIDATE)
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(patches._ORIGINAL_RESOLVE_BY_TYPE))
    patches.apply()
    from jsonschema import validate  # as rasa/core/actions/action.py does, at call time

    assert validate is patches.cached_validate
    assert Event.resolve_by_type is patches.cached_resolve_by_type


def test_event_classes_are_rasas_own_and_looked_up_once_per_name(monkeypatch: pytest.MonkeyPatch) -> None:
    names = sorted({cls.type_name for cls in all_subclasses(Event)})
    assert {"user", "bot", "action", "slot", "session_started"} <= set(names)
    lookups: list[str] = []
    original = patches._ORIGINAL_RESOLVE_BY_TYPE

    def counting(type_name: str, default: Any = None) -> Any:
        lookups.append(type_name)
        return original(type_name, default)

    monkeypatch.setattr(patches, "_ORIGINAL_RESOLVE_BY_TYPE", counting)
    monkeypatch.setattr(patches, "_event_classes", {})
    for _ in range(3):
        assert [patches.cached_resolve_by_type(n) for n in names] == [
            Event.resolve_by_type(n)
            for n in names  # Rasa's own (apply() is not installed here)
        ]
    assert sorted(lookups) == names  # each name looked up once
    assert patches.cached_resolve_by_type("no such event", UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name"):
        patches.cached_resolve_by_type("no such event")
    assert patches.cached_resolve_by_type("topic") is None  # Rasa's backwards compatibility
    assert lookups.count("no such event") == 4  # unknown names are never remembered
