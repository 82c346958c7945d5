"""Patients' words and contact details kept out of the logs (bot/log_redaction.py)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest
import yaml

from bot.log_redaction import REDACTED, RedactingFilter, redact
from bot.settings import PROJECT_DIR
from tests.private_words import EMAIL, NEVER_LOGGED, PHONE, PRIVATE, SENTENCE
from tooling.servers import (
    LOGGING_CONFIG,
)

pytestmark = pytest.mark.usefixtures("fresh_settings")


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        (f"call {PHONE} or {EMAIL}", "call [phone] or [email]"),
        ("whatsapp:+447700900123 wrote", "whatsapp:[phone] wrote"),
        ("(020) 7946 0958 and 06.12.34.56.78", "[phone] and [phone]"),
        ("GET /conversations/x/tracker?token=abc123&include_events=ALL", f"?token={REDACTED}&include"),
        ("[SQL: INSERT INTO t]\n[parameters: ('s', '{\"text\": \"hi\"}')]", f"[parameters: {REDACTED}]"),
        (
            "io.py:100: UserWarning: Failed to parse arguments in line '/my son is 4'. Expected the intent "
            "to be one of [['greet']] but found my son is 4.Continuing with given line as user text.",
            f"Failed to parse arguments in line '{REDACTED}'",
        ),
        ("Parsed an entity 'my name' which is not defined in the domain.", f"entity '{REDACTED}' which"),
    ],
)
def test_contact_details_and_quoted_words_are_redacted(logged: str, expected: str) -> None:
    redacted = redact(logged)
    assert expected in redacted
    secrets_in_it = ("7700", "7946", "anna", "abc123", '"hi"', "son is", "my name")
    assert not any(secret in redacted for secret in secrets_in_it)


@pytest.mark.parametrize(
    "kept",
    [
        "Starting Rasa server on http://0.0.0.0:5005",
        "Loading model models/20261122-081010-calm-fox.tar.gz...",
        "on 2026-11-22 08:20:10, version 3.6.21, pid 12345, port 57417",
        "session 3f2a1234567890abcdef1234567890ab joined",
        "Refused a user_uttered event: it names a session other than the connection's.",
    ],
)
def test_ordinary_log_lines_are_kept(kept: str) -> None:
    assert redact(kept) == kept


def test_rasas_structured_events_lose_personal_fields_wherever_they_are() -> None:
    event = (
        '{"text": "' + PRIVATE + '", "event": "rest.message.received.failure", "level": "error", '
        '"exception": [{"exc_type": "TypeError", "exc_value": "no ' + EMAIL + '", '
        '"frames": [{"name": "receive", "locals": {"sender_id": "s1", "text": "' + SENTENCE + '"}}]}]}'
    )
    redacted = redact(event)
    assert not any(secret in redacted for secret in NEVER_LOGGED)
    assert '"event": "rest.message.received.failure"' in redacted and '"exc_type": "TypeError"' in redacted
    assert f'"text": "{REDACTED}"' in redacted and f'"locals": "{REDACTED}"' in redacted


def test_the_filter_redacts_a_records_arguments_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.security.filter")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"unknown address {EMAIL}")
        except ValueError:
            logger.exception("could not reach %s", PHONE)
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "could not reach [phone]" in written and "ValueError: unknown address [email]" in written
    assert "7700" not in written and EMAIL not in written


def test_logging_yml_installs_the_redaction_for_every_logger_and_warning() -> None:
    # A process of its own: the redaction, once installed, stays for the whole process.
    script = (
        "import logging, logging.config, warnings, yaml\n"
        f"logging.config.dictConfig(yaml.safe_load(open({str(LOGGING_CONFIG)!r})))\n"
        "logging.basicConfig(format='%(name)s %(message)s')\n"  # a handler added afterwards
        f"logging.getLogger('rasa.core.channels.rest').error('from %s', {PHONE!r})\n"
        f"warnings.warn('write to {EMAIL}')\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    assert "rasa.core.channels.rest from [phone]" in done.stderr and "write to [email]" in done.stderr
    assert "7700" not in done.stderr and EMAIL not in done.stderr
    assert yaml.safe_load(LOGGING_CONFIG.read_text(encoding="utf-8"))["disable_existing_loggers"] is False
