"""Bad input: the patient's message judged (bot/messages.py), the REST channel refusing bad
requests with a reason before the bot sees them (channels/rest.py), and the real bot
driven with generated requests (hypothesis) that must never fail it.

See docs/bad-input.md for what each kind of bad input gets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import shutil
import threading
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import rasa.core.run
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.answers import unavailable_reply
from bot.clinic import default_clinic
from bot.knowledge import KnowledgeBaseError, default_knowledge_base, load_knowledge_base
from bot.messages import (
    ROUTE_INPUT,
    TOPIC_EMPTY_MESSAGE,
    TOPIC_MESSAGE_TOO_LONG,
    Verdict,
    judge_message,
    normalise_message,
    refusal_reply,
)
from bot.servers import DEFAULT_MODEL, BotAddress, free_port, running_bot
from bot.settings import PROJECT_DIR, Settings, load_settings
from bot.stores import StoreUnavailable
from channels.rest import MAX_SENDER_CHARS, RETRY_AFTER_SECONDS, CheckedRestInput

LIMIT = load_settings().max_message_chars
MAX_BODY = load_settings().max_request_bytes
MAX_METADATA = load_settings().max_metadata_bytes
JSON = "application/json"

# --- the patient's message, judged -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("how much does it cost?", "how much does it cost?"),
        ("  how much\n\n does\tit cost?  ", "how much does it cost?"),
        ("how\x00 much\x07 does it\x1b[31m cost?\x7f\x9b", "how much does it[31m cost?"),
        ("line one\r\nline two\x85line three", "line one line two line three"),
        ("broken \ud800surrogate", "broken surrogate"),
        ("cafe\u0301 au lait", "caf\u00e9 au lait"),  # NFC: e + combining acute is one character
        ("Est-ce douloureux ? 痛いですか 😬 مؤلم؟", "Est-ce douloureux ? 痛いですか 😬 مؤلم؟"),
        ("<script>alert('x')</script> <b>cost</b>", "<script>alert('x')</script> <b>cost</b>"),
        ("'; DROP TABLE events; --", "'; DROP TABLE events; --"),
        ("/faq_cost", "/faq_cost"),
    ],
)
def test_messages_lose_control_characters_and_extra_whitespace_and_nothing_else(
    text: str, normalised: str
) -> None:
    assert normalise_message(text) == normalised


@pytest.mark.parametrize(
    "text", ["", " ", "\n\t\r ", "\x00\x01\x7f", "\u200b\u200d\ufeff", "\u3000\u00a0", "\ud800"]
)
def test_a_message_with_nothing_to_read_is_empty(text: str) -> None:
    assert judge_message(text, LIMIT).verdict is Verdict.EMPTY


@pytest.mark.parametrize("text", [".", "?", "😬", "5", "痛"])
def test_one_visible_character_is_read(text: str) -> None:
    assert judge_message(text, LIMIT) == judge_message(text, 1)
    assert judge_message(text, 1).verdict is Verdict.READ


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("/restart", "restart"),
        (" /back ", "back"),
        ("/session_start", "session_start"),
        ('/restart{"a": 1}', 'restart{"a": 1}'),
        ("/restart@0.9", "restart@0.9"),
        ("/faq_cost", "/faq_cost"),  # a button's payload is kept
        ("/none_of_these", "/none_of_these"),
        ("/restarted", "/restarted"),
    ],
)
def test_rasas_conversation_commands_are_read_as_words(text: str, read: str) -> None:
    judged = judge_message(text, LIMIT)
    assert judged.text == read and judged.verdict is Verdict.READ


def test_the_limit_counts_characters_after_normalising() -> None:
    assert judge_message("a" * 10, 10).verdict is Verdict.READ
    assert judge_message("a" * 11, 10).verdict is Verdict.TOO_LONG
    assert judge_message("😬" * 10, 10).verdict is Verdict.READ  # characters, not bytes
    assert judge_message("a" * 10 + " " * 1000 + "\x00" * 1000, 10).verdict is Verdict.READ
    assert judge_message("a " * 20_000, LIMIT).verdict is Verdict.TOO_LONG


ANY_CHARACTER = st.characters(exclude_categories=())  # controls and lone surrogates too


@given(st.text(ANY_CHARACTER, max_size=300), st.integers(min_value=1, max_value=400))
def test_judging_any_text(text: str, limit: int) -> None:
    judged = judge_message(text, limit)
    assert normalise_message(judged.text) == judged.text  # idempotent
    assert not any(unicodedata.category(char) in ("Cc", "Cs") for char in judged.text)
    assert judged.text == judged.text.strip() and "  " not in judged.text
    judged.text.encode("utf-8")  # storable and sendable: no unpaired surrogate left
    readable = any(unicodedata.category(char)[0] in "LMNPS" for char in judged.text)
    expected = (
        Verdict.EMPTY if not readable else Verdict.TOO_LONG if len(judged.text) > limit else Verdict.READ
    )
    assert judged.verdict is expected


# --- the patient-facing texts (data/faq/replies.yml) -------------------------------------


def test_an_over_long_message_is_told_the_limit() -> None:
    replies = default_knowledge_base().replies
    judged = judge_message("a" * 20_000, 1000)
    reply = refusal_reply(judged, replies, 1000)
    assert reply is not None and reply.topic == TOPIC_MESSAGE_TOO_LONG and reply.route == ROUTE_INPUT
    assert "1,000" in reply.text and "20,000" in reply.text and "{" not in reply.text
    assert reply.custom == {
        "data": {"topic": TOPIC_MESSAGE_TOO_LONG, "route": ROUTE_INPUT, "sources": [], "max_chars": 1000}
    }


def test_an_empty_message_is_asked_for_the_question() -> None:
    replies = default_knowledge_base().replies
    reply = refusal_reply(judge_message(" \n ", 1000), replies, 1000)
    assert reply is not None and reply.text == replies.empty_message and reply.topic == TOPIC_EMPTY_MESSAGE
    assert refusal_reply(judge_message("does it hurt?", 1000), replies, 1000) is None


def test_the_too_long_reply_must_say_the_limit(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq"
    shutil.copytree(PROJECT_DIR / "data" / "faq", faq_dir)
    replies = faq_dir / "replies.yml"
    text = replies.read_text(encoding="utf-8")
    assert "{max_chars}" in text
    replies.write_text(text.replace("{max_chars}", "{limit}"), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(faq_dir, PROJECT_DIR / "data" / "nlu")
    assert any("message_too_long" in p and "{max_chars}" in p for p in error.value.problems)
    assert any("unknown placeholders ['limit']" in p for p in error.value.problems)


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_MESSAGE_CHARS", raising=False)
    assert Settings().max_message_chars == 1000
    monkeypatch.setenv("MAX_MESSAGE_CHARS", "280")
    assert Settings().max_message_chars == 280
    for wrong in ("0", "-5", "lots"):
        monkeypatch.setenv("MAX_MESSAGE_CHARS", wrong)
        with pytest.raises(ValueError, match="MAX_MESSAGE_CHARS"):
            Settings()


# --- requests, generated or written out ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request and what it must get: ``refused`` (the 4xx statuses allowed) or, when
    empty, 200 with ``message`` the patient's text as sent."""

    body: bytes
    content_type: str | None = JSON
    refused: tuple[int, ...] = ()
    sender: str = ""
    message: str = ""
    stream: bool = False
    metadata: dict[str, Any] | None = field(default=None, hash=False)


