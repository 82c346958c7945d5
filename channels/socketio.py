"""Rasa's socket.io channel with conversations that survive a page reload, and the website
chat widget (``web/``) served beside it.

Rasa 3.6.21's channel calls ``sio.enter_room(...)`` without ``await``. python-socketio
made ``AsyncServer.enter_room`` a coroutine in 5.10 (5.18.1 here), so with
``session_persistence: true`` the call does nothing: the client never joins the room of its
session, and the bot's replies, sent to that room, reach no one. This channel answers
``session_request`` itself and awaits the call; everything else is Rasa's channel.

It keeps Rasa's name, ``socketio``: replies carry their metadata on this channel
(``METADATA_CHANNELS``), and the socket.io server stays at ``/socket.io``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# Where the widget's page and files are served, on the Rasa server's own origin.
WIDGET_PATH = "/webchat"
# Session ids are the conversation ids in the tracker store; the server makes them
# (uuid4 hex). A client may only bring back one of that form, never a name of its choosing.
SESSION_ID = re.compile(r"[0-9a-f]{32}")


def widget_url(rasa_url: str) -> str:
    """The chat widget's page on a Rasa server at ``rasa_url`` (e.g. http://localhost:5005)."""
    return f"{rasa_url.rstrip('/')}{WIDGET_PATH}/"


class WidgetSocketBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint that also serves ``web/`` at ``/webchat/``.

    The widget then shares the socket.io server's origin: no cross-origin requests when a
    patient uses the page served here.
    """

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        async def page(_: Request) -> HTTPResponse:
            return await response.file(WEB_DIR / "index.html")

        async def to_page(_: Request) -> HTTPResponse:
            return response.redirect(f"{WIDGET_PATH}/")

        app.add_route(page, f"{WIDGET_PATH}/", methods=["GET"], name="webchat_page", strict_slashes=True)
        app.add_route(to_page, WIDGET_PATH, methods=["GET"], name="webchat_redirect", strict_slashes=True)
        app.static(WIDGET_PATH, WEB_DIR, name="webchat")
        super().register(app, options)


class WidgetSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel whose ``session_request`` joins the session's room."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        super().blueprint(on_new_message)  # Rasa's handlers, on a new server: self.sio
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint
        blueprint = WidgetSocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # Replaces Rasa's handler of the same event (python-socketio keeps one per event).
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict[str, Any] | None) -> None:
            session_id = (data or {}).get("session_id")
            if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        return blueprint
