"""The urgent reply to a red flag, and the way to a person at the clinic."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.reply import knowledge_for, latest_text, remember_topic, send_reply
from bot.answers import emergency_reply, handoff_reply
from bot.clinic import default_clinic
from bot.safety import default_safety_rules
from bot.settings import load_settings

logger = logging.getLogger(__name__)


class ActionEscalateEmergency(Action):
    """A message described a possible serious complication (components/safety_screen.py)."""

    def __init__(self) -> None:
        # Read the rules and the clinic's details when the action server starts: a broken
        # file stops it with a message instead of failing a patient's urgent reply later.
        default_safety_rules()
        if default_clinic().example:
            logger.warning(
                "The clinic's details are the shipped EXAMPLE values (%s): patients would be "
                "given made-up contact details. Set CLINIC_FILE to your clinic's file.",
                load_settings().clinic_file,
            )

    def name(self) -> str:
        return "action_escalate_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The screen in the Rasa pipeline chose this action; name what it found.
        red_flags = default_safety_rules().screen(latest_text(tracker)).red_flags
        reply = emergency_reply(knowledge_for(tracker), default_clinic(), red_flags)
        logger.info("urgent reply sent for red flags: %s", ", ".join(red_flags) or "none named")
        send_reply(dispatcher, tracker, reply.custom, text=reply.text)
        return remember_topic(None)  # an emergency is never "the topic just discussed"


class ActionHandoff(Action):
    """The patient wants a person: the clinic's phone, e-mail, hours and booking link."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reply = handoff_reply(knowledge_for(tracker), default_clinic())
        send_reply(dispatcher, tracker, reply.custom, text=reply.text)
        return remember_topic(None)