def json_case(data: Any, content_type: str | None = JSON, ascii_only: bool = True, **expect: Any) -> Case:
    body = json.dumps(data, ensure_ascii=ascii_only).encode("utf-8")
    return Case(body, content_type, **expect)


def message_case(sender: str, message: str, **fields: Any) -> Case:
    data = {"sender": sender, "message": message, **fields}
    return json_case(data, sender=sender, message=message, metadata=fields.get("metadata"))


HUGE_METADATA = {"notes": "x" * (MAX_METADATA + 1)}
VALID = {"sender": "patient-x", "message": "does it hurt?"}

# What each kind of bad request gets (the same table runs against the stub and the real bot).
BAD_REQUESTS = {
    "malformed JSON": (Case(b'{"sender": "patient-x", "message": "hi"', refused=(400,)), "not valid JSON"),
    "not UTF-8": (Case(b'{"sender": "patient-x", "message": "caf\xe9"}', refused=(400,)), "not UTF-8"),
    "NaN": (
        Case(b'{"sender": "patient-x", "message": "hi", "metadata": {"a": NaN}}', refused=(400,)),
        "not valid JSON",
    ),
    "deep nesting": (Case(b"[" * 100_000 + b"]" * 100_000, refused=(400,)), "not valid JSON"),
    "a JSON list": (json_case([VALID], refused=(400,)), "must be a JSON object, not a list"),
    "a JSON string": (json_case("does it hurt?", refused=(400,)), "not a string"),
    "no content type": (json_case(VALID, None, refused=(415,)), "Content-Type must be application/json"),
    "text/plain": (json_case(VALID, "text/plain", refused=(415,)), "not 'text/plain'"),
    "a form": (
        Case(b"sender=patient-x&message=hi", "application/x-www-form-urlencoded", refused=(415,)),
        "Content",
    ),
    "latin-1 JSON": (json_case(VALID, "application/json; charset=latin-1", refused=(415,)), "UTF-8"),
    "missing sender": (json_case({"message": "hi"}, refused=(400,)), "'sender' is missing"),
    "null sender": (json_case({"sender": None, "message": "hi"}, refused=(400,)), "'sender' is missing"),
    "numeric sender": (json_case({"sender": 42, "message": "hi"}, refused=(400,)), "not a number"),
    "list sender": (json_case({"sender": ["p"], "message": "hi"}, refused=(400,)), "not a list"),
    "blank sender": (json_case({"sender": "  ", "message": "hi"}, refused=(400,)), "'sender' is empty"),
    "sender with NUL": (json_case({"sender": "p\x00", "message": "hi"}, refused=(400,)), "control"),
    "long sender": (
        json_case({"sender": "p" * (MAX_SENDER_CHARS + 1), "message": "hi"}, refused=(400,)),
        "longer than",
    ),
    "a widget session as sender": (
        json_case({"sender": uuid.uuid4().hex, "message": "hi"}, refused=(400,)),
        "chat widget session",
    ),
    "a WhatsApp user as sender": (
        json_case({"sender": "whatsapp:+447700900123", "message": "hi"}, refused=(400,)),
        "messaging app's user id",
    ),
    "a Telegram chat as sender": (
        json_case({"sender": "123456789", "message": "hi"}, refused=(400,)),
        "REST",
    ),
    "missing message": (json_case({"sender": "patient-x"}, refused=(400,)), "'message' is missing"),
    "null message": (json_case({**VALID, "message": None}, refused=(400,)), "'message' is missing"),
    "numeric message": (json_case({**VALID, "message": 3.5}, refused=(400,)), "not a number"),
    "list message": (json_case({**VALID, "message": ["hi"]}, refused=(400,)), "not a list"),
    "object message": (json_case({**VALID, "message": {"text": "hi"}}, refused=(400,)), "not an object"),
    "boolean message": (json_case({**VALID, "message": True}, refused=(400,)), "not a boolean"),
    "list metadata": (json_case({**VALID, "metadata": [1]}, refused=(400,)), "'metadata' must be an object"),
    "huge metadata": (json_case({**VALID, "metadata": HUGE_METADATA}, refused=(413,)), "'metadata' is"),
    "huge body": (
        json_case({**VALID, "padding": "x" * MAX_BODY}, refused=(413,)),
        "body is larger than",
    ),
}

