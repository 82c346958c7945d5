"""Messenger's webhook (channels/facebook.py), posted to as Facebook posts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import pytest

from bot.knowledge import KnowledgeBase
from channels import facebook
from tests.channels.messaging_fakes import (
    FACEBOOK_ENV,
    PAGE_ID,
    WRONG_SECRET,
    FakeApi,
    Reply,
    StandInBot,
    facebook_channel,
    get,
    hub_signatures,
    messenger_attachment,
    messenger_event,
    page_events,
    post_to_messenger,
    serving,
)


@pytest.mark.parametrize("headers", ["both", "X-Hub-Signature-256", "X-Hub-Signature"])
def test_a_signed_messenger_event_is_answered_with_the_caveat(
    headers: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    topic = knowledge.topic("side_effects")
    body = page_events(messenger_event(topic.question))
    signatures = hub_signatures(body)
    if headers != "both":
        signatures = {headers: signatures[headers]}

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, signatures)

    reply = asyncio.run(scenario())
    assert reply.status == 200, reply.text
    [text] = fake_api.sent_texts()
    assert text.startswith(topic.answer) and text.endswith(knowledge.caveat)
    [message] = [call.fields for call in fake_api.calls if "message" in call.fields]
    assert message["recipient"] == {"id": "6543210987654321"}


@pytest.mark.parametrize(
    "forgery", ["unsigned", "another secret", "body changed after signing", "md5", "sha256 wrong, sha1 right"]
)
def test_messenger_refuses_an_unsigned_or_forged_event(
    forgery: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    body = page_events(messenger_event(knowledge.topic("cost").question))
    headers = {
        "unsigned": {},
        "another secret": hub_signatures(body, WRONG_SECRET),
        "body changed after signing": hub_signatures(page_events(messenger_event("hello"))),
        "md5": {"X-Hub-Signature": "md5=" + hmac.new(b"x", body, hashlib.md5).hexdigest()},
        "sha256 wrong, sha1 right": {
            **hub_signatures(body),
            "X-Hub-Signature-256": hub_signatures(body, WRONG_SECRET)["X-Hub-Signature-256"],
        },
    }[forgery]

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, headers)

    reply = asyncio.run(scenario())
    assert reply.status == 403
    assert "X-Hub-Signature" in reply.json()["error"]
    assert bot.received == [] and fake_api.calls == []


def test_every_event_of_a_messenger_batch_is_answered(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    cost, pain = knowledge.topic("cost"), knowledge.topic("pain")
    body = page_events(
        messenger_event(cost.question, sender="111"), messenger_event(pain.question, sender="222")
    )

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    assert asyncio.run(scenario()).status == 200
    first, second = fake_api.sent_texts()
    assert first.startswith(cost.answer) and second.startswith(pain.answer)
    assert first.endswith(knowledge.caveat) and second.endswith(knowledge.caveat)
    assert [m.sender_id for m in bot.received] == ["111", "222"]


def test_topics_offered_on_messenger_are_never_dropped(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Messenger's button template holds 3 buttons; Rasa would send the bare text instead."""
    body = page_events(messenger_event("what's the capital of France?"))

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    assert asyncio.run(scenario()).status == 200
    assert len(knowledge.replies.suggested_topics) > facebook.TEMPLATE_BUTTONS
    [text] = fake_api.sent_texts()
    assert all(knowledge.topic(topic_id).title in text for topic_id in knowledge.replies.suggested_topics)


def test_the_messenger_subscription_handshake(fake_api: FakeApi, bot: StandInBot) -> None:
    def handshake(token: str) -> dict[str, str]:
        return {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}

    async def scenario() -> tuple[Reply, Reply]:
        async with serving(facebook_channel(fake_api), bot) as url:
            right = await get(f"{url}/webhook", handshake(FACEBOOK_ENV["FACEBOOK_VERIFY_TOKEN"]))
            wrong = await get(f"{url}/webhook", handshake("guessed"))
            return right, wrong

    right, wrong = asyncio.run(scenario())
    assert (right.status, right.text) == (200, "1158201444")
    assert wrong.status == 403 and "1158201444" not in wrong.text


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("image", {}), ("image", {"sticker_id": 369239263222822}), ("audio", {}), ("file", {})],
    ids=["photo", "sticker", "voice", "file"],
)
def test_a_messenger_attachment_gets_the_calm_reply_and_the_next_event_its_answer(
    kind: str, payload: dict[str, Any], fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Rasa would hand the bot the attachment's address as if the patient had typed it."""
    cost = knowledge.topic("cost")
    body = page_events(
        messenger_attachment(kind, sender="111", **payload), messenger_event(cost.question, sender="222")
    )

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    reply = asyncio.run(scenario())
    assert (reply.status, reply.text) == (200, "success")
    messages = [call.fields for call in fake_api.calls if "message" in call.fields]
    assert [m["recipient"]["id"] for m in messages] == ["111", "222"]
    calm, answer = fake_api.sent_texts()
    assert calm == knowledge.replies.empty_message
    assert answer.startswith(cost.answer) and answer.endswith(knowledge.caveat)
    assert [(m.sender_id, m.text) for m in bot.received] == [("222", cost.question)]


def test_the_pages_own_messages_echoed_back_are_not_answered(fake_api: FakeApi, bot: StandInBot) -> None:
    echo = messenger_attachment("image", sender=PAGE_ID)
    echo["message"]["is_echo"] = True
    body = page_events(echo)

    async def scenario() -> Reply:
        async with serving(facebook_channel(fake_api), bot) as url:
            return await post_to_messenger(url, body, hub_signatures(body))

    assert asyncio.run(scenario()).status == 200
    assert bot.received == [] and fake_api.calls == []
