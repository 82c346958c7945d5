"""Sends a reply, with its metadata only on channels whose clients read it."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.answers import metadata_for
from bot.safety import default_safety_rules


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def asks_personal_advice(tracker: Tracker) -> bool:
    """The patient described their own situation (data/safety/personal_advice.yml)."""
    return bool(default_safety_rules().personal_advice(latest_text(tracker)).situations)


def send_reply(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    custom: dict[str, Any],
    *,
    text: str,
    buttons: list[dict[str, str]] | None = None,
) -> None:
    """One message whose ``text`` comes from the knowledge base (data/faq/), with its
    ``custom`` metadata where the channel's clients read it (``metadata_for``)."""
    metadata = metadata_for(tracker.get_latest_input_channel(), custom)
    dispatcher.utter_message(text=text, buttons=buttons, json_message=metadata)