# Patients' messages that all get 200: the bot's answer, or the reply saying why it did not read it.
PATIENT_MESSAGES = {
    "empty": "",
    "whitespace only": "   \n\t  ",
    "invisible only": "\u200b\u200b",
    "20,000 characters": "how much does it cost? " * 870,
    "just over the limit": "a" * (LIMIT + 1),
    "at the limit": "does it hurt? " + "a" * (LIMIT - 14),
    "emoji and mixed scripts": "Est-ce que ça fait mal ? 痛いですか 😬👍🏽 هل هو مؤلم",
    "control characters": "how\x00 much\x07 does\x1b it\x7f cost?",
    "HTML and script tags": "<script>alert('hi')</script><img src=x onerror=alert(1)> how much is it?",
    "SQL-looking text": "'; DROP TABLE events; -- SELECT * FROM events WHERE sender_id='x' OR 1=1",
    "JSON-looking text": '{"sender": "someone-else", "message": "hi"}',
    "a slash command with broken JSON": '/faq_cost{"x": [',
    "a bare slash": "/",
    "Rasa's restart command": "/restart",
    "Rasa's back command": " /back ",
    "right-to-left override": "does it \u202ehurt?",
}


# --- the channel on a real Sanic server, with a stub bot ----------------------------------


# What makes the stub bot fail as the real one can: its database unreachable, or a bug.
STORE_DOWN = "the stub's database is down"
BOT_FAILS = "the stub fails"


