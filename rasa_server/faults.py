"""What the Rasa server does when a part of the bot fails (docs/deployment.md).

``rasa_server/patches.py`` installs these functions in Rasa before it starts:

- **The action server down, failing or too slow.** Rasa waits up to 5 minutes for the action
  server, then logs the error and carries on without the action's events: the patient hears
  nothing. Here the call is given ``ACTION_TIMEOUT_SECONDS`` (default 10); when it fails or
  takes longer, the Rasa server answers by itself with ``unavailable`` (data/faq/replies.yml:
  try again, or contact the clinic), or, when the message was screened as a red flag, with
  the urgent reply (``emergency``), which never needs the action server. The error is logged.
  Each message calls the action server afresh, so the bot answers again as soon as it is back.
- **No silent switch to memory.** Rasa wraps every tracker store in ``FailSafeTrackerStore``,
  which treats a database it cannot read as "new conversation" and keeps the conversation in
  one process's memory when it cannot write it. Here the store is used as it is, so an
  unreachable database (or lock store) raises ``StoreUnavailable`` (rasa_server/stores.py), which
  the channels report to the caller (channels/answering.py).

The replies are composed here, in the Rasa server, from the same YAML as every other reply.
"""

from __future__ import annotations

import asyncio
import logging

from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import OutputChannel
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, Event
from rasa.shared.core.trackers import DialogueStateTracker

from bot.answers import Answer, emergency_reply, metadata_for, unavailable_reply
from bot.clinic import default_clinic
from bot.knowledge import default_knowledge_base
from bot.safety import EMERGENCY_INTENT, default_safety_rules
from bot.settings import load_settings

logger = logging.getLogger(__name__)

_ORIGINAL_RUN = RemoteAction.run


def fallback_answer(tracker: DialogueStateTracker) -> Answer:
    """What the patient gets when the action server cannot answer their latest message."""
    knowledge, clinic = default_knowledge_base(), default_clinic()
    latest = tracker.latest_message
    if latest is not None and latest.intent.get("name") == EMERGENCY_INTENT:
        red_flags = default_safety_rules().screen(latest.text or "").red_flags
        return emergency_reply(knowledge, clinic, red_flags)
    return unavailable_reply(knowledge, clinic)


def bot_utterance(answer: Answer, channel: str | None) -> BotUttered:
    """``answer`` as the bot's message; its metadata only where clients read it."""
    custom = metadata_for(channel, answer.custom)
    return BotUttered(text=answer.text, data={"custom": custom} if custom else {})


async def run_or_answer_by_itself(
    action: RemoteAction,
    output_channel: OutputChannel,
    nlg: NaturalLanguageGenerator,
    tracker: DialogueStateTracker,
    domain: Domain,
) -> list[Event]:
    """Rasa's ``RemoteAction.run`` within ``ACTION_TIMEOUT_SECONDS``; on failure, the reply
    ``fallback_answer`` chooses (an action server's refusal of the action stays Rasa's)."""
    timeout = load_settings().action_timeout_seconds
    try:
        events: list[Event] = await asyncio.wait_for(
            _ORIGINAL_RUN(action, output_channel, nlg, tracker, domain), timeout=timeout
        )
        return events
    except ActionExecutionRejection:
        raise
    except asyncio.TimeoutError:
        reason = f"no answer within {timeout:g} s (ACTION_TIMEOUT_SECONDS)"
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
    answer = fallback_answer(tracker)
    logger.error(
        "The action server did not run %s (%s); the Rasa server answered by itself with '%s'.",
        action.name(),
        reason,
        answer.topic,
    )
    return [bot_utterance(answer, tracker.get_latest_input_channel())]


def tracker_store_as_it_is(store: TrackerStore | None, domain: Domain) -> TrackerStore:
    """``Agent._create_tracker_store`` without Rasa's ``FailSafeTrackerStore`` wrapper. With no
    store configured at all (``rasa test``, which loads a model on its own), Rasa's own
    in-memory store, as Rasa does; the servers always configure one (endpoints.yml)."""
    if store is None:
        return InMemoryTrackerStore(domain)
    store.domain = domain
    return store


def load_replies() -> None:
    """Read the files the fault replies are composed from, so that a broken one stops the
    server at start-up rather than failing a patient later."""
    default_knowledge_base()
    default_clinic()
    default_safety_rules()
