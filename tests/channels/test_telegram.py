"""Telegram's webhook (channels/telegram.py), posted to as Telegram posts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.knowledge import KnowledgeBase
from channels import telegram
from channels.telegram import VerifiedTelegramInput
from tests.channels.messaging_fakes import (
    PATIENT_PHONE,
    PHOTO,
    STICKER,
    TELEGRAM_ENV,
    TWILIO_ENV,
    WHATSAPP_PHOTO,
    FakeApi,
    Reply,
    StandInBot,
    get,
    post_to_telegram,
    post_to_twilio,
    serving,
    telegram_button_press,
    telegram_channel,
    telegram_message_update,
    telegram_update,
    twilio_channel,
    twilio_form,
    twilio_signature,
)


@pytest.mark.parametrize("how", ["typed", "button"])
def test_a_telegram_update_with_the_secret_is_answered_with_the_caveat(
    how: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    topic = knowledge.topic("washing_hair")
    update = telegram_update(topic.question) if how == "typed" else telegram_button_press(f"/{topic.intent}")

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    reply = asyncio.run(scenario())
    assert reply.status == 200, reply.text
    [sent] = [call.fields for call in fake_api.calls if call.path.endswith("/sendMessage")]
    assert sent["chat_id"] == "424242"
    assert sent["text"].startswith(topic.answer) and sent["text"].endswith(knowledge.caveat)
    assert [m.sender_id for m in bot.received] == ["424242"]


@pytest.mark.parametrize("secret", [None, "", "not-the-secret", TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"] + "x"])
def test_telegram_refuses_an_update_without_the_secret(
    secret: str | None, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, telegram_update(knowledge.topic("cost").question), secret)

    reply = asyncio.run(scenario())
    assert reply.status == 403
    assert telegram.SECRET_HEADER in reply.json()["error"]
    assert bot.received == [] and fake_api.calls == []


def test_the_set_webhook_route_registers_the_secret_with_telegram(fake_api: FakeApi, bot: StandInBot) -> None:
    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await get(f"{url}/set_webhook")

    reply = asyncio.run(scenario())
    assert reply.status == 200 and "successful" in reply.text
    [call] = fake_api.calls
    assert call.path == f"/bot{TELEGRAM_ENV['TELEGRAM_TOKEN']}/setWebhook"
    assert call.fields == {
        "url": TELEGRAM_ENV["TELEGRAM_WEBHOOK_URL"],
        "secret_token": TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
    }


def test_a_webhook_telegram_refuses_is_reported_not_as_a_crash(fake_api: FakeApi, bot: StandInBot) -> None:
    async def scenario() -> Reply:
        channel = telegram_channel(fake_api, TELEGRAM_WEBHOOK_URL="http://clinic.example/webhook")
        async with serving(channel, bot) as url:
            return await get(f"{url}/set_webhook")

    reply = asyncio.run(scenario())
    assert (reply.status, reply.text) == (200, "Invalid webhook")
    assert [call.path.rsplit("/", 1)[-1] for call in fake_api.calls] == ["setWebhook"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("TELEGRAM_SECRET_TOKEN", "has spaces and !", "TELEGRAM_SECRET_TOKEN"),
        ("TELEGRAM_TOKEN", "not a token", "TELEGRAM_TOKEN"),
    ],
)
def test_telegram_with_an_unusable_setting_is_not_configured(name: str, value: str, problem: str) -> None:
    channel = VerifiedTelegramInput.from_environment({**TELEGRAM_ENV, name: value})
    assert isinstance(channel, VerifiedTelegramInput)
    assert channel.settings is None and problem in str(channel.problem)


@pytest.mark.parametrize(
    "content",
    [
        {"photo": PHOTO},
        {"sticker": {**STICKER, "is_animated": False, "emoji": "\U0001f44d"}},
        {"voice": {"file_id": "AwACAgQ", "file_unique_id": "AgADvw", "duration": 3}},
        {"location": {"latitude": 51.5072, "longitude": -0.1276}},
        {"text": "\u200b \u2060"},
    ],
    ids=["photo", "sticker", "voice", "location", "invisible text"],
)
def test_a_telegram_message_without_words_gets_the_calm_reply(
    content: dict[str, Any], fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Rasa's connector drops such a message: the patient would wait for an answer."""

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            update = telegram_message_update(**content)
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    reply = asyncio.run(scenario())
    assert (reply.status, reply.text) == (200, "success")
    [sent] = [call.fields for call in fake_api.calls if call.path.endswith("/sendMessage")]
    assert sent["chat_id"] == "424242" and sent["text"] == knowledge.replies.empty_message
    assert bot.received == []


@pytest.mark.parametrize("app", ["whatsapp", "telegram"])
def test_a_photo_with_a_caption_is_answered_from_its_caption(
    app: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """WhatsApp sends the caption as the text; Rasa's Telegram connector drops it."""
    topic = knowledge.topic("pain")

    async def scenario() -> Reply:
        if app == "whatsapp":
            clinic = "whatsapp:" + TWILIO_ENV["TWILIO_NUMBER"]
            form = {**twilio_form(topic.question, "whatsapp:" + PATIENT_PHONE, clinic), **WHATSAPP_PHOTO}
            async with serving(twilio_channel(fake_api), bot) as url:
                return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
        update = telegram_message_update(photo=PHOTO, caption=topic.question)
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    assert asyncio.run(scenario()).status in (200, 204)
    [text] = fake_api.sent_texts()
    assert text.startswith(topic.answer) and text.endswith(knowledge.caveat)
    assert [m.text for m in bot.received] == [topic.question]


@pytest.mark.parametrize("command", ["/start", "/start@ClinicBot", "/start spring-offer", " /start \n"])
def test_telegrams_start_command_is_read_as_a_greeting(
    command: str, fake_api: FakeApi, bot: StandInBot, domain: dict[str, Any]
) -> None:
    """Telegram sends /start when a patient first opens the chat; Rasa would read an unknown intent."""

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(
                url, telegram_update(command), TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"]
            )

    assert asyncio.run(scenario()).status == 200
    [message] = bot.received
    assert message.text == telegram.GREETING
    assert message.text.removeprefix("/") in domain["intents"]


@pytest.mark.parametrize("text", ["/started", "/start-over", "how do I /start"])
def test_other_text_with_start_in_it_is_read_as_typed(text: str, fake_api: FakeApi, bot: StandInBot) -> None:
    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, telegram_update(text), TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    assert asyncio.run(scenario()).status == 200
    assert [m.text for m in bot.received] == [text]


def test_a_telegram_update_that_is_no_message_is_acknowledged_not_a_crash(
    fake_api: FakeApi, bot: StandInBot
) -> None:
    """Telegram sends ``my_chat_member`` when a patient blocks the bot; Rasa fails on it
    with a 500, and Telegram then sends it again and again."""
    person = {"id": 424242, "is_bot": False, "first_name": "Ann"}
    member = {"user": {"id": 1, "is_bot": True, "first_name": "Clinic"}, "status": "member"}
    update = {
        "update_id": 100000003,
        "my_chat_member": {
            "chat": {"id": 424242, "first_name": "Ann", "type": "private"},
            "from": person,
            "date": 1700000002,
            "old_chat_member": member,
            "new_chat_member": {**member, "status": "kicked", "until_date": 0},
        },
    }

    async def scenario() -> Reply:
        async with serving(telegram_channel(fake_api), bot) as url:
            return await post_to_telegram(url, update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])

    assert asyncio.run(scenario()).status == 200
    assert bot.received == [] and fake_api.calls == []
