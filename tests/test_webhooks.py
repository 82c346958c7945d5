"""The messaging apps' webhooks, posted to as Twilio, Telegram and Messenger post to them.

Most tests mount a connector of ``channels/`` on a real Sanic app with Rasa's own
``register`` (as ``rasa run`` does) and post the app's real payload shape to it. The
connector's real output channel answers through a local fake of the app's API, so what the
patient would receive is recorded and nothing leaves the machine. The bot behind the
webhook is a stand-in for the NLU model (it knows each topic's canonical question and
button payloads) that runs the project's real actions and Rasa's own response rendering.
The end-to-end tests at the end post to the real Rasa server and action server with the
trained model, with the same connectors pointed at the fake API.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import threading
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import rasa.core.run
from aiogram.bot.api import TelegramAPIServer
from fbmessenger import MessengerClient
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import InputChannel, UserMessage, register
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sanic import Sanic
from twilio.request_validator import RequestValidator

from actions.answer import ActionAnswerFaq
from actions.fallback import ActionOutOfScope
from bot.answers import compose_answer
from bot.knowledge import KnowledgeBase
from bot.servers import DEFAULT_MODEL, BotAddress, action_server, free_port, rasa_server
from bot.settings import PROJECT_DIR
from bot.stores import ConversationStore
from channels import facebook, telegram, twilio
from channels.facebook import VerifiedFacebookInput
from channels.telegram import SecretTelegramOutput, VerifiedTelegramInput
from channels.twilio import SmsOutput, VerifiedTwilioInput

# --- a local fake of the apps' APIs -------------------------------------------------------


@dataclass
class ApiCall:
    path: str
    fields: dict[str, Any]


@dataclass
class FakeApi:
    """Twilio's, Telegram's and the Graph API's endpoints, answering as they do."""

    url: str
    calls: list[ApiCall] = field(default_factory=list)

    def sent_texts(self) -> list[str]:
        """The texts a patient would read, in order, whichever app sent them."""
        texts = []
        for call in self.calls:
            if call.path.endswith(("/Messages.json", "/sendMessage")):
                texts.append(call.fields.get("Body") or call.fields.get("text"))
            elif call.path.endswith("/me/messages") and "message" in call.fields:
                texts.append(call.fields["message"].get("text"))
        return [str(text) for text in texts]


# Twilio's test number for "not a valid phone number" (error 21211).
INVALID_PHONE = "+15005550001"


def _api_answer(path: str, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if path.endswith("/Messages.json") and fields.get("To") == INVALID_PHONE:
        return 400, {"code": 21211, "message": f"The 'To' number {INVALID_PHONE} is not valid", "status": 400}
    if path.endswith("/Messages.json"):
        return 201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "body": fields.get("Body")}
    if path.endswith("/getMe"):
        bot_user = {"id": 1, "is_bot": True, "first_name": "Clinic", "username": BOT_NAME}
        return 200, {"ok": True, "result": bot_user}
    if path.endswith("/sendMessage"):
        message = {"message_id": 1, "date": 0, "chat": {"id": int(fields["chat_id"]), "type": "private"}}
        return 200, {"ok": True, "result": {**message, "text": fields.get("text")}}
    if path.endswith("/setWebhook") and not str(fields.get("url")).startswith("https://"):
        return 400, {"ok": False, "error_code": 400, "description": "Bad Request: bad webhook"}
    if path.endswith("/setWebhook"):
        return 200, {"ok": True, "result": True}
    if path.endswith("/me/messages"):
        return 200, {"recipient_id": fields.get("recipient", {}).get("id"), "message_id": "m_1"}
    return 404, {"error": f"the fake API has no {path}"}


@contextmanager
def fake_api_server() -> Iterator[FakeApi]:
    """The fake API on a free local port, in a thread of its own (Twilio's and Messenger's
    clients are synchronous and may block the event loop that sent the request)."""
    calls: list[ApiCall] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                fields = json.loads(body)
            else:
                fields = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            path = urllib.parse.urlsplit(self.path).path
            calls.append(ApiCall(path, fields))
            status, answer = _api_answer(path, fields)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield FakeApi(f"http://127.0.0.1:{server.server_address[1]}", calls)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with fake_api_server() as fake:
        yield fake


# --- the connectors, with their API clients pointed at the fake ---------------------------

TWILIO_ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-auth-token-for-tests",
    "TWILIO_NUMBER": "+15550001111",
    "TWILIO_WHATSAPP_NUMBER": "+14155238886",
}
WRONG_SECRET = "a-secret-the-app-does-not-have"  # noqa: S105 (a test value)
BOT_NAME = "clinic_meso_bot"
TELEGRAM_ENV = {
    "TELEGRAM_TOKEN": "123456:ABC-test-token",
    "TELEGRAM_BOT_NAME": BOT_NAME,
    "TELEGRAM_WEBHOOK_URL": "https://clinic.example/webhooks/telegram/webhook",
    "TELEGRAM_SECRET_TOKEN": "telegram-secret_for-tests",
}
FACEBOOK_ENV = {
    "FACEBOOK_VERIFY_TOKEN": "verify-token-for-tests",
    "FACEBOOK_APP_SECRET": "facebook-app-secret-for-tests",
    "FACEBOOK_PAGE_ACCESS_TOKEN": "page-access-token-for-tests",
}


# The Rasa server started by the end-to-end tests finds the fake API here.
FAKE_API_URL = "MESO_TEST_FAKE_API_URL"


class TwilioToFake(VerifiedTwilioInput):
    api_url = os.environ.get(FAKE_API_URL, "")

    def get_output_channel(self) -> SmsOutput:
        channel = super().get_output_channel()
        assert isinstance(channel, SmsOutput)
        channel.api.base_url = self.api_url
        return channel


