"""Telegram: Rasa's connector, accepting only updates that carry the webhook's secret.

Telegram sends the ``secret_token`` given to ``setWebhook`` in every update's
``X-Telegram-Bot-Api-Secret-Token`` header; Rasa's ``TelegramInput`` does not check it.
This one refuses an update without the right secret with 403, before Rasa reads it.

Rasa's connector also calls ``setWebhook`` without a secret whenever it builds its output
channel, at start-up in every worker: that needs the network to start and would erase the
secret at Telegram. Here the webhook is set only on request, through the connector's
``/set_webhook`` route, with the secret. aiogram 2.15 (pinned by Rasa 3.6) predates the
``secret_token`` parameter, so it is passed to the Bot API directly.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram.bot import api
from aiogram.types import User
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput, TelegramOutput
from sanic import Blueprint
from sanic.request import Request

from channels.messaging import guard_webhook, missing_settings, not_configured_blueprint, read_environment

logger = logging.getLogger(__name__)

REQUIRED = ("TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_SECRET_TOKEN")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# What the Bot API accepts as secret_token (https://core.telegram.org/bots/api#setwebhook).
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
BOT_TOKEN = re.compile(r"\d+:\S+")


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


class VerifiedTelegramInput(TelegramInput):
    """Rasa's Telegram connector behind the webhook's secret token."""

    def __init__(self, settings: TelegramSettings | None, problem: str | None = None) -> None:
        """``settings`` None: not configured, for the reason in ``problem``."""
        super().__init__(
            settings and settings.token, settings and settings.bot_name, settings and settings.webhook_url
        )
        self.settings = settings
        self.problem = problem

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Reads the environment only: credentials.yml holds no secrets."""
        return cls.from_environment()

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> VerifiedTelegramInput:
        values = read_environment(REQUIRED, environ)
        missing = [name for name in REQUIRED if name not in values]
        if missing:
            return cls(None, missing_settings(cls.name(), missing))
        if not BOT_TOKEN.fullmatch(values["TELEGRAM_TOKEN"]):
            return cls(None, "TELEGRAM_TOKEN is not a bot token from BotFather (digits:characters)")
        if not SECRET_TOKEN.fullmatch(values["TELEGRAM_SECRET_TOKEN"]):
            return cls(None, "TELEGRAM_SECRET_TOKEN must be 1-256 characters A-Z, a-z, 0-9, _ or -")
        settings = TelegramSettings(
            token=values["TELEGRAM_TOKEN"],
            bot_name=values["TELEGRAM_BOT_NAME"].removeprefix("@"),
            webhook_url=values["TELEGRAM_WEBHOOK_URL"],
            secret_token=values["TELEGRAM_SECRET_TOKEN"],
        )
        return cls(settings)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        if self.settings is None:
            return not_configured_blueprint(self.name(), str(self.problem))
        return guard_webhook(super().blueprint(on_new_message), self.secret_problem)

    async def secret_problem(self, request: Request) -> str | None:
        """Why the update is not Telegram's, or None when it carries the webhook's secret."""
        assert self.settings is not None
        secret = request.headers.get(SECRET_HEADER)
        if not secret:
            return f"missing {SECRET_HEADER} header"
        if not hmac.compare_digest(secret.encode(), self.settings.secret_token.encode()):
            return f"{SECRET_HEADER} does not match TELEGRAM_SECRET_TOKEN"
        return None

    def get_output_channel(self) -> SecretTelegramOutput:
        """The output channel, without Rasa's ``setWebhook`` call (see the module's text)."""
        assert self.settings is not None
        return SecretTelegramOutput(self.settings.token, self.settings.secret_token)
