"""Patients of the chat widget's socket.io channel, as tests meet them: a socket.io client that
asks for a session the way web/widget.js does, and an echo bot behind the channel
(tests/socketio_echo_server.py) in a process of its own."""

from __future__ import annotations

import os
import queue
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import requests
import socketio

from tooling.servers import free_port, serve

WAIT_SECONDS = 60  # an upper bound for a reply to arrive, never a measured time


@contextmanager
def echo_server(channel: str, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The URL of an echo bot behind Rasa's socket.io channel ("rasa") or this project's,
    with ``env`` added to its environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tests.socketio_echo_server", "--channel", channel, "--port", str(port)]
    environment = {**os.environ, **(env or {})}
    health = f"{url}/webhooks/socketio/"
    with serve(f"the socket.io echo server ({channel})", command, health, environment, log):
        yield url


class Session(NamedTuple):
    """A session as the server confirms it: its id and the token that proves it was given."""

    id: str
    token: str | None  # None from Rasa's own channel, which has no tokens


class Patient:
    """A socket.io client that asks for a session the way the widget does."""

    def __init__(self, url: str, origin: str | None = None) -> None:
        # The websocket handshake's Origin header, as a browser on a page at `origin` sends
        # it; without it, the websocket client sends the server's own origin.
        options = {"origin": origin} if origin else {}
        self.client = socketio.Client(websocket_extra_options=options)
        self.confirmed: queue.Queue[Any] = queue.Queue()
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client.on("session_confirm", self.confirmed.put)
        self.client.on("bot_uttered", self.replies.put)
        self.client.connect(url, transports=["websocket"])

    def __enter__(self) -> Patient:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.disconnect()

    def start_session(self, session_id: str | None = None, token: str | None = None) -> Session:
        self.client.emit("session_request", {"session_id": session_id, "session_token": token})
        confirmed = self.confirmed.get(timeout=WAIT_SECONDS)
        if isinstance(confirmed, str):
            return Session(confirmed, None)
        return Session(str(confirmed["session_id"]), str(confirmed["session_token"]))

    def resume(self, session: Session) -> Session:
        return self.start_session(session.id, session.token)

    def rooms(self, url: str) -> list[str]:
        rooms: list[str] = requests.get(f"{url}/rooms/{self.client.get_sid()}", timeout=10).json()
        return rooms

    def say(self, text: str, session_id: str) -> None:
        self.client.emit("user_uttered", {"message": text, "session_id": session_id})


def next_reply(patient: Patient) -> dict[str, Any]:
    reply: dict[str, Any] = patient.replies.get(timeout=WAIT_SECONDS)
    return reply


def connects(url: str, origin: str | None) -> bool:
    """Whether a page at ``origin`` completes the websocket handshake and gets a session."""
    try:
        patient = Patient(url, origin)
    except socketio.exceptions.ConnectionError:
        return False
    with patient:
        return bool(patient.start_session().id)
