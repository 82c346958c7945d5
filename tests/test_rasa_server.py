"""The fixes `python -m bot.rasa_server` applies to Rasa before running it."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

import bot.rasa_server as rasa_server

SPEC = RemoteAction.action_response_format_spec()
GOOD = {"events": [{"event": "slot", "name": "topic", "value": "cost"}], "responses": [{"text": "hi"}]}
BAD = {"events": [{"name": "no event type"}], "responses": "not a list"}


def _error(validate: Any, instance: Any, schema: dict[str, Any]) -> str:
    with pytest.raises(jsonschema.ValidationError) as raised:
        validate(instance, schema)
    return str(raised.value)


def test_a_valid_action_answer_passes_and_a_bad_one_fails_as_before() -> None:
    rasa_server.cached_validate(GOOD, SPEC)
    jsonschema.validate(GOOD, SPEC)  # the original agrees
    assert _error(rasa_server.cached_validate, BAD, SPEC) == _error(jsonschema.validate, BAD, SPEC)


def test_the_schema_is_checked_and_its_validator_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    original = rasa_server.validator_for

    def counting(schema: dict[str, Any]) -> Any:
        built.append(schema)
        return original(schema)

    monkeypatch.setattr(rasa_server, "validator_for", counting)
    monkeypatch.setattr(rasa_server, "_validators", {})
    for _ in range(3):
        rasa_server.cached_validate(GOOD, RemoteAction.action_response_format_spec())  # a new dict each time
    with pytest.raises(jsonschema.ValidationError):
        rasa_server.cached_validate(BAD, SPEC)
    assert len(built) == 1
    other = {"type": "object", "required": ["text"]}
    rasa_server.cached_validate({"text": "x"}, other)
    assert len(built) == 2


def test_an_invalid_schema_is_still_refused() -> None:
    with pytest.raises(jsonschema.SchemaError):
        rasa_server.cached_validate({}, {"type": "no such type"})


def test_apply_installs_the_cached_validate_where_rasa_looks_it_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonschema, "validate", rasa_server._ORIGINAL_VALIDATE)
    rasa_server.apply()
    from jsonschema import validate  # as rasa/core/actions/action.py does, at call time

    assert validate is rasa_server.cached_validate
