"""The urgent reply, the way to a person, and the personal-advice notice, run hermetically."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFaq
from actions.safety import ActionEscalateEmergency, ActionHandoff
from bot.answers import compose_answer, emergency_reply
from bot.clinic import CLINIC_FIELDS, Clinic, ClinicError, default_clinic, load_clinic
from bot.knowledge import KnowledgeBase, KnowledgeBaseError, load_knowledge_base

MakeTracker = Callable[..., Tracker]


def _run(action: Action, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    # Only a topic's answer leaves a topic to follow up; the urgent and handoff replies clear it.
    [remembered] = events
    assert remembered["name"] == "last_topic"
    assert (remembered["value"] is None) == (action.name() != "action_answer_faq")
    messages: list[dict[str, Any]] = dispatcher.messages
    return messages


def test_the_urgent_reply_names_help_and_carries_its_metadata(
    knowledge: KnowledgeBase, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    tracker = make_tracker("emergency", "my lips are swelling up since the injections")
    [message] = _run(ActionEscalateEmergency(), tracker, domain)
    clinic = default_clinic().details
    assert clinic["emergency_number"] in message["text"]
    assert clinic["clinic_phone"] in message["text"]
    assert "{" not in message["text"] and knowledge.caveat not in message["text"]
    assert message["custom"]["data"] == {
        "topic": "emergency",
        "route": "safety",
        "sources": [],
        "red_flags": ["allergic_reaction"],
    }


@pytest.mark.parametrize("channel", ["twilio", "telegram", "facebook"])
def test_the_urgent_reply_reaches_messaging_apps_as_plain_text(
    channel: str, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    [message] = _run(ActionEscalateEmergency(), make_tracker("emergency", channel=channel), domain)
    assert message["text"] and not message["custom"]
    assert "\n\n" not in message["text"]


def test_handoff_gives_the_clinics_contact_details(make_tracker: MakeTracker, domain: dict[str, Any]) -> None:
    [message] = _run(ActionHandoff(), make_tracker("handoff", "can I talk to a person?"), domain)
    clinic = default_clinic().details
    for field in ("clinic_name", "clinic_phone", "clinic_email", "booking_url"):
        assert clinic[field] in message["text"]
    assert message["custom"]["data"]["topic"] == "handoff"


def test_a_personal_question_gets_the_notice_then_the_answer_and_caveat(
    knowledge: KnowledgeBase, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    tracker = make_tracker("faq_contraindications", "I'm pregnant, can I have it?")
    [message] = _run(ActionAnswerFaq(), tracker, domain)
    assert message["text"].startswith(knowledge.replies.personal_advice)
    assert knowledge.topic("contraindications").answer in message["text"]
    assert message["text"].endswith(knowledge.caveat)
    assert message["custom"]["data"]["personal_advice"] is True


def test_a_general_question_gets_no_notice(
    knowledge: KnowledgeBase, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    [message] = _run(
        ActionAnswerFaq(), make_tracker("faq_contraindications", "who shouldn't have it?"), domain
    )
    assert knowledge.replies.personal_advice not in message["text"]
    assert "personal_advice" not in message["custom"]["data"]


def test_the_clinic_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "clinic.yml"
    path.write_text(
        "clinic_name: A clinic\nclinic_phone: 5550100\nbooking_url: clinic.example\n", encoding="utf-8"
    )
    with pytest.raises(ClinicError) as raised:
        load_clinic(path)
    problems = "\n".join(raised.value.problems)
    assert "'clinic_phone' must be non-empty text (quote numbers)" in problems
    assert "'clinic_email' must be non-empty text" in problems
    assert "'booking_url' must be a web address" in problems


def test_a_reply_may_only_use_the_clinics_details(data_copy: Callable[[], tuple[Path, Path]]) -> None:
    faq_dir, nlu_dir = data_copy()
    replies = faq_dir / "replies.yml"
    replies.write_text(
        replies.read_text(encoding="utf-8").replace("{clinic_phone}", "{doctor_mobile}", 1), encoding="utf-8"
    )
    with pytest.raises(
        KnowledgeBaseError, match="'emergency' uses unknown placeholders \\['doctor_mobile'\\]"
    ):
        load_knowledge_base(faq_dir, nlu_dir)


def test_every_clinic_detail_can_be_used(knowledge: KnowledgeBase) -> None:
    """The emergency reply formats with any clinic that has every field."""
    clinic = Clinic(details={field: f"<{field}>" for field in CLINIC_FIELDS})
    reply = emergency_reply(knowledge, clinic, ["vision"])
    assert "<emergency_number>" in reply.text and "<clinic_phone>" in reply.text


def test_no_answer_tells_a_patient_yes_you_can(knowledge: KnowledgeBase) -> None:
    """Every topic answer as a personal question reads it: the notice, never a go-ahead."""
    for topic in knowledge.topics.values():
        text = compose_answer(knowledge, topic, personal=True).text
        assert text.startswith(knowledge.replies.personal_advice)
        assert not re.search(r"\byes\b[,.!]?\s+you\s+(can|may|should)\b", text, re.IGNORECASE), topic.id
