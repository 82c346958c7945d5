"""Rasa's REST channel (same name, ``rest``, same URL, ``/webhooks/rest/webhook``) that
checks every request before the bot sees it.

Rasa's own ``RestInput`` hands whatever arrives to the bot: a request without ``sender``
joins the one shared conversation named ``default``; a number or a list as ``sender`` or
``message``, a JSON list as the body or a wrong content type end in an exception that it
logs and answers with ``200 []``; a body that is not JSON gets Sanic's error page; any
``metadata`` is stored with the conversation whatever its size; a 20,000-character message
goes through the whole NLU pipeline; and the client may name another ``input_channel``.

This channel, in this order (docs/bad-input.md, docs/security.md):

0. With ``REST_TOKEN`` set, ``Authorization: Bearer <REST_TOKEN>``: else 401.
1. ``Content-Type`` must be ``application/json`` (``charset=utf-8`` or none): else 415.
2. The body is read in pieces up to ``MAX_REQUEST_BYTES`` (default 1,000,000): a larger one
   gets 413 without being read whole (the route streams; Sanic would otherwise hold up to
   100 MB in memory before any check).
3. It must be UTF-8 JSON (no NaN or Infinity), and an object: else 400.
4. ``sender``: a string of 1 to 128 characters, not only spaces, without control
   characters: else 400. Any such string is accepted, digits included (a clinic's own
   patient ids), as Rasa's REST convention has it: the conversation is kept as
   ``rest:<sender>``, a namespace of REST's own, so no sender can read or write another
   channel's conversation (a Telegram chat id, a phone number, a widget session). Replies
   name the sender as the client sent it. ``message``: a string: else 400. ``metadata``:
   absent, null or an object of at most ``MAX_METADATA_BYTES`` as JSON: else 400 or 413.
5. The message is normalised and judged (bot/messages.py): control characters removed,
   whitespace collapsed. An empty one, or one over ``MAX_MESSAGE_CHARS``, is not handed to
   the bot: the patient gets ``200`` with a reply from data/faq/replies.yml, in the shape
   of the bot's replies, and the conversation is not touched. Otherwise the bot gets the
   normalised text, on channel ``rest`` (a client's ``input_channel`` is ignored).

Every refusal is ``{"error": reason}`` for the client's developer, never shown to a patient.
When the bot fails on a message: 503 (with ``Retry-After``) when the conversation database or
the lock store cannot be reached, and nothing was saved; 500 for anything else; a streamed
reply (``?stream=true``), whose 200 is already sent, carries ``unavailable`` and ends
(channels/answering.py).
"""

from __future__ import annotations

import hmac
import json
import logging
from asyncio import CancelledError, Queue
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel, RestInput
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot.answers import Answer, metadata_for
from bot.conversation import language_hint
from bot.settings import load_settings
from channels.answering import OnNewMessage, answering, log_failure, message_judge
from rasa_server.stores import StoreUnavailable

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
# Long enough for any client's conversation id (a uuid is 36), within the 255 characters of
# the sender column of Rasa's SQL tracker store.
MAX_SENDER_CHARS = 128
# REST's namespace of conversations: the conversation of REST sender "x" is "rest:x". No other
# channel's ids start so (the widget's sessions are 32 hex digits, made by the server; the
# messaging apps' users are digits, phone numbers or "whatsapp:+..."), so a REST client can
# neither write into nor receive the replies of another channel's conversation.
CONVERSATION_PREFIX = "rest:"
# What a 503 (a store cannot be reached) asks the caller to wait before sending again.
RETRY_AFTER_SECONDS = 5


class RequestRefused(Exception):
    """A request the bot never sees: the HTTP status and the reason for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def refuse(status: int, reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=status)


def check_content_type(value: str | None) -> None:
    media_type, _, parameters = (value or "").partition(";")
    if media_type.strip().lower() != JSON_CONTENT_TYPE:
        shown = f"'{value[:100]}'" if value else "none"
        raise RequestRefused(415, f"Content-Type must be {JSON_CONTENT_TYPE}, not {shown}")
    for parameter in parameters.split(";"):
        name, _, charset = parameter.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestRefused(415, f"JSON must be UTF-8, not charset {charset.strip()}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object, or RequestRefused(400) saying what is wrong with it."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise RequestRefused(400, "the body is not UTF-8") from None
    except (ValueError, RecursionError) as error:
        raise RequestRefused(400, f"the body is not valid JSON ({str(error)[:100]})") from None
    if not isinstance(data, dict):
        raise RequestRefused(400, f"the body must be a JSON object, not {_json_type(data)}")
    return data


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def check_sender(data: dict[str, Any]) -> str:
    sender = data.get("sender")
    if sender is None:
        raise RequestRefused(400, "'sender' is missing: a string naming the conversation")
    if not isinstance(sender, str):
        raise RequestRefused(400, f"'sender' must be a string, not {_json_type(sender)}")
    if not sender.strip():
        raise RequestRefused(400, "'sender' is empty")
    if len(sender) > MAX_SENDER_CHARS:
        raise RequestRefused(400, f"'sender' is longer than {MAX_SENDER_CHARS} characters")
    if any(not char.isprintable() and char != " " for char in sender):
        raise RequestRefused(400, "'sender' contains control or invisible characters")
    return sender


def conversation_id(sender: str) -> str:
    """Where the conversation of a REST ``sender`` is kept: in REST's own namespace."""
    return CONVERSATION_PREFIX + sender


class AnsweringSender(CollectingOutputChannel):
    """Rasa's collector of the bot's replies, each addressed to the sender as the client
    named it (not the conversation id it is kept under)."""

    def __init__(self, sender: str) -> None:
        super().__init__()
        self.sender = sender

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message({**message, "recipient_id": self.sender})