@dataclass
class StubBot:
    """Stands in for Rasa's agent: records what it is handed and answers "heard: <text>"."""

    received: list[UserMessage] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        if message.text == STORE_DOWN:
            raise StoreUnavailable("the conversation database cannot be reached (stopped by the test)")
        if message.text == BOT_FAILS:
            raise RuntimeError("a bug")
        await message.output_channel.send_text_message(message.sender_id, f"heard: {message.text}")


@dataclass
class Channel:
    url: str
    bot: StubBot


@pytest.fixture(scope="module")
def channel() -> Iterator[Channel]:
    with served_channel() as served:
        yield served


@contextlib.contextmanager
def served_channel() -> Iterator[Channel]:
    """The channel, with the settings of the moment, mounted by Rasa's ``register`` on a real
    Sanic server in a thread."""
    # Sanic's switch for several apps in one process: without it, Sanic rewrites its own
    # methods for this app and every later app in the process (tests/test_webhooks.py) fails.
    test_mode = Sanic.test_mode
    Sanic.test_mode = True
    bot = StubBot()
    app = Sanic(f"bad-input-{uuid.uuid4().hex}")
    app.ctx.agent = bot
    register([CheckedRestInput()], app, route="/webhooks/")
    port = free_port()
    loop = asyncio.new_event_loop()

    async def start() -> Any:
        server = await app.create_server("127.0.0.1", port, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        await server.start_serving()
        return server

    server = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Channel(f"http://127.0.0.1:{port}/webhooks/rest", bot)
    finally:

        async def stop() -> None:
            for connection in list(server.connections):
                connection.close_if_idle()
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()

        async def drain() -> None:
            await asyncio.gather(*pending, return_exceptions=True)

        loop.run_until_complete(drain())
        loop.close()
        Sanic.test_mode = test_mode


def send(url: str, case: Case, timeout: float = 30) -> requests.Response:
    headers = {"Content-Type": case.content_type} if case.content_type is not None else {}
    params = {"stream": "true"} if case.stream else None
    return requests.post(f"{url}/webhook", data=case.body, headers=headers, params=params, timeout=timeout)


def replies_of(response: requests.Response, stream: bool) -> list[dict[str, Any]]:
    if stream:
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]
    messages = response.json()
    assert isinstance(messages, list), messages
    return messages


