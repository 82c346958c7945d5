"""Keeps patients' words and contact details out of the servers' logs.

Both servers load ``logging.yml`` (Rasa's ``--logging-config-file``, the action server's
``--logging-config_file``); that file names ``installed_filter`` below, and building it
installs the redaction for every log record the process makes from then on, whichever
logger makes it and whichever handler writes it (Rasa, Sanic and coloredlogs add their
handlers later; Sanic's worker processes are forked and keep it). In each record:

- contact details are replaced: e-mail addresses by ``[email]``, phone numbers (7 to 15
  digits, with spaces, dots, dashes, brackets or a leading ``+``) by ``[phone]``. Messaging
  apps' sender ids are phone numbers (``whatsapp:+44...``), so these go too;
- Rasa's structured events (JSON lines, ``FORCE_JSON_LOGGING``) lose the values of the keys
  Rasa itself lists as personal (``text``, ``message``, ``user_text``, ...) and the local
  variables of the tracebacks it prints (which hold the request, the text, the sender);
- Rasa's warnings that repeat a message starting with "/" (read as an intent, as buttons'
  payloads are) lose the message;
- the API token in a query string (``?token=...``) and the values bound to an SQL
  statement in a database error (``[parameters: ...]``, the stored conversation) are hidden.

Python warnings are sent through logging as well, so they are redacted too. Other free text
is not recognised as a patient's message: at the default level (INFO) no other logger of
Rasa, Sanic, python-socketio, the Rasa SDK or this project writes one (tests/system/test_security.py
sends messages to both servers and reads their logs); at DEBUG, Rasa logs every message and
whole conversations, so DEBUG is never for production.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

REDACTED = "[redacted]"
# Bounded repetitions throughout: a 20,000-character message costs linear time.
EMAIL = re.compile(r"[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,7}\.[A-Za-z]{2,63}(?![\w-])")
# A run of digits and the separators people write in phone numbers, not part of a word.
PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().\-/]{5,24}\d(?!\w)")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?!\d)|\d{8}-\d{6}")
# Rasa's warnings that quote what a patient wrote. A message starting with "/" is read as
# an intent (buttons send "/faq_cost"); when it is not one, Rasa repeats the whole message,
# in a warning, at the default level.
RASA_QUOTES = (
    (
        re.compile(r"Failed to parse arguments in line '.*", re.DOTALL),
        f"Failed to parse arguments in line '{REDACTED}' (a message starting with '/' that is not "
        "an intent; the rest of Rasa's warning repeats the message)",
    ),
    (
        re.compile(r"Parsed an (intent|entity) '.*(?=' which is not defined in the domain)", re.DOTALL),
        rf"Parsed an \1 '{REDACTED}",
    ),
)
TOKEN_IN_QUERY = re.compile(r"(?<=[?&])(token|auth_token|access_token)=[^&\s'\"]*")
SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
# The keys Rasa's own structlog anonymizer treats as personal (rasa/utils/log_utils.py),
# the tracebacks' local variables, and what this project's channels call the sender.
PERSONAL_KEYS = frozenset(
    {
        "text",
        "response_text",
        "user_text",
        "slot_values",
        "parse_data_text",
        "parse_data_entities",
        "prediction_events",
        "tracker_latest_message",
        "prefilled_slots",
        "message",
        "response",
        "slot_candidates",
        "rasa_event",
        "rasa_events",
        "tracker_states",
        "current_states",
        "old_states",
        "successes",
        "current_entity",
        "next_entity",
        "states",
        "entity",
        "token_text",
        "user_message",
        "json_message",
        "locals",
        "metadata",
        "request_body",
    }
)
_FORMATTER = logging.Formatter()


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(char.isdigit() for char in found)
    if not 7 <= digits <= 15 or DATE.match(found):
        return found
    return "[phone]"


def redact_contact_details(text: str) -> str:
    """``text`` with e-mail addresses, phone numbers, API tokens, SQL parameters and the
    patient's words in Rasa's warnings hidden."""
    for quote, replacement in RASA_QUOTES:
        text = quote.sub(replacement, text)
    text = EMAIL.sub("[email]", text)
    text = PHONE_CANDIDATE.sub(_phone, text)
    text = TOKEN_IN_QUERY.sub(lambda match: f"{match.group(1)}={REDACTED}", text)
    return SQL_PARAMETERS.sub(f"[parameters: {REDACTED}]", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if key in PERSONAL_KEYS and item not in (None, "", [], {}) else _redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_contact_details(value)
    return value


def redact(message: str) -> str:
    """A log message without patient text or contact details.

    A message that is a JSON object (Rasa's structured events) loses the values of
    ``PERSONAL_KEYS`` wherever they are nested; any other text keeps its words.
    """
    stripped = message.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            event = json.loads(stripped)
        except ValueError:
            event = None
        if isinstance(event, dict):
            return json.dumps(_redact_value(event), ensure_ascii=False, default=str)
    return redact_contact_details(message)


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: its message, its traceback and its stack."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when it writes the record
        return
    record.msg, record.args = redact(message), None
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        record.exc_info = None  # no handler may format the raw exception again
    if record.exc_text:
        record.exc_text = redact_contact_details(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_contact_details(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record it sees and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install() -> None:
    """Redact every log record this process makes from now on (idempotent)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()
    redacting = RedactingFilter()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redacting.filter(record)
        return record

    logging.setLogRecordFactory(redacted_record)
    logging.captureWarnings(True)  # warnings.warn(...) through logging, so through the above
    _installed = True


def installed_filter() -> RedactingFilter:
    """For ``logging.yml``: installs the redaction in this process and returns the filter."""
    install()
    return RedactingFilter()
