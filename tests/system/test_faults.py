"""Faults produced for real on the running bot: the action server stopped or frozen, the
Rasa server restarted, PostgreSQL and Redis stopped (docs/deployment.md).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.answers import TOPIC_EMERGENCY, TOPIC_UNAVAILABLE, unavailable_reply
from bot.clinic import default_clinic
from bot.knowledge import default_knowledge_base
from bot.settings import load_settings
from channels.rest import conversation_id
from tests.services import Postgres, Redis, stored_messages
from tooling.servers import DEFAULT_MODEL, BotAddress, ServerProcess, action_server, free_port, rasa_server

RED_FLAG = "my lips and tongue are swelling up since the injections an hour ago"

QUESTION = "how much does mesotherapy cost?"


class Bot:
    """An action server and a Rasa server that a test can stop, freeze and start again."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.address = BotAddress(rasa_port=free_port(), action_port=free_port())
        self.log_dir = tmp
        self.env = {"SANIC_WORKERS": "1", "ACTION_TIMEOUT_SECONDS": "3", **env}
        self.stack = ExitStack()
        self.action: ExitStack | None = None
        self.rasa: ExitStack | None = None
        self.action_process: ServerProcess | None = None

    def start_action_server(self) -> None:
        self.action = ExitStack()
        self.action_process = self.action.enter_context(action_server(self.address, self.log_dir, self.env))

    def stop_action_server(self) -> None:
        assert self.action is not None
        self.action.close()

    def start_rasa(self) -> None:
        self.rasa = ExitStack()
        self.rasa.enter_context(rasa_server(self.address, DEFAULT_MODEL, self.log_dir, env=self.env))

    def stop_rasa(self) -> None:
        assert self.rasa is not None
        self.rasa.close()

    def post(self, sender: str, text: str) -> requests.Response:
        return requests.post(self.address.rest_url, json={"sender": sender, "message": text}, timeout=60)

    def reply(self, sender: str, text: str) -> tuple[str, dict[str, Any]]:
        """The reply's text and its metadata (``custom.data``)."""
        answer = self.post(sender, text)
        assert answer.status_code == 200, answer.text
        messages = answer.json()
        texts = [message["text"] for message in messages if "text" in message]
        custom = [message["custom"]["data"] for message in messages if "custom" in message]
        assert texts and custom, messages
        return "\n".join(texts), custom[-1]

    def rasa_log(self) -> str:
        return (self.log_dir / "rasa-server.log").read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        for part in (self.rasa, self.action):
            if part is not None:
                part.close()


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    if not DEFAULT_MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    running = Bot(tmp_path_factory.mktemp("faults-logs"), {})
    try:
        running.start_action_server()
        running.start_rasa()
        yield running
    finally:
        running.close()


def test_a_stopped_action_server_gets_a_calm_reply_and_the_bot_recovers_when_it_is_back(bot: Bot) -> None:
    sender = "fault-stopped-action-server"
    _, before = bot.reply(sender, QUESTION)
    assert before["topic"] == "cost"

    bot.stop_action_server()
    text, meta = bot.reply(sender, "does it hurt?")
    assert meta["topic"] == TOPIC_UNAVAILABLE and meta["route"] == "fault"
    assert text == unavailable_reply(default_knowledge_base(), default_clinic()).text
    text, meta = bot.reply(sender, RED_FLAG)  # a red flag still gets the urgent reply
    assert meta["topic"] == TOPIC_EMERGENCY and meta["red_flags"]
    assert "did not run action_escalate_emergency" in bot.rasa_log()

    bot.start_action_server()
    _, after = bot.reply(sender, "does it hurt?")
    assert after["topic"] == "pain"
    stored = stored_messages(conversation_id(sender))
    assert [text for who, text in stored if who == "patient"] == [
        QUESTION,
        "does it hurt?",
        RED_FLAG,
        "does it hurt?",
    ]