def assert_refused(response: requests.Response, case: Case, reason: str = "") -> None:
    assert response.status_code in case.refused, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert isinstance(error, str) and error and reason in error


def expected_refusal(message: str) -> str | None:
    """The text the patient gets instead of an answer, or None when the bot reads it."""
    reply = refusal_reply(judge_message(message, LIMIT), default_knowledge_base().replies, LIMIT)
    return reply.text if reply else None


@pytest.mark.parametrize("kind", BAD_REQUESTS)
def test_a_bad_request_is_refused_with_its_reason_and_never_reaches_the_bot(
    channel: Channel, kind: str
) -> None:
    case, reason = BAD_REQUESTS[kind]
    channel.bot.received.clear()
    assert_refused(send(channel.url, case), case, reason)
    assert channel.bot.received == []


@pytest.mark.parametrize("kind", PATIENT_MESSAGES)
def test_every_patients_message_gets_an_answer_or_is_told_why_not(channel: Channel, kind: str) -> None:
    message = PATIENT_MESSAGES[kind]
    channel.bot.received.clear()
    response = send(channel.url, message_case("patient-1", message))
    assert response.status_code == 200
    replies = replies_of(response, stream=False)
    refusal = expected_refusal(message)
    if refusal is None:
        [received] = channel.bot.received
        assert received.text == judge_message(message, LIMIT).text and received.input_channel == "rest"
        assert replies == [{"recipient_id": "patient-1", "text": f"heard: {received.text}"}]
    else:
        assert channel.bot.received == []
        assert replies[0] == {"recipient_id": "patient-1", "text": refusal}
        assert replies[1]["custom"]["data"]["route"] == ROUTE_INPUT


def test_kinds_of_message_get_what_docs_say() -> None:
    """The table above covers each outcome (so none of its rows checks nothing)."""
    verdicts = {kind: judge_message(text, LIMIT).verdict for kind, text in PATIENT_MESSAGES.items()}
    assert verdicts["empty"] is verdicts["whitespace only"] is verdicts["invisible only"] is Verdict.EMPTY
    assert verdicts["20,000 characters"] is verdicts["just over the limit"] is Verdict.TOO_LONG
    assert verdicts["at the limit"] is Verdict.READ and len(PATIENT_MESSAGES["at the limit"]) == LIMIT


def test_the_too_long_reply_over_rest_says_the_limit(channel: Channel) -> None:
    response = send(channel.url, message_case("patient-1", "a" * 20_000))
    [text, custom] = response.json()
    assert f"{LIMIT:,}" in text["text"] and "20,000" in text["text"]
    assert custom == {
        "recipient_id": "patient-1",
        "custom": {
            "data": {"topic": TOPIC_MESSAGE_TOO_LONG, "route": ROUTE_INPUT, "sources": [], "max_chars": LIMIT}
        },
    }


def test_a_streaming_client_gets_the_refusal_as_lines(channel: Channel) -> None:
    case = Case(json.dumps({"sender": "p", "message": " "}).encode(), stream=True)
    response = send(channel.url, case)
    assert response.status_code == 200
    [text, custom] = replies_of(response, stream=True)
    assert text["text"] == default_knowledge_base().replies.empty_message and "custom" in custom


def test_the_client_cannot_choose_the_channel_and_metadata_reaches_the_bot(channel: Channel) -> None:
    channel.bot.received.clear()
    case = message_case("patient-1", "hi", input_channel="twilio", metadata={"page": "/prices"})
    assert send(channel.url, case).status_code == 200
    [received] = channel.bot.received
    assert received.input_channel == "rest" and received.metadata == {"page": "/prices"}


