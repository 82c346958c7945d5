"""The REST channel (channels/rest.py) on a real Sanic server with a stub bot: bad requests
refused with a reason, every patient's message answered or told why not, generated
requests (hypothesis).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import rasa.core.run
import requests
from hypothesis import HealthCheck, given, settings
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.answers import unavailable_reply
from bot.clinic import default_clinic
from bot.knowledge import default_knowledge_base
from bot.messages import (
    ROUTE_INPUT,
    TOPIC_MESSAGE_TOO_LONG,
    Verdict,
    judge_message,
)
from bot.settings import PROJECT_DIR, load_settings
from channels.rest import RETRY_AFTER_SECONDS, CheckedRestInput, conversation_id
from rasa_server.stores import StoreUnavailable
from tests.channels.rest_requests import (
    BAD_REQUESTS,
    JSON,
    LIMIT,
    MAX_BODY,
    PATIENT_MESSAGES,
    REQUESTS,
    Case,
    assert_refused,
    check_answer,
    expected_refusal,
    message_case,
    replies_of,
    send,
)
from tooling.servers import free_port

# What makes the stub bot fail as the real one can: its database unreachable, or a bug.
STORE_DOWN = "the stub's database is down"

BOT_FAILS = "the stub fails"
BOT_FAILS_ES = "¿cuánto cuesta la mesoterapia? (el stub falla)"


@dataclass
class StubBot:
    """Stands in for Rasa's agent: records what it is handed and answers "heard: <text>"."""

    received: list[UserMessage] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        if message.text == STORE_DOWN:
            raise StoreUnavailable("the conversation database cannot be reached (stopped by the test)")
        if message.text in (BOT_FAILS, BOT_FAILS_ES):
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
    # methods for this app and every later app in the process (the other channel tests) fails.
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


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("sender", ["123456789", "whatsapp:+447700900123", "0123456789abcdef" * 2, "rest:x"])
def test_any_sender_is_answered_in_rests_own_namespace_of_conversations(
    channel: Channel, sender: str, stream: bool
) -> None:
    """Digits (a clinic's patient ids), a phone number or a widget session's shape: all are
    REST conversations of their own, kept as ``rest:<sender>``, never another channel's."""
    channel.bot.received.clear()
    case = dataclasses.replace(message_case(sender, "does it hurt?"), stream=stream)
    response = send(channel.url, case)
    assert response.status_code == 200
    [received] = channel.bot.received
    assert received.sender_id == "rest:" + sender
    assert replies_of(response, stream) == [{"recipient_id": sender, "text": "heard: does it hurt?"}]


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


def test_the_unavailable_reply_is_in_the_patients_language(channel: Channel) -> None:
    knowledge = default_knowledge_base()
    spanish = unavailable_reply(knowledge.in_language("es"), default_clinic()).text
    assert spanish != unavailable_reply(knowledge, default_clinic()).text
    case = Case(json.dumps({"sender": "paciente-x", "message": BOT_FAILS_ES}).encode(), stream=True)
    response = send(channel.url, case, timeout=10)
    assert [reply["text"] for reply in replies_of(response, stream=True)] == [spanish]


def test_other_methods_are_refused_with_a_reason(channel: Channel) -> None:
    response = requests.get(f"{channel.url}/webhook", timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert "use POST" in response.json()["error"]
    assert requests.get(f"{channel.url}/", timeout=10).json() == {"status": "ok"}


def test_credentials_mount_this_channel_as_rest() -> None:
    channels = rasa.core.run.create_http_input_channels(None, str(PROJECT_DIR / "credentials.yml"))
    [rest] = [c for c in channels if c.name() == "rest"]
    assert isinstance(rest, CheckedRestInput) and rest.url_prefix() == "rest"


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=REQUESTS)
def test_generated_requests_reach_the_bot_only_when_well_formed(channel: Channel, case: Case) -> None:
    channel.bot.received.clear()
    check_answer(send(channel.url, case), case)
    if case.refused or expected_refusal(case.message) is not None:
        assert channel.bot.received == []
    else:
        [received] = channel.bot.received
        assert received.sender_id == conversation_id(case.sender) and received.input_channel == "rest"
        assert received.text == judge_message(case.message, LIMIT).text and received.metadata == case.metadata
