"""Telegram: Rasa's connector, accepting only updates that carry the webhook's secret.

Telegram sends the ``secret_token`` given to ``setWebhook`` in every update's
``X-Telegram-Bot-Api-Secret-Token`` header; Rasa's ``TelegramInput`` does not check it.
This one refuses an update without the right secret with 403, before Rasa reads it.

Rasa's connector also calls ``setWebhook`` without a secret whenever it builds its output
channel, at start-up in every worker: that needs the network to start and would erase the
secret at Telegram. Here the webhook is set only on request, through the connector's
``/set_webhook`` route, with the secret. aiogram 2.15 (pinned by Rasa 3.6) predates the
``secret_token`` parameter, so it is passed to the Bot API directly.

Rasa's connector silently drops a message without text (a photo, a sticker) and fails on an
update that is not a message; here the first gets ``empty_message`` and the second is
acknowledged (channels/messaging.py). A caption is read as the message's text.

Telegram's own commands are read as a patient means them. ``/start``, which Telegram sends
when a patient first opens the chat (or presses Start, or follows a link with a parameter),
is a greeting: the bot answers with its welcome instead of guessing at an unknown intent. A
typed ``/restart`` is read as the word, as on every channel (bot/messages.py), before Rasa's
connector would reset the conversation with it and then send ``/start`` on its own.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

from aiogram.bot import api
from aiogram.types import User
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels.telegram import TelegramInput, TelegramOutput
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.messages import commands_as_words, normalise_message
from channels.messaging import UnusableSetting, VerifiedInput, nothing_to_read

logger = logging.getLogger(__name__)

REQUIRED = ("TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_SECRET_TOKEN")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# What the Bot API accepts as secret_token (https://core.telegram.org/bots/api#setwebhook).
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
BOT_TOKEN = re.compile(r"\d+:\S+")
# "/start", "/start@ClinicBot", "/start <deep-link parameter>".
START_COMMAND = re.compile(r"/start(@\w+)?(\s.*)?", re.DOTALL)
# The greet intent (domain.yml), as a button sends an intent.
GREETING = "/greet"


def as_patient_means(text: str) -> str:
    """A message's text with Telegram's ``/start`` read as a greeting and Rasa's commands as
    words (see the module's text)."""
    normalised = normalise_message(text)
    if START_COMMAND.fullmatch(normalised):
        return GREETING
    return commands_as_words(normalised)


@dataclass(frozen=True)
class TelegramSettings:
    token: str
    bot_name: str
    webhook_url: str
    secret_token: str


class SecretTelegramOutput(TelegramOutput):
    """Rasa's Telegram output channel that registers its webhook with the secret."""

    def __init__(self, token: str, secret_token: str) -> None:
        super().__init__(token)
        self.secret_token = secret_token

    async def set_webhook(self, url: str, **_: Any) -> bool:
        """``setWebhook`` with ``secret_token``, which Telegram then sends with every update.

        A failure is logged and reported as False (Rasa's route then answers "Invalid
        webhook") rather than as a 500 page.
        """
        payload = {"url": url, "secret_token": self.secret_token}
        try:
            return bool(await self.request(api.Methods.SET_WEBHOOK, payload))
        except TelegramAPIError as error:
            logger.error("Telegram did not set the webhook to %s: %s", url, error)
            return False

    async def get_me(self) -> User:
        """The bot's own account, asked once: Rasa's connector compares its name with
        ``TELEGRAM_BOT_NAME`` on every update, which would cost a Bot API call each time."""
        if not hasattr(self, "_bot_user"):
            self._bot_user = await super().get_me()
        return self._bot_user


class VerifiedTelegramInput(VerifiedInput[TelegramSettings], TelegramInput):
    """Rasa's Telegram connector behind the webhook's secret token."""

    required = REQUIRED

    rasa_arguments = ("token", "bot_name", "webhook_url")

    @classmethod
    def settings_from(cls, values: dict[str, str]) -> TelegramSettings:
        if not BOT_TOKEN.fullmatch(values["TELEGRAM_TOKEN"]):
            raise UnusableSetting("TELEGRAM_TOKEN is not a bot token from BotFather (digits:characters)")
        if not SECRET_TOKEN.fullmatch(values["TELEGRAM_SECRET_TOKEN"]):
            raise UnusableSetting("TELEGRAM_SECRET_TOKEN must be 1-256 characters A-Z, a-z, 0-9, _ or -")
        return TelegramSettings(
            token=values["TELEGRAM_TOKEN"],
            bot_name=values["TELEGRAM_BOT_NAME"].removeprefix("@"),
            webhook_url=values["TELEGRAM_WEBHOOK_URL"],
            secret_token=values["TELEGRAM_SECRET_TOKEN"],
        )

    async def request_problem(self, request: Request) -> str | None:
        """Why the update is not Telegram's, or None when it carries the webhook's secret."""
        assert self.settings is not None
        secret = request.headers.get(SECRET_HEADER)
        if not secret:
            return f"missing {SECRET_HEADER} header"
        if not hmac.compare_digest(secret.encode(), self.settings.secret_token.encode()):
            return f"{SECRET_HEADER} does not match TELEGRAM_SECRET_TOKEN"
        return None

    async def answer_if_nothing_to_read(self, request: Request) -> HTTPResponse | None:
        """An update Rasa's handler would drop or fail on: a message without text (a photo,
        sticker, voice note, location) gets ``empty_message``; a photo's or file's caption
        is read as the message's text; an update that is no message (the patient blocked
        the bot: ``my_chat_member``) is acknowledged and nobody is answered."""
        update = request.json
        if not isinstance(update, dict) or update.get("callback_query"):
            return None  # a pressed button: Rasa's handler reads it
        message = update.get("message") or update.get("edited_message")
        if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
            logger.info("a Telegram update with no message to answer (%s)", ", ".join(sorted(update)))
            return response.text("success")
        if nothing_to_read(message.get("text")) and not nothing_to_read(message.get("caption")):
            message["text"] = message["caption"]  # request.json is the object Rasa's handler reads
        if not nothing_to_read(message.get("text")):
            message["text"] = as_patient_means(message["text"])
            return None
        await self.send_empty_message_reply(str(message["chat"]["id"]))
        return response.text("success")  # what Rasa's handler answers Telegram

    def get_output_channel(self) -> SecretTelegramOutput:
        """The output channel, without Rasa's ``setWebhook`` call (see the module's text)."""
        assert self.settings is not None
        return SecretTelegramOutput(self.settings.token, self.settings.secret_token)
