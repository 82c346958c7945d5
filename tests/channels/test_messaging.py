"""What every messaging app's connector shares (channels/messaging.py): settings, one
message per answer, messages judged as REST judges them.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid

import pytest
import rasa.core.run
from rasa.core.channels.channel import InputChannel, register
from sanic import Sanic

from bot.answers import compose_answer
from bot.knowledge import KnowledgeBase
from bot.settings import PROJECT_DIR
from channels import facebook, telegram, twilio
from channels.facebook import VerifiedFacebookInput
from channels.telegram import VerifiedTelegramInput
from channels.twilio import VerifiedTwilioInput
from tests.channels.messaging_fakes import (
    TELEGRAM_ENV,
    FakeApi,
    Reply,
    StandInBot,
    app_channel,
    get,
    hub_signatures,
    messenger_event,
    page_events,
    post,
    post_to_messenger,
    post_to_telegram,
    post_to_twilio,
    serving,
    telegram_update,
    twilio_form,
    twilio_signature,
)

CHANNELS: dict[str, tuple[type[InputChannel], tuple[str, ...]]] = {
    "twilio": (VerifiedTwilioInput, twilio.REQUIRED),
    "telegram": (VerifiedTelegramInput, telegram.REQUIRED),
    "facebook": (VerifiedFacebookInput, facebook.REQUIRED),
}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_an_unconfigured_app_answers_503_naming_what_is_missing_and_processes_nothing(
    name: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    channel_class, required = CHANNELS[name]
    channel = channel_class.from_credentials(None)  # what credentials.yml gives it

    async def scenario() -> list[Reply]:
        async with serving(channel, bot) as url:
            return [
                await get(url),
                await get(f"{url}/webhook"),
                await post(f"{url}/webhook", data=twilio_form(knowledge.topic("cost").question)),
                await post(f"{url}/webhook", body=page_events(messenger_event("cost?"))),
            ]

    with pytest.MonkeyPatch.context() as env:
        for variable in required:
            env.delenv(variable, raising=False)
        replies = asyncio.run(scenario())
    for reply in replies:
        assert reply.status == 503
        assert reply.json()["error"].startswith(f"the {name} channel is not configured")
        assert all(variable in reply.json()["error"] for variable in required)
    assert bot.received == [] and fake_api.calls == []


@pytest.mark.parametrize("path", ["/webhook/", "/webhook?from=twilio", "/./webhook", "/set_webhook"])
@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_no_other_spelling_of_the_webhook_skips_the_check(
    name: str, path: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    question = knowledge.topic("cost").question
    body, content_type = {
        "twilio": (urllib.parse.urlencode(twilio_form(question)).encode(), "x-www-form-urlencoded"),
        "telegram": (json.dumps(telegram_update(question)).encode(), "json"),
        "facebook": (page_events(messenger_event(question)), "json"),
    }[name]

    async def scenario() -> Reply:
        async with serving(app_channel(name, fake_api), bot) as url:
            return await post(url + path, body=body, headers={"Content-Type": f"application/{content_type}"})

    reply = asyncio.run(scenario())
    assert reply.status in (403, 404, 405), reply.text
    assert bot.received == [] and fake_api.calls == []


def test_the_credentials_file_loads_with_no_messaging_app_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make run`` starts on embedded defaults: Rasa reads credentials.yml, builds every
    channel and mounts their blueprints with none of the apps' variables set."""
    for _, required in CHANNELS.values():
        for variable in required:
            monkeypatch.delenv(variable, raising=False)
    channels = rasa.core.run.create_http_input_channels(None, str(PROJECT_DIR / "credentials.yml"))
    verified = tuple(channel_class for channel_class, _ in CHANNELS.values())
    messaging = [channel for channel in channels if isinstance(channel, verified)]
    assert sorted(channel.name() for channel in messaging) == sorted(CHANNELS)
    assert all(channel.settings is None for channel in messaging)
    app = Sanic(f"credentials-{uuid.uuid4().hex}")
    register(messaging, app, route="/webhooks/")
    assert {route.path for route in app.router.routes} >= {
        f"webhooks/{name}/<path:path>" for name in CHANNELS
    }


ONE_MESSAGE = {"twilio": 1600, "facebook": 2000, "telegram": 4096}


@pytest.mark.parametrize("app", sorted(ONE_MESSAGE))
def test_every_answer_with_its_caveat_fits_in_one_message(app: str, knowledge: KnowledgeBase) -> None:
    """Too long an answer would not arrive at all; the caveat rides in the same message."""
    for topic in knowledge.topics.values():
        for personal in (False, True):
            text = compose_answer(knowledge, topic, personal=personal).text
            assert "\n\n" not in text and text.endswith(knowledge.caveat)
            assert len(text) <= ONE_MESSAGE[app], (topic.id, personal, len(text))


async def post_text(app: str, url: str, text: str) -> Reply:
    """A patient's typed message, posted and signed as ``app`` posts it."""
    if app == "twilio":
        form = twilio_form(text)
        return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
    if app == "telegram":
        return await post_to_telegram(url, telegram_update(text), TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"])
    body = page_events(messenger_event(text))
    return await post_to_messenger(url, body, hub_signatures(body))


@pytest.mark.parametrize("app", sorted(ONE_MESSAGE))
def test_an_over_long_message_gets_the_limit_on_every_app_and_the_bot_reads_nothing(
    app: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Every app delivers far longer messages than MAX_MESSAGE_CHARS (1,000 by default)."""
    text = "does it hurt " * 100  # 1,299 characters once the last space is trimmed

    async def scenario() -> Reply:
        async with serving(app_channel(app, fake_api), bot) as url:
            return await post_text(app, url, text)

    assert asyncio.run(scenario()).status in (200, 204)
    [sent] = fake_api.sent_texts()
    assert sent.startswith(knowledge.replies.message_too_long.split("{")[0])
    assert "1,299" in sent and "1,000" in sent
    assert bot.received == []


@pytest.mark.parametrize("app", sorted(ONE_MESSAGE))
def test_the_bot_reads_a_messaging_apps_text_cleaned_and_commands_as_words(
    app: str, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    cost = knowledge.topic("cost")
    typed = cost.question.replace(" ", " \n\t\u0007 ", 1)  # a line break, a tab, a bell

    async def scenario() -> list[Reply]:
        async with serving(app_channel(app, fake_api), bot) as url:
            return [await post_text(app, url, typed), await post_text(app, url, "/restart")]

    assert all(reply.status in (200, 204) for reply in asyncio.run(scenario()))
    assert [m.text for m in bot.received] == [cost.question, "restart"]
    answer, _ = fake_api.sent_texts()
    assert answer.startswith(cost.answer) and answer.endswith(knowledge.caveat)
