"""What the bot remembers of a conversation between two messages: the topic just answered,
and the language the conversation is in.

The actions keep it in the ``last_topic`` slot (cleared by every reply that is not a topic's
answer: an emergency, an out-of-scope question, a request for a person, a no-match). Before
the next message is read, the Rasa server passes it to the NLU in the message's metadata
(``rasa_server/patches.py``), so that the topic reader (``bot/reading.py``) reads a
follow-up in its light. A topic answered longer ago than ``CONTEXT_SECONDS`` is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LAST_TOPIC_SLOT = "last_topic"
PREVIOUS_TOPIC_KEY = "previous_topic"
CONTEXT_SECONDS = 30 * 60
# When the patient's treatment was, once they said it (bot/treatment_time.py, as a dict), and
# whether the bot has asked for it: it asks once per conversation.
TREATMENT_TIME_SLOT = "treatment_time"
ASKED_TIME_SLOT = "asked_treatment_time"
# The language a message was read in (components/language_reader.py puts it in the parsed
# message); the conversation's, passed to the NLU in the next message's metadata; and the
# metadata keys a client may hint the patient's language with (the widget: the browser's).
LANGUAGE_KEY = "language"
CONVERSATION_LANGUAGE_KEY = "conversation_language"
LANGUAGE_HINT_KEYS = ("lang", "language", "locale")


def language_hint(metadata: object) -> str | None:
    """The language a client hints in a message's metadata (the widget: the browser's), or None."""
    if not isinstance(metadata, Mapping):
        return None
    return next((metadata[k] for k in LANGUAGE_HINT_KEYS if isinstance(metadata.get(k), str)), None)


def language_read(parse_data: Mapping[str, Any] | None) -> tuple[str | None, bool] | None:
    """The language a parsed message was read in and whether the message alone said so;
    None when it was not read (a button's payload)."""
    found = (parse_data or {}).get(LANGUAGE_KEY)
    if not isinstance(found, Mapping):
        return None
    language = found.get("language")
    return (str(language) if language else None), bool(found.get("sure"))


def conversation_language(parsed_newest_first: Iterable[Mapping[str, Any] | None]) -> str | None:
    """The conversation's language: that of its latest message sure of its language."""
    for parse_data in parsed_newest_first:
        read = language_read(parse_data)
        if read is not None and read[0] is not None and read[1]:
            return read[0]
    return None
