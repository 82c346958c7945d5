"""A patient's message before the bot reads it: normalised, then judged.

Every channel hands the patient's text to a :class:`MessageJudge` first: REST
(``channels/rest.py``), the widget's socket.io channel (``channels/socketio.py``) and the
messaging apps' (``channels/messaging.py``); each sends the refusal, when there is one, in
its own shape:

- **Control characters are removed, never refused.** Line breaks, tabs and the
  other whitespace controls become a space; the rest (NUL, escape, bell, DEL, the C1 range)
  and unpaired surrogates (which JSON's ``\\ud800`` escapes can produce and no database or
  encoder accepts) are deleted. The text is then put in Unicode NFC form and runs of
  whitespace are collapsed to one space, trimmed at both ends. Nothing else is changed:
  emoji, every script, HTML and SQL-looking text reach the bot as typed (it only ever
  treats them as words).
- **Rasa's conversation commands are read as words.** A message starting with ``/`` names
  an intent directly (that is how the bot's buttons work, ``/faq_cost``), so a patient
  typing ``/restart``, ``/back`` or ``/session_start`` would silently reset or rewind the
  conversation with no reply. No button of this bot sends them: they lose their ``/`` and
  the NLU reads the word like any other message.
- **Empty**: nothing left to read (no letter, mark, digit, punctuation or symbol, e.g.
  only spaces or zero-width characters). The bot does not read it; the patient is asked
  for their question (``empty_message`` in data/faq/replies.yml).
- **Too long**: more than ``MAX_MESSAGE_CHARS`` characters (default 1,000) after
  normalising. The bot does not read it; the patient is told the limit
  (``message_too_long``).

A refusal is written in the message's language (bot/language.py, from its first
``DETECT_CHARS`` characters), else in the client's hint (the widget's browser language),
else in the first language served: an empty message has no words to tell.

No framework: tested in tests/bot/test_messages.py.
"""

from __future__ import annotations

import enum
import logging
import re
import unicodedata
from dataclasses import dataclass

from bot.answers import Answer
from bot.knowledge import KnowledgeBase, Replies
from bot.language import detect

# The metadata (``custom.data``) of the reply to a message the bot did not read.
ROUTE_INPUT = "input"
TOPIC_EMPTY_MESSAGE = "empty_message"
TOPIC_MESSAGE_TOO_LONG = "message_too_long"

# Rasa's default intents that act on the conversation itself, as a patient could type them
# (Rasa reads "/<intent>", optionally followed by "@<confidence>" or "{<entities>}").
RASA_COMMAND = re.compile(r"^/(restart|back|session_start)\s*([@{].*)?$", re.DOTALL)
# Unicode categories of characters that carry something to read.
_READABLE_CATEGORIES = ("L", "M", "N", "P", "S")

logger = logging.getLogger(__name__)


class Verdict(enum.Enum):
    READ = "read"  # the bot reads it
    EMPTY = "empty"
    TOO_LONG = "too_long"


@dataclass(frozen=True)
class PatientMessage:
    """The normalised ``text``, whether the bot reads it, and the limit it was judged by."""

    text: str
    verdict: Verdict
    max_chars: int

    @property
    def length(self) -> int:
        return len(self.text)


def _without_controls(text: str) -> str:
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            if char.isspace():
                kept.append(" ")
        elif category != "Cs":
            kept.append(char)
    return "".join(kept)


def normalise_message(text: str) -> str:
    """``text`` without control characters or unpaired surrogates, in NFC form, with
    whitespace collapsed to single spaces and trimmed."""
    return " ".join(unicodedata.normalize("NFC", _without_controls(text)).split())


def has_something_to_read(text: str) -> bool:
    return any(unicodedata.category(char)[0] in _READABLE_CATEGORIES for char in text)


def commands_as_words(text: str) -> str:
    """``text`` with a leading ``/`` of Rasa's conversation commands removed (normalised text)."""
    return text[1:] if RASA_COMMAND.match(text) else text


def judge_message(text: str, max_chars: int) -> PatientMessage:
    """Normalise a patient's message and decide whether the bot reads it."""
    normalised = commands_as_words(normalise_message(text))
    if not has_something_to_read(normalised):
        return PatientMessage(normalised, Verdict.EMPTY, max_chars)
    if len(normalised) > max_chars:
        return PatientMessage(normalised, Verdict.TOO_LONG, max_chars)
    return PatientMessage(normalised, Verdict.READ, max_chars)


def refusal_reply(message: PatientMessage, replies: Replies) -> Answer | None:
    """What the patient reads instead of an answer when the bot does not read the message
    (None when it does). The texts are data/faq/replies.yml's."""
    if message.verdict is Verdict.EMPTY:
        return Answer(TOPIC_EMPTY_MESSAGE, ROUTE_INPUT, (), replies.empty_message)
    if message.verdict is Verdict.TOO_LONG:
        limit = message.max_chars
        text = replies.message_too_long.format(max_chars=f"{limit:,}", length=f"{message.length:,}")
        return Answer(TOPIC_MESSAGE_TOO_LONG, ROUTE_INPUT, (), text, extra=(("max_chars", limit),))
    return None


# How much of an over-long message its language is read from.
DETECT_CHARS = 500


def reply_language(knowledge: KnowledgeBase, text: str, hint: str | None = None) -> str:
    """The language served to reply in to a message the bot does not answer (refused, or
    failed on): the message's (its first ``DETECT_CHARS`` characters), else the client's hint,
    else the first served."""
    served = knowledge.languages
    return detect(text[:DETECT_CHARS], hint=hint, served=served).language or served[0]


class MessageJudge:
    """The first step of every channel: judge a patient's message by the limit, and give the
    reply to send instead of an answer when the bot does not read it (logged, without the
    patient's words)."""

    def __init__(self, knowledge: KnowledgeBase, max_chars: int) -> None:
        self.knowledge = knowledge
        self.max_chars = max_chars

    def replies(self, judged: PatientMessage, hint: str | None = None) -> Replies:
        """The replies in the language of the message, else of the hint."""
        words = judged.text if judged.verdict is not Verdict.EMPTY else ""
        return self.knowledge.in_language(reply_language(self.knowledge, words, hint)).replies

    def __call__(
        self, text: str, channel: str, hint: str | None = None
    ) -> tuple[PatientMessage, Answer | None]:
        judged = judge_message(text, self.max_chars)
        if judged.verdict is Verdict.READ:
            return judged, None
        refusal = refusal_reply(judged, self.replies(judged, hint))
        if refusal is not None:
            verdict, length = judged.verdict.value, judged.length
            logger.info("A %s message not read (%s, %d characters).", channel, verdict, length)
        return judged, refusal