class StreamingToSender(QueueOutputChannel):
    """Rasa's queue of streamed replies, addressed as ``AnsweringSender`` addresses them."""

    def __init__(self, queue: Queue, sender: str) -> None:
        super().__init__(queue)
        self.sender = sender

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message({**message, "recipient_id": self.sender})


def check_token(authorization: str | None, token: str | None) -> None:
    """With ``REST_TOKEN`` set, every request must carry ``Authorization: Bearer <token>``."""
    if token is None:
        return
    scheme, _, offered = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not offered:
        raise RequestRefused(401, "this REST channel needs 'Authorization: Bearer <REST_TOKEN>'")
    if not hmac.compare_digest(offered.strip().encode("utf-8"), token.encode("utf-8")):
        raise RequestRefused(401, "the bearer token is not this REST channel's (REST_TOKEN)")


def check_message(data: dict[str, Any]) -> str:
    if "message" not in data or data["message"] is None:
        raise RequestRefused(400, "'message' is missing: the patient's text")
    message = data["message"]
    if not isinstance(message, str):
        raise RequestRefused(400, f"'message' must be a string, not {_json_type(message)}")
    return message


def check_metadata(data: dict[str, Any], max_bytes: int) -> dict[str, Any] | None:
    metadata = data.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise RequestRefused(400, f"'metadata' must be an object, not {_json_type(metadata)}")
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise RequestRefused(413, f"'metadata' is {size:,} bytes as JSON, more than {max_bytes:,}")
    return metadata


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, read piece by piece, refused as soon as it passes ``max_bytes``."""
    stream = request.stream
    if stream is None:  # already read (a non-streaming route)
        body = request.body
    else:
        stream.request_max_size = max_bytes  # Sanic refuses past it, also what is left unread
        try:
            await request.receive_body()
        except PayloadTooLarge:
            raise RequestRefused(413, f"the request body is larger than {max_bytes:,} bytes") from None
        body = request.body
    if len(body) > max_bytes:
        raise RequestRefused(413, f"the request body is larger than {max_bytes:,} bytes")
    return body


class CheckedRestInput(RestInput):
    """Rasa's REST channel, refusing bad input with a reason before the bot sees it."""

    @classmethod
    def name(cls) -> str:
        return "rest"  # the same channel for METADATA_CHANNELS, actions and clients

    @staticmethod
    async def on_message_wrapper(
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        text: str,
        queue: Queue,
        sender_id: str,
        input_channel: str,
        metadata: dict[str, Any] | None,
    ) -> None:
        """Rasa's streamed answer, with the conversation in REST's namespace."""
        output = StreamingToSender(queue, sender_id)
        message = UserMessage(
            text, output, conversation_id(sender_id), input_channel=input_channel, metadata=metadata
        )
        await on_new_message(message)
        await queue.put("DONE")

    def reply_messages(self, sender: str, reply: Answer) -> list[dict[str, Any]]:
        """The reply in the shape of the bot's own REST replies (text, then metadata)."""
        messages: list[dict[str, Any]] = [{"recipient_id": sender, "text": reply.text}]
        custom = metadata_for(self.name(), reply.custom)
        if custom:
            messages.append({"recipient_id": sender, "custom": custom})
        return messages

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        settings = load_settings()
        judge = message_judge()  # the replies are read once, at start-up
        # Rasa's stream ends only when the bot returns: a failure must become a reply instead.
        answer_in_stream = answering(on_new_message)
        blueprint = Blueprint(f"checked_rest_{id(self)}")

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["GET", "PUT", "PATCH", "DELETE"])
        async def wrong_method(request: Request) -> HTTPResponse:
            reply = refuse(405, f"use POST, not {request.method}")
            reply.headers["Allow"] = "POST"
            return reply

        @blueprint.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse | ResponseStream:
            stream = rasa.utils.endpoints.bool_arg(request, "stream", default=False)
            try:
                check_token(request.headers.get("authorization"), settings.rest_token)
                check_content_type(request.headers.get("content-type"))
                data = parse_body(await read_body(request, settings.max_request_bytes))
                sender = check_sender(data)
                text = check_message(data)
                metadata = check_metadata(data, settings.max_metadata_bytes)
            except RequestRefused as refused:
                logger.info("REST request refused with %s: %s", refused.status, refused.reason)
                return refuse(refused.status, refused.reason)

            judged, refusal = judge(text, self.name(), language_hint(metadata))
            if refusal is not None:
                return _reply(self.reply_messages(sender, refusal), stream)
            if stream:  # the status is sent first, so a failure can only be told in the stream
                return response.stream(
                    self.stream_response(answer_in_stream, judged.text, sender, self.name(), metadata),
                    content_type="text/event-stream",
                )
            collector = AnsweringSender(sender)
            conversation = conversation_id(sender)
            try:
                await on_new_message(
                    UserMessage(
                        judged.text, collector, conversation, input_channel=self.name(), metadata=metadata
                    )
                )
            except CancelledError:
                logger.error("the bot did not answer a REST message in time")
            except StoreUnavailable as error:
                log_failure(self.name(), error)
                unavailable = refuse(503, f"{error}: nothing was saved; send the message again later")
                unavailable.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                return unavailable
            except Exception as error:
                log_failure(self.name(), error)
                return refuse(500, "the bot failed to answer this message (the server's log says why)")
            return response.json(collector.messages)

        return blueprint


def _reply(messages: list[dict[str, Any]], stream: bool) -> HTTPResponse:
    if stream:  # as Rasa's streaming REST replies: one JSON message a line
        lines = "".join(json.dumps(message) + "\n" for message in messages)
        return response.text(lines, content_type="text/event-stream")
    return response.json(messages)
