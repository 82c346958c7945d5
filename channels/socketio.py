"""Rasa's socket.io channel made safe for patients, and the website chat widget (``web/``)
served beside it.

Four things differ from Rasa 3.6.21's channel (docs/security.md):

- **A conversation belongs to the browser tab that started it.** Rasa takes the session id
  a client names, in ``session_request`` and again in every ``user_uttered`` event, so
  whoever learned an id could join that conversation's room and read the replies, or write
  into it. Here the server makes every session id (32 hex digits) and gives it out with a
  token, an HMAC-SHA256 of the id under a server secret; a client coming back (a reload)
  presents both, and an id without its token gets a new, empty session instead. The secret
  is ``SESSION_SECRET``, or else a random one created once and kept in ``BOT_DATA_DIR``, so
  every worker process, and the server after a restart, accepts the tokens it gave out.
  A connection's session is kept on the connection: a ``user_uttered`` event that names
  another session, or comes before ``session_request``, is refused, and a connection that
  asks for a new session leaves the old one's room.
- **Only the configured web pages may connect.** Rasa's channel accepts a browser
  connection from any page on any site. Here the socket.io server accepts the Rasa
  server's own origin (the widget at ``/webchat/``) and the origins in ``WIDGET_ORIGINS``.
- **Every message is judged first, and every failure answered.** Control characters go, an
  empty or over-long message gets the reply that says so (bot/messages.py, as on REST), and
  when the bot fails on a message the patient is told (channels/answering.py).
- **The session's room is joined.** Rasa calls ``sio.enter_room(...)`` without ``await``;
  python-socketio made it a coroutine in 5.10 (5.18.1 here), so with ``session_persistence:
  true`` the client never joined its room and the bot's replies reached no one.

It keeps Rasa's name, ``socketio``: replies carry their metadata on this channel
(``METADATA_CHANNELS``), and the socket.io server stays at ``/socket.io``. A reply's metadata
also says the language it is written in (``language``), so that the widget shows its own
words in the patient's language. The widget's own words (data/widget.yml) are served beside
its files, at ``/webchat/words.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.activity import REPLY_KEY
from bot.answers import metadata_for
from bot.conversation import language_hint
from bot.settings import Settings, load_settings
from bot.widget_words import DEFAULT_LANGUAGE, LANGUAGE_CODE, WidgetWords, default_widget_words
from channels.answering import answering, message_judge
from rasa_server.stores import data_dir

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# Where the widget's page and files are served, on the Rasa server's own origin.
WIDGET_PATH = "/webchat"
# Session ids are the conversation ids in the tracker store; the server makes them
# (uuid4 hex). A client may only bring back one of that form, never a name of its choosing.
SESSION_ID = re.compile(r"[0-9a-f]{32}")
SECRET_FILE = "session-secret"  # noqa: S105 (the file's name, not a secret)
MIN_SECRET_LENGTH = 32
# What a browser sends as Origin: scheme, host and port, nothing after.
ORIGIN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")
# How long browsers may keep the widget's words: they change only when the server restarts.
WORDS_MAX_AGE_SECONDS = 300
# Where web/index.html's title goes: the server writes in the page's title from data/widget.yml.
TITLE_SLOT = "<title></title>"
# The page's language, which the server writes in too (the widget's first words follow it).
LANGUAGE_SLOT = f'<html lang="{DEFAULT_LANGUAGE}">'


class WidgetChannelError(ValueError):
    """The channel's settings are unusable; the Rasa server does not start."""


def widget_url(rasa_url: str) -> str:
    """The chat widget's page on a Rasa server at ``rasa_url`` (e.g. http://localhost:5005)."""
    return f"{rasa_url.rstrip('/')}{WIDGET_PATH}/"


# --- sessions ---------------------------------------------------------------------------------


class SessionSigner:
    """Session ids and the tokens that prove a client was given them."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def token(self, session_id: str) -> str:
        signed = b"widget-session:" + session_id.encode("ascii")
        return hmac.new(self._secret, signed, hashlib.sha256).hexdigest()

    def is_valid(self, session_id: object, token: object) -> bool:
        """Whether ``token`` is this server's token for ``session_id`` (both from a client)."""
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            return False
        if not isinstance(token, str):
            return False
        return hmac.compare_digest(token.encode("utf-8"), self.token(session_id).encode("ascii"))

    def new_session(self) -> str:
        return uuid.uuid4().hex


def session_secret(settings: Settings, directory: Path | None = None) -> bytes:
    """``SESSION_SECRET``, or the random secret kept in ``directory`` (``BOT_DATA_DIR``),
    created by the first process that needs it."""
    if settings.session_secret is not None:
        if len(settings.session_secret) < MIN_SECRET_LENGTH:
            raise WidgetChannelError(
                f"SESSION_SECRET is too short: use at least {MIN_SECRET_LENGTH} random characters "
                "(`python -c 'import secrets; print(secrets.token_hex(32))'`), or unset it to "
                "let the server keep one in BOT_DATA_DIR"
            )
        return settings.session_secret.encode("utf-8")
    directory = directory or data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise WidgetChannelError(f"{path} holds no usable secret: delete it and it is made again")
    return secret.encode("ascii")