class TelegramToFake(VerifiedTelegramInput):
    api_url = os.environ.get(FAKE_API_URL, "")

    def get_output_channel(self) -> SecretTelegramOutput:
        channel = super().get_output_channel()
        channel.server = TelegramAPIServer.from_base(self.api_url)
        return channel


class FacebookToFake(VerifiedFacebookInput):
    api_url = os.environ.get(FAKE_API_URL, "")

    def messenger_client(self) -> MessengerClient:
        client = super().messenger_client()
        client.graph_url = f"{self.api_url}/v2.12"
        return client


def twilio_channel(fake: FakeApi, **env: str) -> TwilioToFake:
    channel = TwilioToFake.from_environment({**TWILIO_ENV, **env})
    assert isinstance(channel, TwilioToFake) and channel.settings is not None
    channel.api_url = fake.url
    return channel


def telegram_channel(fake: FakeApi, **env: str) -> TelegramToFake:
    channel = TelegramToFake.from_environment({**TELEGRAM_ENV, **env})
    assert isinstance(channel, TelegramToFake) and channel.settings is not None
    channel.api_url = fake.url
    return channel


def facebook_channel(fake: FakeApi) -> FacebookToFake:
    channel = FacebookToFake.from_environment(FACEBOOK_ENV)
    assert isinstance(channel, FacebookToFake) and channel.settings is not None
    channel.api_url = fake.url
    return channel


def app_channel(app: str, fake: FakeApi) -> InputChannel:
    """The connector of ``app`` (twilio, telegram, facebook), sending to the fake API."""
    makers: dict[str, Callable[[FakeApi], InputChannel]] = {
        "twilio": twilio_channel,
        "telegram": telegram_channel,
        "facebook": facebook_channel,
    }
    return makers[app](fake)


# --- the bot behind the webhook -----------------------------------------------------------


@dataclass
class StandInBot:
    """Answers as the bot does, with the NLU model replaced by a lookup: a topic's canonical
    question or a button payload (``/faq_cost``) is that topic's FAQ intent, anything else
    is out of scope. The reply comes from the project's action, rendered by Rasa's
    ``RemoteAction`` and sent through the message's own output channel."""

    knowledge: KnowledgeBase
    domain: dict[str, Any]
    make_tracker: Callable[..., Tracker]
    received: list[UserMessage] = field(default_factory=list)

    def understand(self, text: str) -> tuple[str, Action]:
        for topic in self.knowledge.topics.values():
            if text in (topic.question, f"/{topic.intent}"):
                return topic.intent, ActionAnswerFaq()
        return "out_of_scope", ActionOutOfScope()

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        intent, action = self.understand(message.text or "")
        tracker = self.make_tracker(intent, message.text, channel=message.input_channel)
        dispatcher = CollectingDispatcher()
        await action.run(dispatcher, tracker, self.domain)
        rasa_domain = Domain.load(str(PROJECT_DIR / "domain.yml"))
        nlg = TemplatedNaturalLanguageGenerator(rasa_domain.responses)
        rasa_tracker = DialogueStateTracker(message.sender_id, rasa_domain.slots)
        output = message.output_channel
        for event in await RemoteAction._utter_responses(dispatcher.messages, output, nlg, rasa_tracker):
            await output.send_response(message.sender_id, event.message())


@pytest.fixture
def bot(knowledge: KnowledgeBase, domain: dict[str, Any], make_tracker: Callable[..., Tracker]) -> StandInBot:
    return StandInBot(knowledge, domain, make_tracker)


@pytest.fixture(autouse=True)
def several_sanic_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanic's switch for starting several apps in one process, one per test here."""
    monkeypatch.setattr(Sanic, "test_mode", True)


