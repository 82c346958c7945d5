"""The clinic's operator page on the Rasa server: the report live at ``/admin/`` (HTML),
``/admin/report.json`` and the review queue's export at ``/admin/review.yml``
(tooling/report.py writes the same files from the command line; docs/clinic-report.md).

It exists only when ``ADMIN_TOKEN`` is set: unset, the routes are not there (404). Every
request must give the token, as ``Authorization: Bearer <token>`` or ``?token=<token>`` (a
browser's address bar; the logs hide it, bot/log_redaction.py); without it, or with another
token (a REST_TOKEN, a widget session's), the answer is 401. ``?since=`` takes what
``make report`` takes (30d by default); a bad one is a 400 with the reason.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.knowledge import default_knowledge_base
from bot.report import parse_since, report_html, review_yaml
from bot.settings import load_settings
from channels.messaging import refuse
from rasa_server import activity
from rasa_server.stores import ConversationTable, StoreUnavailable, conversations_url

logger = logging.getLogger(__name__)
ADMIN_PATH = "/admin"
MIN_TOKEN_LENGTH = 16


def token_offered(request: Request) -> str:
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return str(request.args.get("token") or "")


class AdminBlueprint(Blueprint):
    """Adds the /admin/ routes to the app itself (a channel's blueprint lives under /webhooks/)."""

    def __init__(self, token: str | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx.token = token

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        token: str | None = self.ctx.token
        super().register(app, options)
        if token is None:
            logger.info("No /admin/ page: ADMIN_TOKEN is not set.")
            return
        table: list[ConversationTable] = []  # opened on first use, in a worker process

        def store() -> ConversationTable:
            if not table:
                table.append(ConversationTable(conversations_url()))
            return table[0]

        def guarded(
            handler: Callable[[Request, float], Awaitable[HTTPResponse]],
        ) -> Callable[[Request], Coroutine[Any, Any, HTTPResponse]]:
            async def checked(request: Request) -> HTTPResponse:
                offered = token_offered(request)
                if not offered or not hmac.compare_digest(offered.encode("utf-8"), token.encode("utf-8")):
                    return response.json(
                        {"error": "the operator page needs ADMIN_TOKEN (Authorization: Bearer, or ?token=)"},
                        status=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                try:
                    since = parse_since(str(request.args.get("since") or "30d"), time.time())
                except ValueError as error:
                    return refuse(400, str(error))
                try:
                    return await handler(request, since)
                except StoreUnavailable as error:
                    return refuse(503, str(error))

            return checked

        def figures(since: float) -> dict[str, Any]:
            table = store()
            with table.reachable(), table.engine.connect() as connection:
                return {"since": since, "until": time.time(), **activity.summary(connection, since)}

        def queue(since: float) -> str:
            table = store()
            with table.reachable(), table.engine.connect() as connection:
                items = activity.review_queue(connection, since)
            return review_yaml([item.__dict__ for item in items], default_knowledge_base().topics)

        async def page(_: Request, since: float) -> HTTPResponse:
            report = await asyncio.to_thread(figures, since)
            titles = {t.id: t.title for t in default_knowledge_base().topics.values()}
            return response.html(report_html(report, titles), headers={"Cache-Control": "no-store"})

        async def report_json(_: Request, since: float) -> HTTPResponse:
            return response.json(
                await asyncio.to_thread(figures, since), headers={"Cache-Control": "no-store"}
            )

        async def review(_: Request, since: float) -> HTTPResponse:
            return response.text(
                await asyncio.to_thread(queue, since),
                content_type="application/yaml; charset=utf-8",
                headers={
                    "Content-Disposition": 'attachment; filename="review.yml"',
                    "Cache-Control": "no-store",
                },
            )

        app.add_route(
            guarded(page), f"{ADMIN_PATH}/", methods=["GET"], name="admin_page", strict_slashes=True
        )
        app.add_route(guarded(report_json), f"{ADMIN_PATH}/report.json", methods=["GET"], name="admin_report")
        app.add_route(guarded(review), f"{ADMIN_PATH}/review.yml", methods=["GET"], name="admin_review")
        logger.info("The operator page is at %s/ (ADMIN_TOKEN set).", ADMIN_PATH)


class AdminInput(InputChannel):
    """Not a channel patients write to: the way to mount /admin/ on the Rasa server."""

    @classmethod
    def name(cls) -> str:
        return "admin"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        token = load_settings().admin_token
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"ADMIN_TOKEN must have at least {MIN_TOKEN_LENGTH} characters")
        return AdminBlueprint(token, "admin_webhook", __name__)
