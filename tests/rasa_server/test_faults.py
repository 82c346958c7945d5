"""The Rasa server's own reply when the action server fails (rasa_server/faults.py), and
the tracker store used without Rasa's memory fallback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.answers import TOPIC_EMERGENCY, TOPIC_UNAVAILABLE, emergency_reply, unavailable_reply
from bot.clinic import default_clinic
from bot.knowledge import default_knowledge_base
from rasa_server import faults, patches
from rasa_server.stores import ConversationStore
from tooling.servers import free_port

RED_FLAG = "my lips and tongue are swelling up since the injections an hour ago"

QUESTION = "how much does mesotherapy cost?"


def _tracker(intent: str, text: str, channel: str = "rest") -> DialogueStateTracker:
    parse = {"intent": {"name": intent, "confidence": 0.99}, "entities": [], "text": text}
    events = [
        ActionExecuted("action_listen"),
        UserUttered(text, parse["intent"], [], parse, input_channel=channel),
    ]
    return DialogueStateTracker.from_events("patient-1", events)


def _run_unreachable_action(tracker: DialogueStateTracker) -> list[Any]:
    endpoint = EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook")  # nobody listens
    action = RemoteAction("action_answer_faq", endpoint)
    nlg = TemplatedNaturalLanguageGenerator({})
    return asyncio.run(
        faults.run_or_answer_by_itself(action, CollectingOutputChannel(), nlg, tracker, Domain.empty())
    )


def test_an_unreachable_action_server_gets_the_unavailable_reply_from_rasa() -> None:
    events = _run_unreachable_action(_tracker("faq_cost", QUESTION))
    expected = unavailable_reply(default_knowledge_base(), default_clinic())
    assert len(events) == 1 and isinstance(events[0], BotUttered)
    assert events[0].text == expected.text
    assert default_clinic().details["clinic_phone"] in events[0].text
    assert events[0].data["custom"]["data"]["topic"] == TOPIC_UNAVAILABLE


def test_a_red_flag_gets_the_urgent_reply_even_without_the_action_server() -> None:
    events = _run_unreachable_action(_tracker("emergency", RED_FLAG))
    assert isinstance(events[0], BotUttered)
    assert events[0].text == emergency_reply(default_knowledge_base(), default_clinic(), []).text
    assert events[0].data["custom"]["data"]["topic"] == TOPIC_EMERGENCY
    assert events[0].data["custom"]["data"]["red_flags"]  # the screen named what it found


def test_messaging_apps_get_the_reply_without_metadata() -> None:
    events = _run_unreachable_action(_tracker("faq_cost", QUESTION, channel="twilio"))
    assert isinstance(events[0], BotUttered) and events[0].text
    assert not events[0].data.get("custom")


def test_the_tracker_store_is_used_without_rasas_memory_fallback() -> None:
    patches.apply()
    store = ConversationStore(Domain.empty())
    created = Agent._create_tracker_store(store, Domain.empty())
    assert created is store and not isinstance(created, FailSafeTrackerStore)