@asynccontextmanager
async def serving(channel: InputChannel, bot: Callable[[UserMessage], Awaitable[Any]]) -> AsyncIterator[str]:
    """A real Sanic server with ``channel`` mounted by Rasa's ``register`` under /webhooks/."""
    app = Sanic(f"webhooks-{uuid.uuid4().hex}")
    app.ctx.agent = SimpleNamespace(handle_message=bot)
    register([channel], app, route="/webhooks/")
    port = free_port()
    server = await app.create_server("127.0.0.1", port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.start_serving()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/{channel.url_prefix()}"
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Reply:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


async def post(
    url: str, *, data: Any = None, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """``data``: a form; ``body``: the exact bytes to send (a signature covers them)."""
    content = body if body is not None else data
    async with aiohttp.ClientSession() as session, session.post(url, data=content, headers=headers) as reply:
        return Reply(reply.status, await reply.text())


async def get(url: str, params: dict[str, str] | None = None) -> Reply:
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as response:
        return Reply(response.status, await response.text())


# --- Twilio: SMS and WhatsApp -------------------------------------------------------------


PATIENT_PHONE = "+447700900123"


def twilio_form(
    text: str, sender: str = PATIENT_PHONE, to: str = TWILIO_ENV["TWILIO_NUMBER"]
) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS (WhatsApp: ``whatsapp:`` addresses)."""
    form = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": "SM" + "a" * 32,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": "SM" + "a" * 32,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": text,
        "FromCountry": "GB",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": TWILIO_ENV["TWILIO_ACCOUNT_SID"],
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    if sender.startswith("whatsapp:"):
        form.update(ProfileName="Ann", WaId=sender.removeprefix("whatsapp:+"), MessageType="text")
    return form


def twilio_signature(url: str, form: dict[str, str], token: str = TWILIO_ENV["TWILIO_AUTH_TOKEN"]) -> str:
    """What Twilio puts in X-Twilio-Signature, computed by Twilio's own library."""
    return str(RequestValidator(token).compute_signature(url, form))


async def post_to_twilio(url: str, form: dict[str, str], signature: str | None) -> Reply:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return await post(f"{url}/webhook", data=form, headers=headers)


def test_each_answer_reaches_an_sms_patient_as_one_message_with_the_caveat(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> None:
        async with serving(twilio_channel(fake_api), bot) as url:
            for topic in knowledge.topics.values():
                fake_api.calls.clear()
                form = twilio_form(topic.question)
                reply = await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
                assert reply.status == 204, reply.text
                [sms] = [call.fields for call in fake_api.calls]
                assert sms["To"] == PATIENT_PHONE and sms["From"] == TWILIO_ENV["TWILIO_NUMBER"]
                assert sms["Body"].startswith(topic.answer), topic.id
                assert sms["Body"].endswith(knowledge.caveat), topic.id

    asyncio.run(scenario())
    assert len(bot.received) == len(knowledge.topics)
    assert {message.input_channel for message in bot.received} == {"twilio"}


def test_a_whatsapp_patient_is_answered_from_the_whatsapp_number(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    patient, clinic = "whatsapp:" + PATIENT_PHONE, "whatsapp:" + TWILIO_ENV["TWILIO_WHATSAPP_NUMBER"]

    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form(knowledge.topic("pain").question, sender=patient, to=clinic)
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    assert asyncio.run(scenario()).status == 204
    [message] = [call.fields for call in fake_api.calls]
    assert (message["To"], message["From"]) == (patient, clinic)
    assert message["Body"].endswith(knowledge.caveat)
    assert [m.sender_id for m in bot.received] == [patient]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "bm90IGEgc2lnbmF0dXJl",
        "signed with another token",
        "signed over another text",
    ],
)
def test_twilio_refuses_an_unsigned_or_forged_request(
    signature: str | None, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form(knowledge.topic("cost").question)
            forged = signature
            if signature == "signed with another token":
                forged = twilio_signature(f"{url}/webhook", form, WRONG_SECRET)
            elif signature == "signed over another text":
                forged = twilio_signature(f"{url}/webhook", {**form, "Body": "hello"})
            return await post_to_twilio(url, form, forged)

    reply = asyncio.run(scenario())
    assert reply.status == 403
    assert "X-Twilio-Signature" in reply.json()["error"]
    assert bot.received == [] and fake_api.calls == []


def test_behind_a_proxy_twilio_is_checked_against_the_public_url(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    public = "https://clinic.example/webhooks/twilio/webhook"

    async def scenario() -> tuple[Reply, Reply]:
        async with serving(twilio_channel(fake_api, TWILIO_WEBHOOK_URL=public), bot) as url:
            form = twilio_form(knowledge.topic("cost").question)
            signed_for_local_url = await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
            signed_for_public_url = await post_to_twilio(url, form, twilio_signature(public, form))
            return signed_for_local_url, signed_for_public_url

    local, public_reply = asyncio.run(scenario())
    assert local.status == 403 and public in local.json()["error"]
    assert public_reply.status == 204
    assert len(bot.received) == 1 and len(fake_api.calls) == 1


def test_twilio_refusing_a_message_is_logged_not_a_failed_webhook(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form(knowledge.topic("cost").question, sender=INVALID_PHONE)
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    assert asyncio.run(scenario()).status == 204
    assert len(bot.received) == 1 and len(fake_api.calls) == 1
    assert "Twilio did not send a message (error 21211)" in caplog.text


def test_topics_offered_on_sms_arrive_in_one_message_without_payloads(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form("what's the capital of France?")
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    assert asyncio.run(scenario()).status == 204
    [sms] = fake_api.sent_texts()
    assert sms.startswith(knowledge.replies.out_of_scope)
    for topic_id in knowledge.replies.suggested_topics:
        assert knowledge.topic(topic_id).title in sms
    assert "/faq_" not in sms


# What Twilio adds to the form of a WhatsApp message that is not text (its Body is empty).
WHATSAPP_PHOTO = {
    "NumMedia": "1",
    "MediaContentType0": "image/jpeg",
    "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
    "MessageType": "image",
}
WHATSAPP_LOCATION = {"Latitude": "51.5072", "Longitude": "-0.1276", "MessageType": "location"}


@pytest.mark.parametrize(
    ("app", "text", "extra"),
    [
        ("whatsapp", "", WHATSAPP_PHOTO),
        ("whatsapp", "", WHATSAPP_LOCATION),
        ("whatsapp", "", {"NumMedia": "1", "MediaContentType0": "audio/ogg", "MessageType": "audio"}),
        ("sms", "", {"NumMedia": "1", "MediaContentType0": "image/png"}),
        ("sms", " \n\u200b ", {}),
    ],
)
def test_a_twilio_message_without_words_gets_the_calm_reply_and_the_bot_reads_nothing(
    app: str, text: str, extra: dict[str, str], fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Rasa's handler fails on an empty Body (a 500, and the patient hears nothing)."""
    patient, clinic = PATIENT_PHONE, TWILIO_ENV["TWILIO_NUMBER"]
    if app == "whatsapp":
        patient, clinic = "whatsapp:" + PATIENT_PHONE, "whatsapp:" + TWILIO_ENV["TWILIO_WHATSAPP_NUMBER"]
    form = {**twilio_form(text, sender=patient, to=clinic), **extra}

    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    reply = asyncio.run(scenario())
    assert reply.status == 204, reply.text
    [message] = [call.fields for call in fake_api.calls]
    assert (message["To"], message["From"]) == (patient, clinic)
    assert message["Body"] == knowledge.replies.empty_message
    assert bot.received == []


def test_an_unsigned_message_without_words_is_refused_before_any_reply(
    fake_api: FakeApi, bot: StandInBot
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            return await post_to_twilio(url, {**twilio_form(""), **WHATSAPP_PHOTO}, None)

    assert asyncio.run(scenario()).status == 403
    assert bot.received == [] and fake_api.calls == []


# --- Telegram -----------------------------------------------------------------------------


def telegram_update(text: str, chat_id: int = 424242) -> dict[str, Any]:
    """An Update as Telegram posts it for a private chat message."""
    person = {"id": chat_id, "is_bot": False, "first_name": "Ann", "language_code": "en"}
    return {
        "update_id": 100000001,
        "message": {
            "message_id": 7,
            "from": person,
            "chat": {"id": chat_id, "first_name": "Ann", "type": "private"},
            "date": 1700000000,
            "text": text,
        },
    }


def telegram_button_press(payload: str, chat_id: int = 424242) -> dict[str, Any]:
    """An Update for a press on an inline button the bot sent."""
    person = {"id": chat_id, "is_bot": False, "first_name": "Ann"}
    return {
        "update_id": 100000002,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": person,
            "chat_instance": "-1234567890",
            "data": payload,
            "message": {
                "message_id": 8,
                "from": {"id": 1, "is_bot": True, "first_name": "Clinic", "username": BOT_NAME},
                "chat": {"id": chat_id, "first_name": "Ann", "type": "private"},
                "date": 1700000001,
                "text": "Here are some topics I can help with:",
            },
        },
    }


async def post_to_telegram(url: str, update: dict[str, Any], secret: str | None) -> Reply:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[telegram.SECRET_HEADER] = secret
    return await post(f"{url}/webhook", body=json.dumps(update).encode(), headers=headers)


@pytest.mark.parametrize("how", ["typed", "button"])
def test_a_telegram_update_with_the_secret_is_answered_with_the_caveat(
    how: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    topic = knowledge.topic("washing_hair")
    update = telegram_update(topic.question) if how == "typed" else telegram_button_press(f"/{topic.intent}")

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    reply = asyncio.run(scenario())
    assert reply.status == 200, reply.text
    [sent] = [call.fields for call in fake_api.calls if call.path.endswith("/sendMessage")]
    assert sent["chat_id"] == "424242"
    assert sent["text"].startswith(topic.answer) and sent["text"].endswith(knowledge.caveat)
    assert [m.sender_id for m in bot.received] == ["424242"]


@pytest.mark.parametrize("secret", [None, "", "not-the-secret", TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"] + "x"])
def test_telegram_refuses_an_update_without_the_secret(
    secret: str | None, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, telegram_update(knowledge.topic("cost").question), secret)

    reply = asyncio.run(scenario())
    assert reply.status == 403
    assert telegram.SECRET_HEADER in reply.json()["error"]
    assert bot.received == [] and fake_api.calls == []


def test_the_set_webhook_route_registers_the_secret_with_telegram(fake_api: FakeApi, bot: StandInBot) -> None:
    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await get(f"{url}/set_webhook")

    reply = asyncio.run(scenario())
    assert reply.status == 200 and "successful" in reply.text
    [call] = fake_api.calls
    assert call.path == f"/bot{TELEGRAM_ENV['TELEGRAM_TOKEN']}/setWebhook"
    assert call.fields == {
        "url": TELEGRAM_ENV["TELEGRAM_WEBHOOK_URL"],
        "secret_token": TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
    }


def test_a_webhook_telegram_refuses_is_reported_not_as_a_crash(fake_api: FakeApi, bot: StandInBot) -> None:
    async def scenario() -> Reply:
        channel = telegram_channel(fake_api, TELEGRAM_WEBHOOK_URL="http://clinic.example/webhook")
        async with serving(channel, bot) as url:
            return await get(f"{url}/set_webhook")

    reply = asyncio.run(scenario())
    assert (reply.status, reply.text) == (200, "Invalid webhook")
    assert [call.path.rsplit("/", 1)[-1] for call in fake_api.calls] == ["setWebhook"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("TELEGRAM_SECRET_TOKEN", "has spaces and !", "TELEGRAM_SECRET_TOKEN"),
        ("TELEGRAM_TOKEN", "not a token", "TELEGRAM_TOKEN"),
    ],
)
def test_telegram_with_an_unusable_setting_is_not_configured(name: str, value: str, problem: str) -> None:
    channel = VerifiedTelegramInput.from_environment({**TELEGRAM_ENV, name: value})
    assert isinstance(channel, VerifiedTelegramInput)
    assert channel.settings is None and problem in str(channel.problem)


PHOTO = [{"file_id": "AgACAgQAAxkBAAIB", "file_unique_id": "AQADl7Ex", "width": 90, "height": 67}]
STICKER = {"file_id": "CAACAgIAAxkBAAIC", "file_unique_id": "AgAD", "width": 512, "height": 512}


def telegram_message_update(chat_id: int = 424242, **content: Any) -> dict[str, Any]:
    """An Update for a message of another kind than text: ``content`` replaces the text."""
    update = telegram_update("", chat_id)
    del update["message"]["text"]
    update["message"].update(content)
    return update


@pytest.mark.parametrize(
    "content",
    [
        {"photo": PHOTO},
        {"sticker": {**STICKER, "is_animated": False, "emoji": "\U0001f44d"}},
        {"voice": {"file_id": "AwACAgQ", "file_unique_id": "AgADvw", "duration": 3}},
        {"location": {"latitude": 51.5072, "longitude": -0.1276}},
        {"text": "\u200b \u2060"},
    ],
    ids=["photo", "sticker", "voice", "location", "invisible text"],
)
def test_a_telegram_message_without_words_gets_the_calm_reply(
    content: dict[str, Any], fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Rasa's connector drops such a message: the patient would wait for an answer."""

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            update = telegram_message_update(**content)
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    reply = asyncio.run(scenario())
    assert (reply.status, reply.text) == (200, "success")
    [sent] = [call.fields for call in fake_api.calls if call.path.endswith("/sendMessage")]
    assert sent["chat_id"] == "424242" and sent["text"] == knowledge.replies.empty_message
    assert bot.received == []


@pytest.mark.parametrize("app", ["whatsapp", "telegram"])
def test_a_photo_with_a_caption_is_answered_from_its_caption(
    app: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """WhatsApp sends the caption as the text; Rasa's Telegram connector drops it."""
    topic = knowledge.topic("pain")

    async def scenario() -> Reply:
        if app == "whatsapp":
            clinic = "whatsapp:" + TWILIO_ENV["TWILIO_NUMBER"]
            form = {**twilio_form(topic.question, "whatsapp:" + PATIENT_PHONE, clinic), **WHATSAPP_PHOTO}
            async with serving(twilio_channel(fake_api), bot) as url:
                return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
        update = telegram_message_update(photo=PHOTO, caption=topic.question)
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    assert asyncio.run(scenario()).status in (200, 204)
    [text] = fake_api.sent_texts()
    assert text.startswith(topic.answer) and text.endswith(knowledge.caveat)
    assert [m.text for m in bot.received] == [topic.question]


@pytest.mark.parametrize("command", ["/start", "/start@ClinicBot", "/start spring-offer", " /start \n"])
def test_telegrams_start_command_is_read_as_a_greeting(
    command: str, fake_api: FakeApi, bot: StandInBot, domain: dict[str, Any]
) -> None:
    """Telegram sends /start when a patient first opens the chat; Rasa would read an unknown intent."""

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(
                url, telegram_update(command), TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"]
            )

    assert asyncio.run(scenario()).status == 200
    [message] = bot.received
    assert message.text == telegram.GREETING
    assert message.text.removeprefix("/") in domain["intents"]


@pytest.mark.parametrize("text", ["/started", "/start-over", "how do I /start"])
def test_other_text_with_start_in_it_is_read_as_typed(text: str, fake_api: FakeApi, bot: StandInBot) -> None:
    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, telegram_update(text), TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    assert asyncio.run(scenario()).status == 200
    assert [m.text for m in bot.received] == [text]


def test_a_telegram_update_that_is_no_message_is_acknowledged_not_a_crash(
    fake_api: FakeApi, bot: StandInBot
) -> None:
    """Telegram sends ``my_chat_member`` when a patient blocks the bot; Rasa fails on it
    with a 500, and Telegram then sends it again and again."""
    person = {"id": 424242, "is_bot": False, "first_name": "Ann"}
    member = {"user": {"id": 1, "is_bot": True, "first_name": "Clinic"}, "status": "member"}
    update = {
        "update_id": 100000003,
        "my_chat_member": {
            "chat": {"id": 424242, "first_name": "Ann", "type": "private"},
            "from": person,
            "date": 1700000002,
            "old_chat_member": member,
            "new_chat_member": {**member, "status": "kicked", "until_date": 0},
        },
    }

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    assert asyncio.run(scenario()).status == 200
    assert bot.received == [] and fake_api.calls == []


# --- Facebook Messenger -------------------------------------------------------------------

PAGE_ID = "104857600000001"


def messenger_event(text: str, sender: str = "6543210987654321") -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1700000000000,
        "message": {"mid": "m_" + uuid.uuid4().hex, "text": text},
    }


def page_events(*events: dict[str, Any]) -> bytes:
    """The body Meta posts: a page entry with its messaging events."""
    entry = {"id": PAGE_ID, "time": 1700000000000, "messaging": list(events)}
    return json.dumps({"object": "page", "entry": [entry]}).encode()


def hub_signatures(body: bytes, secret: str = FACEBOOK_ENV["FACEBOOK_APP_SECRET"]) -> dict[str, str]:
    """The two headers Meta signs a webhook body with."""
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
    }


async def post_to_messenger(url: str, body: bytes, headers: dict[str, str]) -> Reply:
    return await post(f"{url}/webhook", body=body, headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("headers", ["both", "X-Hub-Signature-256", "X-Hub-Signature"])
def test_a_signed_messenger_event_is_answered_with_the_caveat(
    headers: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    topic = knowledge.topic("side_effects")
    body = page_events(messenger_event(topic.question))
    signatures = hub_signatures(body)
    if headers != "both":
        signatures = {headers: signatures[headers]}

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, signatures)

    reply = asyncio.run(scenario())
    assert reply.status == 200, reply.text
    [text] = fake_api.sent_texts()
    assert text.startswith(topic.answer) and text.endswith(knowledge.caveat)
    [message] = [call.fields for call in fake_api.calls if "message" in call.fields]
    assert message["recipient"] == {"id": "6543210987654321"}


@pytest.mark.parametrize(
    "forgery", ["unsigned", "another secret", "body changed after signing", "md5", "sha256 wrong, sha1 right"]
)
def test_messenger_refuses_an_unsigned_or_forged_event(
    forgery: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    body = page_events(messenger_event(knowledge.topic("cost").question))
    headers = {
        "unsigned": {},
        "another secret": hub_signatures(body, WRONG_SECRET),
        "body changed after signing": hub_signatures(page_events(messenger_event("hello"))),
        "md5": {"X-Hub-Signature": "md5=" + hmac.new(b"x", body, hashlib.md5).hexdigest()},
        "sha256 wrong, sha1 right": {
            **hub_signatures(body),
            "X-Hub-Signature-256": hub_signatures(body, WRONG_SECRET)["X-Hub-Signature-256"],
        },
    }[forgery]

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, headers)

    reply = asyncio.run(scenario())
    assert reply.status == 403
    assert "X-Hub-Signature" in reply.json()["error"]
    assert bot.received == [] and fake_api.calls == []


def test_every_event_of_a_messenger_batch_is_answered(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    cost, pain = knowledge.topic("cost"), knowledge.topic("pain")
    body = page_events(
        messenger_event(cost.question, sender="111"), messenger_event(pain.question, sender="222")
    )

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    assert asyncio.run(scenario()).status == 200
    first, second = fake_api.sent_texts()
    assert first.startswith(cost.answer) and second.startswith(pain.answer)
    assert first.endswith(knowledge.caveat) and second.endswith(knowledge.caveat)
    assert [m.sender_id for m in bot.received] == ["111", "222"]


def test_topics_offered_on_messenger_are_never_dropped(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Messenger's button template holds 3 buttons; Rasa would send the bare text instead."""
    body = page_events(messenger_event("what's the capital of France?"))

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    assert asyncio.run(scenario()).status == 200
    assert len(knowledge.replies.suggested_topics) > facebook.TEMPLATE_BUTTONS
    [text] = fake_api.sent_texts()
    assert all(knowledge.topic(topic_id).title in text for topic_id in knowledge.replies.suggested_topics)


def test_the_messenger_subscription_handshake(fake_api: FakeApi, bot: StandInBot) -> None:
    def handshake(token: str) -> dict[str, str]:
        return {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}

    async def scenario() -> tuple[Reply, Reply]:
        async with serving(facebook_channel(fake_api), bot) as url:
            right = await get(f"{url}/webhook", handshake(FACEBOOK_ENV["FACEBOOK_VERIFY_TOKEN"]))
            wrong = await get(f"{url}/webhook", handshake("guessed"))
            return right, wrong

    right, wrong = asyncio.run(scenario())
    assert (right.status, right.text) == (200, "1158201444")
    assert wrong.status == 403 and "1158201444" not in wrong.text


def messenger_attachment(kind: str, sender: str = "6543210987654321", **payload: Any) -> dict[str, Any]:
    """A Messenger event whose message is an attachment only (no text)."""
    event = messenger_event("", sender)
    attachment = {"type": kind, "payload": {"url": "https://scontent.example/photo.jpg", **payload}}
    event["message"] = {"mid": event["message"]["mid"], "attachments": [attachment]}
    return event


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("image", {}), ("image", {"sticker_id": 369239263222822}), ("audio", {}), ("file", {})],
    ids=["photo", "sticker", "voice", "file"],
)
def test_a_messenger_attachment_gets_the_calm_reply_and_the_next_event_its_answer(
    kind: str, payload: dict[str, Any], fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Rasa would hand the bot the attachment's address as if the patient had typed it."""
    cost = knowledge.topic("cost")
    body = page_events(
        messenger_attachment(kind, sender="111", **payload), messenger_event(cost.question, sender="222")
    )

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    reply = asyncio.run(scenario())
    assert (reply.status, reply.text) == (200, "success")
    messages = [call.fields for call in fake_api.calls if "message" in call.fields]
    assert [m["recipient"]["id"] for m in messages] == ["111", "222"]
    calm, answer = fake_api.sent_texts()
    assert calm == knowledge.replies.empty_message
    assert answer.startswith(cost.answer) and answer.endswith(knowledge.caveat)
    assert [(m.sender_id, m.text) for m in bot.received] == [("222", cost.question)]


def test_the_pages_own_messages_echoed_back_are_not_answered(fake_api: FakeApi, bot: StandInBot) -> None:
    echo = messenger_attachment("image", sender=PAGE_ID)
    echo["message"]["is_echo"] = True
    body = page_events(echo)

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    assert asyncio.run(scenario()).status == 200
    assert bot.received == [] and fake_api.calls == []


# --- not configured -----------------------------------------------------------------------

CHANNELS: dict[str, tuple[type[InputChannel], tuple[str, ...]]] = {
    "twilio": (VerifiedTwilioInput, twilio.REQUIRED),
    "telegram": (VerifiedTelegramInput, telegram.REQUIRED),
    "facebook": (VerifiedFacebookInput, facebook.REQUIRED),
}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_an_unconfigured_app_answers_503_naming_what_is_missing_and_processes_nothing(
    name: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    channel_class, required = CHANNELS[name]
    channel = channel_class.from_credentials(None)  # what credentials.yml gives it

    async def scenario() -> list[Reply]:
        async with serving(channel, bot) as url:
            return [
                await get(url),
                await get(f"{url}/webhook"),
                await post(f"{url}/webhook", data=twilio_form(knowledge.topic("cost").question)),
                await post(f"{url}/webhook", body=page_events(messenger_event("cost?"))),
            ]

    with pytest.MonkeyPatch.context() as env:
        for variable in required:
            env.delenv(variable, raising=False)
        replies = asyncio.run(scenario())
    for reply in replies:
        assert reply.status == 503
        assert reply.json()["error"].startswith(f"the {name} channel is not configured")
        assert all(variable in reply.json()["error"] for variable in required)
    assert bot.received == [] and fake_api.calls == []


@pytest.mark.parametrize("path", ["/webhook/", "/webhook?from=twilio", "/./webhook", "/set_webhook"])
@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_no_other_spelling_of_the_webhook_skips_the_check(
    name: str, path: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    question = knowledge.topic("cost").question
    body, content_type = {
        "twilio": (urllib.parse.urlencode(twilio_form(question)).encode(), "x-www-form-urlencoded"),
        "telegram": (json.dumps(telegram_update(question)).encode(), "json"),
        "facebook": (page_events(messenger_event(question)), "json"),
    }[name]

    async def scenario() -> Reply:
        async with serving(app_channel(name, fake_api), bot) as url:
            return await post(url + path, body=body, headers={"Content-Type": f"application/{content_type}"})

    reply = asyncio.run(scenario())
    assert reply.status in (403, 404, 405), reply.text
    assert bot.received == [] and fake_api.calls == []


def test_the_credentials_file_loads_with_no_messaging_app_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make run`` starts on embedded defaults: Rasa reads credentials.yml, builds every
    channel and mounts their blueprints with none of the apps' variables set."""
    for _, required in CHANNELS.values():
        for variable in required:
            monkeypatch.delenv(variable, raising=False)
    channels = rasa.core.run.create_http_input_channels(None, str(PROJECT_DIR / "credentials.yml"))
    verified = tuple(channel_class for channel_class, _ in CHANNELS.values())
    messaging = [channel for channel in channels if isinstance(channel, verified)]
    assert sorted(channel.name() for channel in messaging) == sorted(CHANNELS)
    assert all(channel.settings is None for channel in messaging)
    app = Sanic(f"credentials-{uuid.uuid4().hex}")
    register(messaging, app, route="/webhooks/")
    assert {route.path for route in app.router.routes} >= {
        f"webhooks/{name}/<path:path>" for name in CHANNELS
    }


# --- every answer fits one message on every app -------------------------------------------

# The longest text each app delivers as one message: Twilio refuses a longer SMS or WhatsApp
# body (error 21617), Messenger and Telegram refuse longer text messages.
ONE_MESSAGE = {"twilio": 1600, "facebook": 2000, "telegram": 4096}


@pytest.mark.parametrize("app", sorted(ONE_MESSAGE))
def test_every_answer_with_its_caveat_fits_in_one_message(app: str, knowledge: KnowledgeBase) -> None:
    """Too long an answer would not arrive at all; the caveat rides in the same message."""
    for topic in knowledge.topics.values():
        for personal in (False, True):
            text = compose_answer(knowledge, topic, personal=personal).text
            assert "\n\n" not in text and text.endswith(knowledge.caveat)
            assert len(text) <= ONE_MESSAGE[app], (topic.id, personal, len(text))


# --- every app: a message is judged as the REST channel judges it (bot/messages.py) -------


async def post_text(app: str, url: str, text: str) -> Reply:
    """A patient's typed message, posted and signed as ``app`` posts it."""
    if app == "twilio":
        form = twilio_form(text)
        return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
    if app == "telegram":
        return await post_to_telegram(url, telegram_update(text), TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])
    body = page_events(messenger_event(text))
    return await post_to_messenger(url, body, hub_signatures(body))


@pytest.mark.parametrize("app", sorted(ONE_MESSAGE))
def test_an_over_long_message_gets_the_limit_on_every_app_and_the_bot_reads_nothing(
    app: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Every app delivers far longer messages than MAX_MESSAGE_CHARS (1,000 by default)."""
    text = "does it hurt " * 100  # 1,299 characters once the last space is trimmed

    async def scenario() -> Reply:
        async with serving(app_channel(app, fake_api), bot) as url:
            return await post_text(app, url, text)

    assert asyncio.run(scenario()).status in (200, 204)
    [sent] = fake_api.sent_texts()
    assert sent.startswith(knowledge.replies.message_too_long.split("{")[0])
    assert "1,299" in sent and "1,000" in sent
    assert bot.received == []


@pytest.mark.parametrize("app", sorted(ONE_MESSAGE))
def test_the_bot_reads_a_messaging_apps_text_cleaned_and_commands_as_words(
    app: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    cost = knowledge.topic("cost")
    typed = cost.question.replace(" ", " \n\t\u0007 ", 1)  # a line break, a tab, a bell

    async def scenario() -> list[Reply]:
        async with serving(app_channel(app, fake_api), bot) as url:
            return [await post_text(app, url, typed), await post_text(app, url, "/restart")]

    assert all(reply.status in (200, 204) for reply in asyncio.run(scenario()))
    assert [m.text for m in bot.received] == [cost.question, "restart"]
    answer, _ = fake_api.sent_texts()
    assert answer.startswith(cost.answer) and answer.endswith(knowledge.caveat)


# --- end to end: the real Rasa server and action server with the trained model ------------

E2E_CREDENTIALS = """\
tests.test_webhooks.TwilioToFake:
tests.test_webhooks.TelegramToFake:
tests.test_webhooks.FacebookToFake:
"""


@dataclass(frozen=True)
class RunningBot:
    url: str
    fake_api: FakeApi


@pytest.fixture(scope="module")
def running_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """``rasa run`` as ``make run`` starts it (bot.rasa_server, worker processes, the action
    server), with credentials naming this module's connectors and the apps' settings set."""
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    work = tmp_path_factory.mktemp("webhooks-e2e")
    credentials = work / "credentials.yml"
    credentials.write_text(E2E_CREDENTIALS, encoding="utf-8")
    address = BotAddress(rasa_port=free_port(), action_port=free_port())
    with fake_api_server() as fake, action_server(address, work):
        apps = {**TWILIO_ENV, **TELEGRAM_ENV, **FACEBOOK_ENV, FAKE_API_URL: fake.url}
        with rasa_server(address, DEFAULT_MODEL, work, credentials=credentials, env=apps):
            yield RunningBot(f"{address.rasa_url}/webhooks", fake)


def stored_conversation(sender: str) -> DialogueStateTracker | None:
    """The conversation the servers stored for ``sender`` (bot/stores.py, BOT_DATA_DIR)."""
    tracker: DialogueStateTracker | None = asyncio.run(ConversationStore(Domain.empty()).retrieve(sender))
    return tracker


def new_phone() -> str:
    return "+4477009" + str(uuid.uuid4().int)[:5]


@pytest.mark.e2e
def test_e2e_an_sms_question_gets_one_sms_with_the_answer_and_caveat(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    url = f"{running_bot.url}/twilio"
    form = twilio_form("can I wash my hair after the treatment?", new_phone())
    reply = asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form)))
    assert reply.status == 204, reply.text
    [sms] = [call.fields for call in running_bot.fake_api.calls]
    assert sms["To"] == form["From"]
    assert sms["Body"].startswith(knowledge.topic("washing_hair").answer)
    assert sms["Body"].endswith(knowledge.caveat)


@pytest.mark.e2e
def test_e2e_an_sms_patient_picks_an_offered_topic_by_writing_its_title(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    url, phone = f"{running_bot.url}/twilio", new_phone()

    def text_the_bot(text: str) -> str:
        running_bot.fake_api.calls.clear()
        form = twilio_form(text, phone)
        assert asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))).status == 204
        [sms] = running_bot.fake_api.sent_texts()
        return sms

    offer = text_the_bot("what's the capital of France?")
    first = knowledge.topic(knowledge.replies.suggested_topics[0])
    assert offer.startswith(knowledge.replies.out_of_scope) and f"- {first.title}" in offer
    answer = text_the_bot(first.title)
    assert answer.startswith(first.answer) and answer.endswith(knowledge.caveat)


@pytest.mark.e2e
def test_e2e_a_red_flag_on_whatsapp_gets_only_the_urgent_reply(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    patient = "whatsapp:" + new_phone()
    url = f"{running_bot.url}/twilio"
    clinic = "whatsapp:" + TWILIO_ENV["TWILIO_WHATSAPP_NUMBER"]
    form = twilio_form("my lips are swelling up and I can't breathe properly", patient, clinic)
    reply = asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form)))
    assert reply.status == 204, reply.text
    [message] = [call.fields for call in running_bot.fake_api.calls]
    assert message["To"] == patient and message["From"] == clinic
    assert message["Body"].startswith(knowledge.replies.emergency.split(".")[0])
    assert knowledge.caveat not in message["Body"]


@pytest.mark.e2e
def test_e2e_messages_without_words_get_the_calm_reply_on_every_app(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    phone, chat_id = "whatsapp:" + new_phone(), int(str(uuid.uuid4().int)[:9])
    twilio_url = f"{running_bot.url}/twilio"
    form = {**twilio_form("", phone, "whatsapp:" + TWILIO_ENV["TWILIO_NUMBER"]), **WHATSAPP_PHOTO}
    body = page_events(messenger_attachment("image", sender=str(uuid.uuid4().int)[:16]))

    async def scenario() -> list[Reply]:
        return [
            await post_to_twilio(twilio_url, form, twilio_signature(f"{twilio_url}/webhook", form)),
            await post_to_telegram(
                f"{running_bot.url}/telegram",
                telegram_message_update(chat_id, photo=PHOTO),
                TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
            ),
            await post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body)),
        ]

    assert [reply.status for reply in asyncio.run(scenario())] == [204, 200, 200]
    assert running_bot.fake_api.sent_texts() == [knowledge.replies.empty_message] * 3
    assert stored_conversation(phone) is None  # the bot did not read it


@pytest.mark.e2e
def test_e2e_telegram_and_messenger_patients_get_the_answer_with_the_caveat(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    cost = knowledge.topic("cost")
    chat_id = int(str(uuid.uuid4().int)[:9])
    body = page_events(messenger_event(cost.question, sender=str(chat_id)))

    async def scenario() -> list[Reply]:
        return [
            await post_to_telegram(
                f"{running_bot.url}/telegram",
                telegram_update(cost.question, chat_id),
                TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
            ),
            await post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body)),
        ]

    assert [reply.status for reply in asyncio.run(scenario())] == [200, 200]
    texts = running_bot.fake_api.sent_texts()
    assert len(texts) == 2
    assert all(text.startswith(cost.answer) and text.endswith(knowledge.caveat) for text in texts)


@pytest.mark.e2e
def test_e2e_a_telegram_patient_opening_the_chat_is_welcomed(
    running_bot: RunningBot, domain: dict[str, Any]
) -> None:
    running_bot.fake_api.calls.clear()
    chat_id = int(str(uuid.uuid4().int)[:9])

    async def scenario() -> Reply:
        update = telegram_update("/start", chat_id)
        return await post_to_telegram(
            f"{running_bot.url}/telegram", update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"]
        )

    assert asyncio.run(scenario()).status == 200
    assert running_bot.fake_api.sent_texts() == [domain["responses"]["utter_greet"][0]["text"]]


@pytest.mark.e2e
def test_e2e_forged_requests_never_reach_the_bot(running_bot: RunningBot, knowledge: KnowledgeBase) -> None:
    running_bot.fake_api.calls.clear()
    phone, chat_id, psid = new_phone(), int(str(uuid.uuid4().int)[:9]), str(uuid.uuid4().int)[:16]
    question = knowledge.topic("cost").question
    twilio_url = f"{running_bot.url}/twilio"
    form = twilio_form(question, phone)
    forged = twilio_signature(f"{twilio_url}/webhook", form, WRONG_SECRET)
    body = page_events(messenger_event(question, sender=psid))

    async def scenario() -> list[Reply]:
        return [
            await post_to_twilio(twilio_url, form, forged),
            await post_to_telegram(f"{running_bot.url}/telegram", telegram_update(question, chat_id), None),
            await post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body, WRONG_SECRET)),
        ]

    assert [reply.status for reply in asyncio.run(scenario())] == [403, 403, 403]
    assert running_bot.fake_api.calls == []
    assert [stored_conversation(sender) for sender in (phone, str(chat_id), psid)] == [None, None, None]
    # where a genuine message leaves its conversation:
    genuine = twilio_form(question, new_phone())
    signature = twilio_signature(f"{twilio_url}/webhook", genuine)
    assert asyncio.run(post_to_twilio(twilio_url, genuine, signature)).status == 204
    assert stored_conversation(genuine["From"]) is not None
