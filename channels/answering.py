"""What every channel does when the bot fails on a patient's message.

Rasa's channels log the exception and answer nothing: the patient waits for a reply that
never comes. Every channel of this bot hands the message to the bot through
:func:`answering`, which, when the bot fails, logs the error and sends the patient
``unavailable`` (data/faq/replies.yml: try again, or contact the clinic) on the channel the
message came from. The REST channel tells its caller instead, with a status code
(channels/rest.py): 503 when a store cannot be reached, 500 otherwise.

The usual failure is a store that cannot be reached (``StoreUnavailable``, rasa_server/stores.py):
the conversation database or the lock store. Nothing of the message was saved, so the
patient can send it again once the store is back, and the conversation goes on from where
it was. The action server's failures never get here: the Rasa server answers them itself
(rasa_server/faults.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from bot.answers import unavailable_reply
from bot.clinic import default_clinic
from bot.conversation import language_hint
from bot.knowledge import default_knowledge_base
from bot.messages import MessageJudge, reply_language
from bot.settings import load_settings
from rasa_server.stores import StoreUnavailable

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def message_judge() -> MessageJudge:
    """The judge of patients' messages (bot/messages.py) with the configured limit. Made when
    a channel is mounted, so a broken replies file stops the server at start-up."""
    return MessageJudge(default_knowledge_base(), load_settings().max_message_chars)


def log_failure(channel: str | None, error: BaseException) -> None:
    """One clear line for a store that cannot be reached; the traceback for anything else
    (both redacted: bot/log_redaction.py)."""
    if isinstance(error, StoreUnavailable):
        logger.error("A %s message was not answered: %s.", channel, error)
    else:
        logger.error("A %s message was not answered: the bot failed on it.", channel, exc_info=error)


def answering(on_new_message: OnNewMessage) -> OnNewMessage:
    """``on_new_message`` that, when the bot fails on a message, tells the patient so on
    the message's own channel instead of leaving them without a reply."""
    # Read now, when the channel is mounted: a broken file stops the server at start-up.
    knowledge, clinic = default_knowledge_base(), default_clinic()
    replies = {
        language: unavailable_reply(knowledge.in_language(language), clinic)
        for language in knowledge.languages
    }

    async def handle(message: UserMessage) -> None:
        try:
            await on_new_message(message)
        except Exception as error:
            log_failure(message.input_channel, error)
            reply = replies[reply_language(knowledge, message.text or "", language_hint(message.metadata))]
            try:
                await message.output_channel.send_text_message(message.sender_id, reply.text)
            except Exception:
                logger.exception(
                    "The %s channel could not send the 'unavailable' reply.", message.input_channel
                )

    return handle