def test_a_chunked_body_over_the_limit_is_refused_before_it_is_all_read(channel: Channel) -> None:
    channel.bot.received.clear()
    sent = []

    def body() -> Iterator[bytes]:  # no Content-Length: requests sends it chunked
        yield b'{"sender": "p", "message": "'
        for _ in range(MAX_BODY // 10_000 + 50):
            sent.append(1)
            yield b"a" * 10_000
        yield b'"}'

    try:
        response = requests.post(
            f"{channel.url}/webhook", data=body(), headers={"Content-Type": JSON}, timeout=30
        )
    except requests.ConnectionError:
        pytest.fail("the server closed the connection without answering 413")
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    assert channel.bot.received == []


def test_with_a_rest_token_only_requests_that_carry_it_reach_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "t" * 40
    monkeypatch.setenv("REST_TOKEN", token)
    load_settings.cache_clear()
    try:
        with served_channel() as guarded:  # the channel reads the token when it is mounted
            body = {"sender": "patient-x", "message": "does it hurt?"}
            url = f"{guarded.url}/webhook"
            for headers in ({}, {"Authorization": f"Bearer {'x' * 40}"}, {"Authorization": token}):
                refused = requests.post(url, json=body, headers=headers, timeout=30)
                assert refused.status_code == 401 and "REST_TOKEN" in refused.json()["error"]
            assert guarded.bot.received == []
            answered = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert answered.status_code == 200 and [m.text for m in guarded.bot.received] == ["does it hurt?"]
    finally:
        monkeypatch.delenv("REST_TOKEN")
        load_settings.cache_clear()


def test_an_unreachable_store_is_a_503_to_retry_and_a_bug_a_500(channel: Channel) -> None:
    url = f"{channel.url}/webhook"
    down = requests.post(url, json={"sender": "patient-x", "message": STORE_DOWN}, timeout=30)
    assert down.status_code == 503 and down.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "the conversation database cannot be reached" in down.json()["error"]
    assert "nothing was saved" in down.json()["error"]
    failing = requests.post(url, json={"sender": "patient-x", "message": BOT_FAILS}, timeout=30)
    assert failing.status_code == 500 and "a bug" not in failing.text  # the reason stays in the log


def test_a_streamed_reply_tells_the_patient_and_ends_when_the_bot_fails(channel: Channel) -> None:
    unavailable = unavailable_reply(default_knowledge_base(), default_clinic()).text
    for text in (STORE_DOWN, BOT_FAILS):
        case = Case(json.dumps({"sender": "patient-x", "message": text}).encode(), stream=True)
        response = send(channel.url, case, timeout=10)  # Rasa's own stream would never end
        assert response.status_code == 200
        assert [reply["text"] for reply in replies_of(response, stream=True)] == [unavailable]


def test_other_methods_are_refused_with_a_reason(channel: Channel) -> None:
    response = requests.get(f"{channel.url}/webhook", timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert "use POST" in response.json()["error"]
    assert requests.get(f"{channel.url}/", timeout=10).json() == {"status": "ok"}


def test_credentials_mount_this_channel_as_rest() -> None:
    channels = rasa.core.run.create_http_input_channels(None, str(PROJECT_DIR / "credentials.yml"))
    [rest] = [c for c in channels if c.name() == "rest"]
    assert isinstance(rest, CheckedRestInput) and rest.url_prefix() == "rest"


# Generated requests: a request of each kind below, with what it must get.

SENDERS = st.sampled_from(["fuzz-patient-1", "fuzz-patient-2", "fuzz patient 3 ✓"])
SAMPLE_MESSAGES = st.sampled_from(sorted(PATIENT_MESSAGES.values()))
MESSAGES = st.one_of(
    st.text(ANY_CHARACTER, max_size=80),
    SAMPLE_MESSAGES,
    st.tuples(SAMPLE_MESSAGES, st.text(ANY_CHARACTER, max_size=20)).map("".join),
    st.integers(min_value=LIMIT - 2, max_value=LIMIT + 2).map(lambda n: "é" * n),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
OBJECTS = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)
LISTS = st.lists(JSON_VALUES, max_size=4)
NUMBERS = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
NOT_OBJECTS = st.one_of(st.none(), NUMBERS, st.text(max_size=20), LISTS)
WRONG_TYPES = st.one_of(NUMBERS, LISTS, OBJECTS)  # for a field that must be a string
GOOD_CONTENT_TYPES = st.sampled_from(
    [JSON, "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"]
)
BAD_CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            None,
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "application/jsonp",
            "application/json; charset=latin-1",
            "*/*",
        ]
    ),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
).filter(lambda value: value is None or value.split(";")[0].strip().lower() != JSON)


