"""What the messaging apps' webhook tests share: a local fake of the apps' APIs, the
connectors pointed at it, a stand-in bot behind the webhook, and the apps' payloads.

The connectors are mounted on a real Sanic app with Rasa's own ``register`` (as ``rasa run``
does); their real output channels answer through the fake API, so what the patient would
receive is recorded and nothing leaves the machine. The stand-in bot replaces the NLU model
with a lookup (a topic's canonical question or button payload) and runs the project's real
actions and Rasa's own response rendering.
"""

from __future__ import annotations

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
from bot.knowledge import KnowledgeBase
from bot.settings import PROJECT_DIR
from channels import telegram
from channels.facebook import VerifiedFacebookInput
from channels.telegram import SecretTelegramOutput, VerifiedTelegramInput
from channels.twilio import SmsOutput, VerifiedTwilioInput
from tooling.servers import free_port


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


WHATSAPP_PHOTO = {
    "NumMedia": "1",
    "MediaContentType0": "image/jpeg",
    "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
    "MessageType": "image",
}
WHATSAPP_LOCATION = {"Latitude": "51.5072", "Longitude": "-0.1276", "MessageType": "location"}


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


PHOTO = [{"file_id": "AgACAgQAAxkBAAIB", "file_unique_id": "AQADl7Ex", "width": 90, "height": 67}]
STICKER = {"file_id": "CAACAgIAAxkBAAIC", "file_unique_id": "AgAD", "width": 512, "height": 512}


def telegram_message_update(chat_id: int = 424242, **content: Any) -> dict[str, Any]:
    """An Update for a message of another kind than text: ``content`` replaces the text."""
    update = telegram_update("", chat_id)
    del update["message"]["text"]
    update["message"].update(content)
    return update


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


def messenger_attachment(kind: str, sender: str = "6543210987654321", **payload: Any) -> dict[str, Any]:
    """A Messenger event whose message is an attachment only (no text)."""
    event = messenger_event("", sender)
    attachment = {"type": kind, "payload": {"url": "https://scontent.example/photo.jpg", **payload}}
    event["message"] = {"mid": event["message"]["mid"], "attachments": [attachment]}
    return event
