"""What the messaging-app connectors (Twilio, Telegram, Messenger) share.

Each connector is one of Rasa's own input channels with three things added in front of it:

- **Its settings come from the environment, never from credentials.yml.** Rasa's
  ``${VAR}`` substitution stops the server when a variable is unset, and ``make run`` must
  start with no messaging app set up. A connector whose variables are missing is still
  mounted, so the app's console shows why nothing works: every route of it answers 503
  with the names of the missing variables and hands nothing to the bot.
- **A request must prove it comes from the app** (a signature or a shared secret) before
  Rasa's code reads it. A forged or unsigned request gets 403 with the reason, and the bot
  never sees its message.
- **A message with no words in it gets a calm reply** instead of none: a photo, voice
  note, sticker, location or file, or text of only spaces and invisible characters. The
  connector answers it itself with ``empty_message`` (data/faq/replies.yml, the reply the
  REST channel gives an empty message) and the bot does not read it. Rasa's connectors
  would fail on it (Twilio: a 500 and no reply), drop it (Telegram) or hand the bot the
  attachment's address as if the patient had typed it (Messenger).
- **Every message is judged as the REST channel and the widget judge theirs**
  (bot/messages.py, :func:`judging`): its text normalised (control characters removed, a
  typed ``/restart`` read as a word), and one over ``MAX_MESSAGE_CHARS`` answered with
  ``message_too_long``, unread. The apps allow far longer messages (Telegram 4,096
  characters, Messenger 2,000, an SMS of many parts 1,600).

``VerifiedInput`` does all of this once; a connector adds its settings, the arguments of
Rasa's connector, its request check and how it recognises a message without words.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.knowledge import default_knowledge_base
from bot.messages import has_something_to_read, normalise_message
from channels.answering import OnNewMessage, answering, message_judge

logger = logging.getLogger(__name__)

# A check that returns the reason a request is refused, or None to let it through.
RequestCheck = Callable[[Request], Awaitable[str | None]]
SettingsT = TypeVar("SettingsT")
ConnectorT = TypeVar("ConnectorT", bound="VerifiedInput[Any]")


def read_environment(names: Sequence[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The non-empty values of ``names``; a connector is configured when none is missing."""
    environ = os.environ if environ is None else environ
    return {name: environ[name].strip() for name in names if environ.get(name, "").strip()}


def refuse(status: int, reason: str) -> HTTPResponse:
    """A JSON error for the app's webhook log; it never reaches a patient."""
    return response.json({"error": reason}, status=status)


def missing_settings(channel: str, missing: Sequence[str]) -> str:
    return f"the {channel} channel is not configured: set {', '.join(missing)}"


def not_configured_blueprint(channel: str, reason: str) -> Blueprint:
    """The routes of a connector that is not set up: 503 and why.

    Mounted instead of the working connector, so that ``make run`` starts without any
    messaging app and a half-configured one says what it lacks instead of a bare 404.
    """
    blueprint = Blueprint(f"{channel}_not_configured")
    logger.info("%s; its webhook answers 503 until then", reason)

    async def unavailable(_: Request, **__: Any) -> HTTPResponse:
        return refuse(503, reason)

    blueprint.add_route(unavailable, "/", methods=["GET"])
    blueprint.add_route(unavailable, "/<path:path>", methods=["GET", "POST"])
    return blueprint


def guard_webhook(blueprint: Blueprint, check: RequestCheck) -> Blueprint:
    """Runs ``check`` before every handler of the blueprint but its GET routes (health,
    Meta's handshake, Telegram's set_webhook); a reason means 403.

    Sanic runs a blueprint's request middleware before its handlers and skips the handler
    when the middleware returns a response, so Rasa's code never reads a refused request.
    It goes by method, not path: Sanic also routes ``/webhook/`` to the ``/webhook`` handler.
    """

    async def verify(request: Request) -> HTTPResponse | None:
        if request.method in ("GET", "HEAD"):
            return None
        reason = await check(request)
        if reason is None:
            return None
        logger.warning("refused a %s webhook request from %s: %s", blueprint.name, request.ip, reason)
        return refuse(403, reason)

    blueprint.middleware(verify, "request")
    return blueprint


def buttons_in_text(text: str, buttons: Sequence[Mapping[str, Any]]) -> str:
    """One message holding the text and a line per button title, for apps without buttons.

    On SMS each message is billed and arrives on its own; Rasa's default sends the text and
    then one message per button, with its payload (``1: Cost (/faq_cost)``). The titles come
    from the knowledge base; a patient answers by writing one of them.
    """
    titles = [str(button.get("title", "")) for button in buttons if button.get("title")]
    return "\n".join([text, *(f"- {title}" for title in titles)])


