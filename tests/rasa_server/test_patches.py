"""Every patch to Rasa and Sanic (rasa_server/patches.py): what each replaces, and that it
behaves as the original did.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jsonschema
import pytest
import rasa.core.test
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import Event, SlotSet, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from bot.conversation import CONTEXT_SECONDS, LAST_TOPIC_SLOT, PREVIOUS_TOPIC_KEY
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


def _conversation(*events: Event, topic: str | None = None) -> DialogueStateTracker:
    slots = [TextSlot(LAST_TOPIC_SLOT, mappings=[{"type": "custom"}], influence_conversation=False)]
    tracker = DialogueStateTracker.from_events("patient-1", list(events), slots)
    if topic is not None:
        tracker.update(SlotSet(LAST_TOPIC_SLOT, topic))
    return tracker


def test_the_previous_topic_is_the_slot_of_a_recent_conversation() -> None:
    now = time.time()
    recent = _conversation(
        UserUttered("what side effects are there?", timestamp=now - 60), topic="side_effects"
    )
    assert patches.previous_topic(recent, now) == "side_effects"
    old = _conversation(
        UserUttered("what side effects?", timestamp=now - CONTEXT_SECONDS - 1), topic="side_effects"
    )
    assert patches.previous_topic(old, now) is None  # forgotten
    assert patches.previous_topic(_conversation(UserUttered("hi", timestamp=now)), now) is None  # no topic
    assert patches.previous_topic(None, now) is None


def test_parsing_puts_the_previous_topic_in_the_metadata_and_drops_a_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any] | None] = []

    async def parse(
        self: Any, message: UserMessage, tracker: Any = None, only: bool = True
    ) -> dict[str, Any]:
        seen.append(message.metadata)
        return {"intent": {}}

    monkeypatch.setattr(patches, "_ORIGINAL_PARSE_MESSAGE", parse)
    tracker = _conversation(UserUttered("what side effects?", timestamp=time.time()), topic="side_effects")
    message = UserMessage("how long do they last?", metadata={"page": "faq", PREVIOUS_TOPIC_KEY: "cost"})
    asyncio.run(patches.parse_in_context(None, message, tracker))
    forged = UserMessage("how long do they last?", metadata={PREVIOUS_TOPIC_KEY: "cost"})
    asyncio.run(patches.parse_in_context(None, forged, _conversation()))
    asyncio.run(patches.parse_in_context(None, UserMessage("hi"), None))
    assert seen == [{"page": "faq", PREVIOUS_TOPIC_KEY: "side_effects"}, {}, None]


def test_apply_reads_messages_in_context_in_the_server_and_in_test_stories() -> None:
    patches.apply()
    assert MessageProcessor.parse_message is patches.parse_in_context
    assert rasa.core.test._predict_tracker_actions is patches.predict_stories_in_context
