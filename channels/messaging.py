"""What the messaging-app connectors (Twilio, Telegram, Messenger) share.

Each connector is one of Rasa's own input channels with two things added in front of it:

- **Its settings come from the environment, never from credentials.yml.** Rasa's
  ``${VAR}`` substitution stops the server when a variable is unset, and ``make run`` must
  start with no messaging app set up. A connector whose variables are missing is still
  mounted, so the app's console shows why nothing works: every route of it answers 503
  with the names of the missing variables and hands nothing to the bot.
- **A request must prove it comes from the app** (a signature or a shared secret) before
  Rasa's code reads it. A forged or unsigned request gets 403 with the reason, and the bot
  never sees its message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

# A check that returns the reason a request is refused, or None to let it through.
RequestCheck = Callable[[Request], Awaitable[str | None]]


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