def nothing_to_read(text: Any) -> bool:
    """Whether a message's text has no words for the bot: there is none (an attachment, a
    location), or only spaces, line breaks and invisible characters (bot/messages.py)."""
    return not isinstance(text, str) or not has_something_to_read(normalise_message(text))


async def send_reply(output: OutputChannel, recipient: str, text: str) -> None:
    """Sends a reply the connector gives by itself; a failure is logged, never raised, so
    the app is not told the webhook failed (it would send the message again)."""
    try:
        await output.send_text_message(recipient, text)
    except Exception:
        logger.exception("%s could not send its reply to a message the bot did not read", output.name())


def judging(on_new_message: OnNewMessage) -> OnNewMessage:
    """``on_new_message`` for a message judged first (bot/messages.py): the bot reads its
    normalised text, or, when the message is too long or has nothing to read, the patient
    gets the reply that says so (data/faq/replies.yml) and the bot reads nothing."""
    judge = message_judge()

    async def handle(message: UserMessage) -> None:
        judged, refusal = judge(message.text or "", message.input_channel or "messaging app")
        if refusal is None:
            message.text = judged.text
            await on_new_message(message)
            return
        await send_reply(message.output_channel, message.sender_id, refusal.text)

    return handle


class UnusableSetting(ValueError):
    """A setting is present but unusable; the connector is not configured, for this reason."""


class VerifiedInput(InputChannel, Generic[SettingsT]):
    """One of Rasa's messaging connectors with settings from the environment, every
    request checked, every message judged and messages without words answered (see the
    module's text).

    A connector lists it first among its bases, before Rasa's connector, and supplies:
    ``required`` and ``optional`` (its environment variables), ``settings_from`` (its
    settings from their values), ``rasa_arguments`` (the settings Rasa's connector takes),
    ``request_problem`` (its request check) and, where a request holds one message,
    ``answer_if_nothing_to_read``.
    """

    required: ClassVar[tuple[str, ...]]
    optional: ClassVar[tuple[str, ...]] = ()
    # The settings Rasa's connector is built with, in the order it takes them.
    rasa_arguments: ClassVar[tuple[str, ...]]

    def __init__(self, settings: SettingsT | None, problem: str | None = None) -> None:
        """``settings`` None: not configured, for the reason in ``problem`` (and Rasa's
        connector gets None for each of its arguments)."""
        super().__init__(*(settings and getattr(settings, name) for name in self.rasa_arguments))
        self.settings = settings
        self.problem = problem
        # empty_message (data/faq/replies.yml), read when the webhook is mounted.
        self.empty_message_reply = ""

    @classmethod
    def settings_from(cls, values: dict[str, str]) -> SettingsT:
        """The settings from the variables' values (every required one is there); raises
        ``UnusableSetting`` for a value the app would not accept."""
        raise NotImplementedError

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Reads the environment only: credentials.yml holds no secrets."""
        return cls.from_environment()

    @classmethod
    def from_environment(cls: type[ConnectorT], environ: Mapping[str, str] | None = None) -> ConnectorT:
        values = read_environment(cls.required + cls.optional, environ)
        missing = [name for name in cls.required if name not in values]
        if missing:
            return cls(None, missing_settings(cls.name(), missing))
        try:
            return cls(cls.settings_from(values))
        except UnusableSetting as unusable:
            return cls(None, str(unusable))

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        if self.settings is None:
            return not_configured_blueprint(self.name(), str(self.problem))
        self.empty_message_reply = default_knowledge_base().replies.empty_message
        handler = judging(answering(on_new_message))
        blueprint = guard_webhook(self.webhook_blueprint(handler), self.request_problem)

        async def message_posted(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or not request.path.rstrip("/").endswith("/webhook"):
                return None
            return await self.answer_if_nothing_to_read(request)

        blueprint.middleware(message_posted, "request")  # runs after guard_webhook's check
        return blueprint

    def webhook_blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The routes of the working connector: Rasa's."""
        blueprint: Blueprint = super().blueprint(on_new_message)
        return blueprint

    async def request_problem(self, request: Request) -> str | None:
        """Why the request is not the app's, or None when it is."""
        raise NotImplementedError

    async def answer_if_nothing_to_read(self, request: Request) -> HTTPResponse | None:
        """For a message without words in a genuine request to the webhook: send the
        patient ``empty_message`` (``send_empty_message_reply``) and return the app's
        response, so that Rasa's handler never reads it. None: Rasa's handler reads it."""
        return None

    @functools.cached_property
    def reply_channel(self) -> OutputChannel:
        """The output channel of the replies the connector sends by itself."""
        return self.get_output_channel()

    async def send_empty_message_reply(self, recipient: str) -> None:
        logger.info("a %s message without words: asked the patient to type their question", self.name())
        await send_reply(self.reply_channel, recipient, self.empty_message_reply)