def _create_secret(path: Path) -> None:
    """Write a new secret to ``path`` unless another process just did (readable by the owner only)."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another process's secret stays
            os.link(draft, path)  # the whole file or nothing, never a half-written one
    finally:
        draft.unlink()


# --- origins ----------------------------------------------------------------------------------


def widget_origins(configured: Iterable[str]) -> frozenset[str]:
    """The configured origins (``WIDGET_ORIGINS``), checked: ``https://host[:port]`` or ``*``."""
    origins = set()
    for origin in configured:
        normal = origin.strip().rstrip("/").lower()
        if normal != "*" and not ORIGIN.fullmatch(normal):
            raise WidgetChannelError(
                f"WIDGET_ORIGINS: {origin!r} is not an origin: write scheme and host, with the port "
                "if it is not the default, and nothing after it, e.g. https://www.clinic.example"
            )
        origins.add(normal)
    return frozenset(origins)


class OriginCheck:
    """Whether a browser page at ``origin`` may connect (python-socketio's
    ``cors_allowed_origins``): the server's own origin, or one of ``allowed``."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def __call__(self, origin: str, environ: Mapping[str, Any]) -> bool:
        origin = origin.rstrip("/").lower()
        return "*" in self.allowed or origin in self.allowed or origin in own_origins(environ)

    def describe(self) -> str:
        if "*" in self.allowed:
            return "any origin"
        return " and ".join(["its own origin", *sorted(self.allowed)])


def own_origins(environ: Mapping[str, Any]) -> set[str]:
    """The origin the request was made to, as python-engineio works it out for same-origin
    checks: the Host header, or a proxy's X-Forwarded-Proto and X-Forwarded-Host."""
    host = str(environ.get("HTTP_HOST", ""))
    if not host:
        return set()
    scheme = str(environ.get("wsgi.url_scheme", "http")).split(",")[0].strip()
    forwarded = str(environ.get("HTTP_X_FORWARDED_HOST", host)).split(",")[0].strip()
    return {f"{scheme}://{host}".lower(), f"{scheme}://{forwarded}".lower()}


# --- the channel ------------------------------------------------------------------------------


def widget_pages(template: str, words: WidgetWords) -> dict[str, str]:
    """The chat page (``template``: web/index.html) in each language of the widget's words:
    its ``<html lang>`` and title written in."""
    slots = ((TITLE_SLOT, "the page's title (pageTitle in data/widget.yml)"), (LANGUAGE_SLOT, "its language"))
    for slot, what in slots:
        if template.count(slot) != 1:
            raise WidgetChannelError(
                f"{WEB_DIR / 'index.html'} needs one {slot}, where the server writes {what}"
            )
    return {
        language: template.replace(LANGUAGE_SLOT, f'<html lang="{html.escape(language)}">').replace(
            TITLE_SLOT, f"<title>{html.escape(own['pageTitle'])}</title>"
        )
        for language, own in words.languages.items()
    }


def cors_headers(origin: str | None, allowed: frozenset[str]) -> dict[str, str]:
    """The CORS headers of what the widget fetches (its words) for a page at ``origin``.

    The words are public, but only a page the socket.io server accepts (``WIDGET_ORIGINS``)
    is let read them from another site; the server's own pages need no header.
    """
    headers = {"Vary": "Origin"}
    if origin and ("*" in allowed or origin.rstrip("/").lower() in allowed):
        headers["Access-Control-Allow-Origin"] = origin
    return headers


class WidgetSocketBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint that also serves ``web/`` at ``/webchat/``, and the
    widget's words at ``/webchat/words.json``.

    The widget then shares the socket.io server's origin: no cross-origin requests when a
    patient uses the page served here.
    """

    def __init__(
        self, sio: AsyncServer, socketio_path: str, origins: OriginCheck, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(sio, socketio_path, *args, **kwargs)
        self.ctx.origins = origins  # which other sites' pages may read the words

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        words = default_widget_words()  # read once: a broken file stops the server here
        pages = widget_pages((WEB_DIR / "index.html").read_text(encoding="utf-8"), words)
        allowed: frozenset[str] = self.ctx.origins.allowed

        async def page(request: Request) -> HTTPResponse:
            """The chat page in the browser's language, when the widget has words in it."""
            language = words.page_language(request.headers.get("accept-language"))
            return response.html(pages[language], headers={"Vary": "Accept-Language"})

        async def to_page(_: Request) -> HTTPResponse:
            return response.redirect(f"{WIDGET_PATH}/")

        async def widget_words(request: Request) -> HTTPResponse:
            """The widget's words in the language asked (``?lang=es``), else in English."""
            language = words.language(request.args.get("lang"))
            headers = {
                "Cache-Control": f"public, max-age={WORDS_MAX_AGE_SECONDS}",
                **cors_headers(request.headers.get("origin"), allowed),
            }
            return response.json({"lang": language, "words": words.widget_words(language)}, headers=headers)

        app.add_route(page, f"{WIDGET_PATH}/", methods=["GET"], name="webchat_page", strict_slashes=True)
        app.add_route(
            page, f"{WIDGET_PATH}/index.html", methods=["GET"], name="webchat_index", strict_slashes=True
        )
        app.add_route(to_page, WIDGET_PATH, methods=["GET"], name="webchat_redirect", strict_slashes=True)
        app.add_route(widget_words, f"{WIDGET_PATH}/words.json", methods=["GET"], name="webchat_words")
        app.static(WIDGET_PATH, WEB_DIR, name="webchat")
        super().register(app, options)


class WidgetSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, with the reply's language in its metadata.

    The actions write the language of each reply among its facts (``REPLY_KEY``,
    actions/reply.py), which Rasa keeps in the bot event and hands the output channel beside
    the message, but no channel sends. The widget needs it to show its own words in the
    patient's language (web/widget.js), so the metadata event (``custom.data``) gets it as
    ``language``; a reply without metadata, or whose facts name no language, is sent as is.
    """

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        language = reply_language(kwargs.get(REPLY_KEY))
        data = json_message.get("data")
        if language is not None and isinstance(data, dict) and "language" not in data:
            json_message = {**json_message, "data": {**data, "language": language}}
        await super().send_custom_json(recipient_id, json_message, **kwargs)


def reply_language(facts: Any) -> str | None:
    """The language a reply's facts name ("en", "es"), or None."""
    language = facts.get("language") if isinstance(facts, Mapping) else None
    return language if isinstance(language, str) and LANGUAGE_CODE.fullmatch(language) else None


class WidgetSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with sessions bound to their browser tab and checked origins."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = load_settings()
        self.origins = OriginCheck(widget_origins(settings.widget_origins))
        self.signer = SessionSigner(session_secret(settings))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        super().blueprint(on_new_message)  # Rasa's handlers, on a new server: self.sio
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint
        sio.eio.cors_allowed_origins = self.origins  # Rasa's [] lets every page connect
        logger.info("The chat widget's socket.io server accepts web pages from %s.", self.origins.describe())
        blueprint = WidgetSocketBlueprint(sio, self.socketio_path, self.origins, "socketio_webhook", __name__)
        namespace = self.namespace
        judge = message_judge()  # the replies are read once, when the channel is mounted
        answer = answering(on_new_message)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # These replace Rasa's handlers of the same events (python-socketio keeps one per event).
        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any) -> None:
            offered = data if isinstance(data, dict) else {}
            session_id = offered.get("session_id")
            if not self.signer.is_valid(session_id, offered.get("session_token")):
                session_id = self.signer.new_session()
            assert isinstance(session_id, str)
            connection = await sio.get_session(sid, namespace=namespace)
            previous = connection.get("session_id")
            if self.session_persistence:
                if previous and previous != session_id:
                    await sio.leave_room(sid, previous, namespace=namespace)
                await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.save_session(sid, {"session_id": session_id}, namespace=namespace)
            confirmed = {"session_id": session_id, "session_token": self.signer.token(session_id)}
            await sio.emit("session_confirm", confirmed, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any) -> None:
            sender_id: str | None = sid  # Rasa's choice without session persistence
            if self.session_persistence:
                sender_id = (await sio.get_session(sid, namespace=namespace)).get("session_id")
            problem = _message_problem(data, sender_id, self.session_persistence)
            if problem or sender_id is None:
                logger.warning("Refused a %s event: %s.", self.user_message_evt, problem)
                return
            output = WidgetSocketIOOutput(sio, self.bot_message_evt)
            metadata = _metadata(data.get(self.metadata_key))
            judged, refusal = judge(data["message"], self.name(), language_hint(metadata))
            if refusal is not None:  # the bot does not read it (bot/messages.py)
                custom = metadata_for(self.name(), refusal.custom)
                await output.send_response(sender_id, {"text": refusal.text, "custom": custom})
                return
            message = UserMessage(
                judged.text,
                output,
                sender_id,
                input_channel=self.name(),
                metadata=metadata,
            )
            await answer(message)

        return blueprint


def _message_problem(data: Any, own_session: str | None, sessions: bool) -> str | None:
    """Why a ``user_uttered`` event cannot be handled, or None (never its content)."""
    if own_session is None:
        return "it came before session_request"
    if not isinstance(data, dict):
        return "it is not an object"
    if not isinstance(data.get("message"), str):
        return "it has no text in 'message'"
    named = data.get("session_id")
    if sessions and named is not None and named != own_session:
        return "it names a session other than the connection's"
    return None


def _metadata(value: Any) -> dict[str, Any]:
    """The event's metadata as Rasa accepts it (an object, or an object in a JSON string)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}
