"""Two Rasa servers and two action servers behind nginx, sharing PostgreSQL and Redis: the
multi-server layout of docs/deployment.md, all on loopback, started and stopped here.

50 conversations of 20 messages each run at the same time through nginx, which sends each
request to either Rasa server (round robin), so one conversation's messages are answered by
both. Then every conversation as stored in PostgreSQL must hold every message sent and every
reply received, in order, and nothing else.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import aiohttp
import pytest

from channels.rest import conversation_id
from tests.services import Nginx, Postgres, Redis, stored_messages
from tooling.servers import DEFAULT_MODEL, BotAddress, action_server, free_port, rasa_server

CONVERSATIONS = 50
MESSAGES = 20
# A patient's questions: answers, retrieval, out of scope, a red flag, a personal question.
QUESTIONS = (
    "how much does it cost?",
    "does it hurt?",
    "can I wash my hair after the session?",
    "when will I see results?",
    "can I go to the gym afterwards?",
    "is it safe to drink coffee after treatment?",
    "what are the side effects?",
    "what's in the injections?",
    "how many sessions will I need?",
    "what is the weather tomorrow",
    "is it approved by the FDA?",
    "can I drink alcohol after mesotherapy?",
    "my face is swelling up and it's hard to breathe",
    "I'm pregnant, can I have it?",
    "is PRP better?",
    "how long does a session take?",
    "who should not have mesotherapy?",
    "does it work for hair loss?",
    "can I talk to someone at the clinic?",
    "thanks, bye",
)


@dataclass
class Conversation:
    sender: str
    sent: list[str] = field(default_factory=list)
    received: list[list[str]] = field(default_factory=list)  # the reply texts per message
    servers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _converse(
    session: aiohttp.ClientSession, url: str, conversation: Conversation, offset: int
) -> None:
    for number in range(MESSAGES):
        text = QUESTIONS[(offset + number) % len(QUESTIONS)]
        async with session.post(url, json={"sender": conversation.sender, "message": text}) as response:
            if response.status != 200:
                conversation.errors.append(f"{text!r}: HTTP {response.status} {await response.text()}")
                return
            messages = await response.json()
            conversation.sent.append(text)
            conversation.received.append([message["text"] for message in messages if "text" in message])
            conversation.servers.append(response.headers.get("X-Served-By", "?"))


async def _all(url: str) -> list[Conversation]:
    conversations = [
        Conversation(f"scale-{number}-{secrets.token_hex(4)}") for number in range(CONVERSATIONS)
    ]
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=CONVERSATIONS)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(
            *(
                _converse(session, url, conversation, number)
                for number, conversation in enumerate(conversations)
            )
        )
    return conversations


@dataclass
class Layout:
    url: str
    database_url: str
    rasa_ports: tuple[int, ...]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    if not DEFAULT_MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    directory = tmp_path_factory.mktemp("scale-out")
    postgres, redis_server = Postgres(directory / "postgres"), Redis(directory / "redis")
    addresses = [BotAddress(rasa_port=free_port(), action_port=free_port()) for _ in range(2)]
    shared = {
        "CONVERSATIONS_DB_URL": postgres.url,
        "LOCK_STORE_URL": redis_server.url,
        "SESSION_SECRET": secrets.token_hex(32),
        "SANIC_WORKERS": "1",  # two servers on two cores
    }
    with ExitStack() as stack:
        stack.enter_context(postgres.running())
        stack.enter_context(redis_server.running())
        for number, address in enumerate(addresses):
            machine = directory / f"machine-{number}"  # nothing shared through local files
            machine.mkdir()
            env = {**shared, "BOT_DATA_DIR": str(machine / "var")}
            stack.enter_context(action_server(address, machine, env))
            stack.enter_context(rasa_server(address, DEFAULT_MODEL, machine, env=env))
        nginx = Nginx(directory / "nginx", [address.rasa_port for address in addresses])
        stack.enter_context(nginx.running())
        yield Layout(
            f"{nginx.url}/webhooks/rest/webhook", postgres.url, tuple(a.rasa_port for a in addresses)
        )


def test_fifty_conversations_across_two_servers_lose_nothing(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversations = asyncio.run(_all(layout.url))

    errors = [error for conversation in conversations for error in conversation.errors]
    assert errors == []
    assert all(len(conversation.sent) == MESSAGES for conversation in conversations)
    assert all(all(replies) for conversation in conversations for replies in conversation.received)

    served = Counter(server for conversation in conversations for server in conversation.servers)
    assert set(served) == {f"127.0.0.1:{port}" for port in layout.rasa_ports}, served
    assert min(served.values()) >= CONVERSATIONS * MESSAGES / 4  # both took a fair share
    assert all(len(set(conversation.servers)) == 2 for conversation in conversations)

    monkeypatch.setenv("CONVERSATIONS_DB_URL", layout.database_url)
    for conversation in conversations:
        expected: list[tuple[str, str | None]] = []
        for text, replies in zip(conversation.sent, conversation.received, strict=True):
            expected += [("patient", text), *(("bot", reply) for reply in replies)]
        assert stored_messages(conversation_id(conversation.sender)) == expected, conversation.sender


def test_rasas_api_is_not_served_through_the_load_balancer(layout: Layout) -> None:
    async def get(path: str) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.get(layout.url.split("/webhooks")[0] + path) as answer,
        ):
            return answer.status

    assert asyncio.run(get("/conversations/anyone/tracker")) == 404
    assert asyncio.run(get("/webhooks/rest/")) == 200  # the channel's own health check
