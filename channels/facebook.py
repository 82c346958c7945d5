"""Facebook Messenger: Rasa's connector with its signature check made strict.

Rasa's ``FacebookInput`` checks ``X-Hub-Signature``, but answers a forged request with
200, takes the hash function from the header (``md5=`` would do), compares in variable
time and cannot read ``X-Hub-Signature-256``, the header Meta documents today. Its
``Messenger`` also handles only the first event of a batch, and Meta batches events under
load. This connector keeps Rasa's message parsing and output channel and changes those:
a request must carry a matching HMAC-SHA256 (or, without that header, HMAC-SHA1) of its
body under the app secret, or it is refused with 403 and never reaches the bot. Rasa hands
the bot an attachment's address as if the patient had typed it; here a message without
words gets ``empty_message`` (channels/messaging.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from fbmessenger import MessengerClient
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.facebook import FacebookInput, Messenger, MessengerBot
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.messaging import (
    OnNewMessage,
    VerifiedInput,
    buttons_in_text,
    nothing_to_read,
    refuse,
    send_reply,
)

logger = logging.getLogger(__name__)

REQUIRED = ("FACEBOOK_VERIFY_TOKEN", "FACEBOOK_APP_SECRET", "FACEBOOK_PAGE_ACCESS_TOKEN")
# The signature headers Meta sends, strongest first, with their hash functions.
SIGNATURE_HEADERS = (
    ("X-Hub-Signature-256", "sha256", hashlib.sha256),
    ("X-Hub-Signature", "sha1", hashlib.sha1),
)
# Messenger's button template holds at most 3 buttons with titles of at most 20 characters.
TEMPLATE_BUTTONS = 3
TEMPLATE_TITLE_LENGTH = 20


@dataclass(frozen=True)
class FacebookSettings:
    verify_token: str
    app_secret: str
    page_access_token: str


def signature_problem(app_secret: str, body: bytes, headers: Any) -> str | None:
    """Why ``body`` was not signed with ``app_secret``, or None when it was."""
    for header, algorithm, digest in SIGNATURE_HEADERS:
        signature = headers.get(header)
        if signature is None:
            continue
        expected = f"{algorithm}={hmac.new(app_secret.encode(), body, digest).hexdigest()}"
        if hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        return f"{header} does not match the body signed with FACEBOOK_APP_SECRET"
    return "missing X-Hub-Signature-256 header"


class ListingMessengerBot(MessengerBot):
    """Rasa's Messenger output, with offered topics listed in the text when the button
    template cannot hold them (Rasa would then drop the buttons and send the bare text)."""

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        fits = len(buttons) <= TEMPLATE_BUTTONS and all(
            len(str(button.get("title", ""))) <= TEMPLATE_TITLE_LENGTH for button in buttons
        )
        if fits:
            await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)
        else:
            await self.send_text_message(recipient_id, buttons_in_text(text, buttons))


class EveryEventMessenger(Messenger):
    """Rasa's Messenger parsing, for every event of a batch, answering through
    ``ListingMessengerBot``; a message without words gets ``empty_message_reply``."""

    def __init__(
        self, page_access_token: str, on_new_message: OnNewMessage, empty_message_reply: str
    ) -> None:
        super().__init__(page_access_token, on_new_message)
        self.empty_message_reply = empty_message_reply

    async def handle(self, payload: dict[str, Any], metadata: dict[str, Any] | None) -> None:
        for entry in payload.get("entry") or []:
            for event in entry.get("messaging") or []:
                self.last_message = event
                if event.get("message"):
                    await self.message(event, metadata)
                elif event.get("postback"):
                    await self.postback(event, metadata)

    async def message(self, message: dict[str, Any], metadata: dict[str, Any] | None) -> None:
        """A typed message or a quick reply goes to the bot as in Rasa. One without words
        (a photo, sticker, voice message, file, location) gets ``empty_message_reply``;
        Rasa would give the bot the attachment's address as if the patient had typed it.
        The page's own messages, echoed back to it, are not answered."""
        event = message["message"]
        if self._is_quick_reply_message(message):
            await super().message(message, metadata)
        elif event.get("is_echo"):
            return
        elif nothing_to_read(event.get("text")):
            logger.info("a facebook message without words: asked the patient to type their question")
            await send_reply(ListingMessengerBot(self.client), self.get_user_id(), self.empty_message_reply)
        else:
            await super().message(message, metadata)

    async def _handle_user_message(self, text: str, sender_id: str, metadata: dict[str, Any] | None) -> None:
        """Rasa's version, answering through ``ListingMessengerBot``; a failure is logged
        and the patient sees no error text."""
        out_channel = ListingMessengerBot(self.client)
        await out_channel.send_action(sender_id, sender_action="mark_seen")
        await out_channel.send_action(sender_id, sender_action="typing_on")
        message = UserMessage(text, out_channel, sender_id, input_channel=self.name(), metadata=metadata)
        try:
            await self.on_new_message(message)
        except Exception:
            logger.exception("the bot failed on a Messenger message")
        finally:
            await out_channel.send_action(sender_id, sender_action="typing_off")


class VerifiedFacebookInput(VerifiedInput[FacebookSettings], FacebookInput):
    """Messenger's webhook: the subscription handshake and signed page events."""

    required = REQUIRED

    rasa_arguments = ("verify_token", "app_secret", "page_access_token")

    @classmethod
    def settings_from(cls, values: dict[str, str]) -> FacebookSettings:
        return FacebookSettings(*(values[name] for name in REQUIRED))

    def messenger_client(self) -> MessengerClient:
        """The Graph API client every reply is sent with (the one place it is built)."""
        return MessengerClient(self.fb_access_token)

    def webhook_blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """Rasa's routes, with a strict handshake and every event of a batch handled."""
        assert self.settings is not None
        settings = self.settings
        blueprint = Blueprint("fb_webhook")

        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def subscribe(request: Request) -> HTTPResponse:
            """Meta's handshake when the webhook is added: echo the challenge."""
            token = request.args.get("hub.verify_token") or ""
            if not hmac.compare_digest(token.encode(), settings.verify_token.encode()):
                return refuse(403, "hub.verify_token does not match FACEBOOK_VERIFY_TOKEN")
            return response.text(request.args.get("hub.challenge") or "")

        async def webhook(request: Request) -> HTTPResponse:
            messenger = EveryEventMessenger(
                settings.page_access_token, on_new_message, self.empty_message_reply
            )
            messenger.client = self.messenger_client()
            await messenger.handle(request.json or {}, self.get_metadata(request))
            return response.text("success")

        blueprint.add_route(health, "/", methods=["GET"])
        blueprint.add_route(subscribe, "/webhook", methods=["GET"])
        blueprint.add_route(webhook, "/webhook", methods=["POST"])
        return blueprint

    async def request_problem(self, request: Request) -> str | None:
        """Why the event is not Meta's, or None when its body carries the app's signature."""
        assert self.settings is not None
        return signature_problem(self.settings.app_secret, request.body, request.headers)

    def get_output_channel(self) -> OutputChannel:
        return ListingMessengerBot(self.messenger_client())