def test_a_frozen_action_server_is_given_up_on_after_the_timeout(bot: Bot) -> None:
    assert bot.action_process is not None
    sender = "fault-frozen-action-server"
    os.kill(bot.action_process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        _, meta = bot.reply(sender, QUESTION)
        waited = time.monotonic() - started
    finally:
        os.kill(bot.action_process.pid, signal.SIGCONT)
    assert meta["topic"] == TOPIC_UNAVAILABLE
    assert waited < 60  # not Rasa's 5 minutes: ACTION_TIMEOUT_SECONDS (3 s here)
    assert "no answer within 3 s (ACTION_TIMEOUT_SECONDS)" in bot.rasa_log()
    _, meta = bot.reply(sender, QUESTION)
    assert meta["topic"] == "cost"


def test_a_restarted_rasa_server_continues_the_conversation(bot: Bot) -> None:
    sender = "fault-restarted-rasa"
    bot.reply(sender, QUESTION)
    bot.stop_rasa()
    with pytest.raises(requests.ConnectionError):
        bot.post(sender, "does it hurt?")
    bot.start_rasa()
    _, meta = bot.reply(sender, "does it hurt?")
    assert meta["topic"] == "pain"
    stored = stored_messages(conversation_id(sender))
    assert [text for who, text in stored if who == "patient"] == [QUESTION, "does it hurt?"]
    assert [who for who, _ in stored] == ["patient", "bot", "patient", "bot"]


@pytest.fixture(scope="module")
def shared_bot(tmp_path_factory: pytest.TempPathFactory, bot: Bot) -> Iterator[tuple[Bot, Postgres, Redis]]:
    """A Rasa server on PostgreSQL and Redis (the multi-server settings), beside ``bot``'s
    action server."""
    directory = tmp_path_factory.mktemp("faults-services")
    postgres, redis_server = Postgres(directory / "pg"), Redis(directory / "redis")
    with postgres.running(), redis_server.running():
        env = {"CONVERSATIONS_DB_URL": postgres.url, "LOCK_STORE_URL": redis_server.url}
        shared = Bot(tmp_path_factory.mktemp("faults-shared-logs"), env)
        shared.address = BotAddress(rasa_port=free_port(), action_port=bot.address.action_port)
        try:
            shared.start_rasa()
            yield shared, postgres, redis_server
        finally:
            shared.close()


def test_a_stopped_database_is_reported_and_the_conversation_goes_on_when_it_is_back(
    shared_bot: tuple[Bot, Postgres, Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, postgres, _ = shared_bot
    sender = "fault-stopped-database"
    bot.reply(sender, QUESTION)
    postgres.stop()
    try:
        refused = bot.post(sender, "does it hurt?")
    finally:
        postgres.start()
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert "the conversation database cannot be reached" in refused.json()["error"]
    assert "The conversation database postgresql://meso@127.0.0.1" in bot.rasa_log()
    assert "Falling back" not in bot.rasa_log()  # Rasa's silent switch to memory

    _, meta = bot.reply(sender, "does it hurt?")
    assert meta["topic"] == "pain"
    monkeypatch.setenv("CONVERSATIONS_DB_URL", postgres.url)
    stored = stored_messages(conversation_id(sender))
    assert [text for who, text in stored if who == "patient"] == [QUESTION, "does it hurt?"]


def test_a_stopped_redis_is_reported_and_the_bot_recovers_when_it_is_back(
    shared_bot: tuple[Bot, Postgres, Redis],
) -> None:
    bot, _, redis_server = shared_bot
    sender = "fault-stopped-redis"
    redis_server.stop()
    try:
        refused = bot.post(sender, QUESTION)
    finally:
        redis_server.start()
    assert refused.status_code == 503
    assert "the lock store cannot be reached" in refused.json()["error"]
    assert f"The lock store redis://127.0.0.1:{redis_server.port}/1 cannot be used" in bot.rasa_log()
    _, meta = bot.reply(sender, QUESTION)
    assert meta["topic"] == "cost"


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTION_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("CONVERSATION_RETENTION_DAYS", "7")
    load_settings.cache_clear()
    try:
        assert (load_settings().action_timeout_seconds, load_settings().retention_days) == (2.5, 7)
    finally:
        load_settings.cache_clear()