@st.composite
def answered_requests(draw: st.DrawFn) -> Case:
    """A well-formed request: 200, with an answer or the reply saying why it was not read."""
    sender, message = draw(SENDERS), draw(MESSAGES)
    data: dict[str, Any] = {"sender": sender, "message": message}
    metadata = draw(st.none() | OBJECTS)
    if metadata is not None or draw(st.booleans()):
        data["metadata"] = metadata
    if draw(st.booleans()):
        data["input_channel"] = draw(JSON_VALUES)  # ignored
    has_surrogate = any(unicodedata.category(char) == "Cs" for char in json.dumps(data, ensure_ascii=False))
    ascii_only = has_surrogate or draw(st.booleans())
    case = json_case(data, draw(GOOD_CONTENT_TYPES), ascii_only, sender=sender, message=message)
    return Case(
        case.body,
        case.content_type,
        sender=sender,
        message=message,
        stream=draw(st.booleans()),
        metadata=metadata,
    )


@st.composite
def wrong_field_requests(draw: st.DrawFn) -> Case:
    """A JSON object with a field missing or of the wrong type: 400."""
    data: dict[str, Any] = {"sender": draw(SENDERS), "message": draw(MESSAGES)}
    wrong = draw(st.sampled_from(["sender", "message", "metadata"]))
    if wrong != "metadata" and draw(st.booleans()):
        del data[wrong]
    else:
        bad = (
            st.one_of(NUMBERS, st.text(max_size=20), LISTS)
            if wrong == "metadata"
            else WRONG_TYPES | st.none()
        )
        data[wrong] = draw(bad)
    return json_case(data, draw(GOOD_CONTENT_TYPES), refused=(400,))


@st.composite
def not_json_object_requests(draw: st.DrawFn) -> Case:
    """Bytes that are not a JSON object: random bytes, a cut request, or another JSON value."""
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            st.builds(
                lambda data, cut: data[:cut], answered_requests().map(lambda c: c.body), st.integers(0, 20)
            ),
            NOT_OBJECTS.map(lambda value: json.dumps(value).encode()),
        )
    )
    return Case(body, draw(GOOD_CONTENT_TYPES), refused=(400,))


@st.composite
def wrong_content_type_requests(draw: st.DrawFn) -> Case:
    case = draw(answered_requests())
    return Case(case.body, draw(BAD_CONTENT_TYPES), refused=(415,))


# Half well-formed (those reach the NLU and actions), half refused in one of three ways.
REQUESTS = st.one_of(
    answered_requests(),
    answered_requests(),
    answered_requests(),
    wrong_field_requests(),
    not_json_object_requests(),
    wrong_content_type_requests(),
)


def check_answer(response: requests.Response, case: Case) -> list[dict[str, Any]]:
    """The checks every generated request's response must pass; the replies of a 200."""
    assert response.status_code < 500, response.text[:300]
    if case.refused:
        assert_refused(response, case)
        return []
    assert response.status_code == 200, (response.status_code, response.text[:300])
    replies = replies_of(response, case.stream)
    assert replies and all(reply["recipient_id"] == case.sender for reply in replies), replies
    refusal = expected_refusal(case.message)
    texts = [reply["text"] for reply in replies if "text" in reply]
    if refusal is not None:
        assert texts == [refusal]
    else:
        assert texts and refusal not in texts
        assert all(reply.get("custom", {}).get("data", {}).get("route") != ROUTE_INPUT for reply in replies)
    return replies


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=REQUESTS)
def test_generated_requests_reach_the_bot_only_when_well_formed(channel: Channel, case: Case) -> None:
    channel.bot.received.clear()
    check_answer(send(channel.url, case), case)
    if case.refused or expected_refusal(case.message) is not None:
        assert channel.bot.received == []
    else:
        [received] = channel.bot.received
        assert received.sender_id == case.sender and received.input_channel == "rest"
        assert received.text == judge_message(case.message, LIMIT).text and received.metadata == case.metadata


