"""SMS and WhatsApp through Twilio: Rasa's connector, with Twilio's signature checked.

Rasa's ``TwilioInput`` handles any form posted to it. This one first checks the
``X-Twilio-Signature`` header, an HMAC-SHA1 with the account's auth token over the URL
Twilio called and the form fields, and refuses a forged or unsigned request with 403.
Behind a proxy the URL this server sees is not the one Twilio signed, so the public URL
is read from ``TWILIO_WEBHOOK_URL`` when set.

A message with an empty ``Body`` gets ``empty_message`` (channels/messaging.py).

One webhook serves SMS and WhatsApp: a WhatsApp sender arrives as ``whatsapp:+...`` and is
answered from ``whatsapp:`` plus ``TWILIO_WHATSAPP_NUMBER`` (default ``TWILIO_NUMBER``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import requests
from rasa.core.channels.channel import OutputChannel
from rasa.core.channels.twilio import TwilioInput, TwilioOutput
from sanic import response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from channels.messaging import VerifiedInput, buttons_in_text, nothing_to_read

logger = logging.getLogger(__name__)

REQUIRED = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER")
OPTIONAL = ("TWILIO_WHATSAPP_NUMBER", "TWILIO_WEBHOOK_URL")
WHATSAPP = "whatsapp:"


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    sms_number: str
    whatsapp_number: str
    webhook_url: str | None  # the public URL Twilio calls; None: the URL of the request


def signed_fields(request: Request) -> RequestParameters:
    """The form as Twilio signed it: with its empty fields, which ``request.form`` drops
    (an SMS from a number without a known city has ``FromCity=``)."""
    return RequestParameters(parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True))


class SmsOutput(TwilioOutput):
    """Twilio's output channel with the sender chosen per app and the buttons in the text."""

    def __init__(self, settings: TwilioSettings) -> None:
        super().__init__(settings.account_sid, settings.auth_token, settings.sms_number)
        self.whatsapp_number = settings.whatsapp_number

    def sender_for(self, recipient: str) -> str:
        """WhatsApp replies must come from a ``whatsapp:`` address, SMS from the plain number."""
        if recipient.startswith(WHATSAPP):
            return WHATSAPP + self.whatsapp_number.removeprefix(WHATSAPP)
        return str(self.twilio_number)

    async def _send_message(self, message_data: dict[str, Any]) -> Any:
        """Sends one message without blocking the server's event loop (Twilio's client is
        synchronous). A refusal by Twilio or an unreachable API is logged and the
        conversation goes on; in Rasa's version a network error fails the whole webhook."""
        message_data = {**message_data, "from_": self.sender_for(str(message_data["to"]))}
        try:
            return await asyncio.to_thread(self.messages.create, **message_data)
        except TwilioRestException as error:
            logger.error("Twilio did not send a message (error %s): %s", error.code, error.msg)
        except requests.RequestException as error:
            logger.error("Twilio's API could not be reached to send a message: %s", error)
        return None

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """SMS and WhatsApp get the offered topics in the same message as the question."""
        await self.send_text_message(recipient_id, buttons_in_text(text, buttons))


class VerifiedTwilioInput(VerifiedInput[TwilioSettings], TwilioInput):
    """Rasa's Twilio connector behind Twilio's request signature."""

    required = REQUIRED
    optional = OPTIONAL

    rasa_arguments = ("account_sid", "auth_token", "sms_number")

    @classmethod
    def settings_from(cls, values: dict[str, str]) -> TwilioSettings:
        return TwilioSettings(
            account_sid=values["TWILIO_ACCOUNT_SID"],
            auth_token=values["TWILIO_AUTH_TOKEN"],
            sms_number=values["TWILIO_NUMBER"],
            whatsapp_number=values.get("TWILIO_WHATSAPP_NUMBER", values["TWILIO_NUMBER"]),
            webhook_url=values.get("TWILIO_WEBHOOK_URL"),
        )

    async def request_problem(self, request: Request) -> str | None:
        """Why the request is not Twilio's, or None when its signature matches."""
        assert self.settings is not None
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            return "missing X-Twilio-Signature header"
        url = self.settings.webhook_url or request.url
        if not RequestValidator(self.settings.auth_token).validate(url, signed_fields(request), signature):
            return f"X-Twilio-Signature does not match a request to {url} (proxy? set TWILIO_WEBHOOK_URL)"
        return None

    async def answer_if_nothing_to_read(self, request: Request) -> HTTPResponse | None:
        """A message with an empty ``Body`` (a WhatsApp photo, voice note or location, a
        picture by MMS): Rasa's handler would fail on it and the patient hear nothing. A
        photo with a caption has the caption as its ``Body`` and goes to the bot."""
        form = signed_fields(request)
        sender = form.get("From")
        if not sender or not nothing_to_read(form.get("Body")):
            return None
        await self.send_empty_message_reply(sender)
        return response.text("", status=204)  # what Rasa's handler answers Twilio

    def get_output_channel(self) -> OutputChannel:
        assert self.settings is not None
        return SmsOutput(self.settings)