# --- the real bot ------------------------------------------------------------------------

NORMAL_QUESTION = "how much does mesotherapy cost?"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotAddress]:
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SANIC_WORKERS", "1")  # one worker: bad input must not take the only one down
        address = BotAddress(rasa_port=free_port(), action_port=free_port())
        with running_bot(address, log_dir=tmp_path_factory.mktemp("bad-input-logs")) as running:
            yield running


def answer_topic(bot: BotAddress, sender: str, text: str = NORMAL_QUESTION) -> str | None:
    response = requests.post(bot.rest_url, json={"sender": sender, "message": text}, timeout=60)
    response.raise_for_status()
    [custom] = [reply["custom"]["data"] for reply in response.json() if "custom" in reply]
    topic: str | None = custom["topic"]
    return topic


@pytest.mark.e2e
@pytest.mark.parametrize("kind", [*BAD_REQUESTS, *PATIENT_MESSAGES])
def test_bad_input_leaves_the_conversation_usable(bot: BotAddress, kind: str) -> None:
    """Each kind of bad input from one patient, then that patient's normal question."""
    sender = f"patient-{uuid.uuid4()}"
    url = bot.rest_url.removesuffix("/webhook")
    if kind in BAD_REQUESTS:  # their sender, where they have one, is "patient-x"
        case, reason = BAD_REQUESTS[kind]
        assert_refused(send(url, case), case, reason)
        assert answer_topic(bot, "patient-x") == "cost"
    else:
        case = message_case(sender, PATIENT_MESSAGES[kind])
        check_answer(send(url, case, timeout=60), case)
    assert answer_topic(bot, sender) == "cost"


@pytest.mark.e2e
def test_generated_requests_never_fail_the_bot(bot: BotAddress) -> None:
    """Hypothesis drives the real REST channel; then the fuzzed conversations go on."""
    url = bot.rest_url.removesuffix("/webhook")

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=REQUESTS)
    def request_is_answered(case: Case) -> None:
        try:
            response = send(url, case, timeout=60)
        except requests.RequestException as error:  # a hang, or the server gone
            raise AssertionError(f"no answer: {error}") from error
        check_answer(response, case)

    request_is_answered()
    assert requests.get(f"{bot.rasa_url}/", timeout=10).status_code == 200
    for sender in ("fuzz-patient-1", "fuzz-patient-2", "fuzz patient 3 ✓"):
        assert answer_topic(bot, sender) == "cost"


@pytest.mark.e2e
def test_bad_requests_alongside_a_patient_do_not_stop_the_patients_answers(bot: BotAddress) -> None:
    """Huge and malformed requests sent at the same time as a patient's conversation."""
    url = bot.rest_url.removesuffix("/webhook")
    heavy = [
        BAD_REQUESTS[kind][0] for kind in ("huge body", "huge metadata", "deep nesting", "malformed JSON")
    ]
    heavy += [message_case("patient-long", PATIENT_MESSAGES["20,000 characters"])] * 4
    sender = f"patient-{uuid.uuid4()}"

    def patient() -> list[str | None]:
        return [answer_topic(bot, sender), answer_topic(bot, sender, "does it hurt?")]

    def bad(case: Case) -> int:
        return send(url, case, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        statuses = pool.map(bad, heavy * 2)
        topics = pool.submit(patient)
        assert sorted(set(statuses)) == [200, 400, 413]
        assert topics.result() == ["cost", "pain"]
