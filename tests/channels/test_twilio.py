"""Twilio's webhook (SMS and WhatsApp, channels/twilio.py), posted to as Twilio posts."""

from __future__ import annotations

import asyncio

import pytest

from bot.knowledge import KnowledgeBase
from tests.channels.messaging_fakes import (
    INVALID_PHONE,
    PATIENT_PHONE,
    TWILIO_ENV,
    WHATSAPP_LOCATION,
    WHATSAPP_PHOTO,
    WRONG_SECRET,
    FakeApi,
    Reply,
    StandInBot,
    post_to_twilio,
    serving,
    twilio_channel,
    twilio_form,
    twilio_signature,
)


def test_each_answer_reaches_an_sms_patient_as_one_message_with_the_caveat(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> None:
        async with serving(twilio_channel(fake_api), bot) as url:
            for topic in knowledge.topics.values():
                fake_api.calls.clear()
                form = twilio_form(topic.question)
                reply = await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
                assert reply.status == 204, reply.text
                [sms] = [call.fields for call in fake_api.calls]
                assert sms["To"] == PATIENT_PHONE and sms["From"] == TWILIO_ENV["TWILIO_NUMBER"]
                assert sms["Body"].startswith(topic.answer), topic.id
                assert sms["Body"].endswith(knowledge.caveat), topic.id

    asyncio.run(scenario())
    assert len(bot.received) == len(knowledge.topics)
    assert {message.input_channel for message in bot.received} == {"twilio"}


def test_a_whatsapp_patient_is_answered_from_the_whatsapp_number(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    patient, clinic = "whatsapp:" + PATIENT_PHONE, "whatsapp:" + TWILIO_ENV["TWILIO_WHATSAPP_NUMBER"]

    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form(knowledge.topic("pain").question, sender=patient, to=clinic)
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    assert asyncio.run(scenario()).status == 204
    [message] = [call.fields for call in fake_api.calls]
    assert (message["To"], message["From"]) == (patient, clinic)
    assert message["Body"].endswith(knowledge.caveat)
    assert [m.sender_id for m in bot.received] == [patient]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "bm90IGEgc2lnbmF0dXJl",
        "signed with another token",
        "signed over another text",
    ],
)
def test_twilio_refuses_an_unsigned_or_forged_request(
    signature: str | None, fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form(knowledge.topic("cost").question)
            forged = signature
            if signature == "signed with another token":
                forged = twilio_signature(f"{url}/webhook", form, WRONG_SECRET)
            elif signature == "signed over another text":
                forged = twilio_signature(f"{url}/webhook", {**form, "Body": "hello"})
            return await post_to_twilio(url, form, forged)

    reply = asyncio.run(scenario())
    assert reply.status == 403
    assert "X-Twilio-Signature" in reply.json()["error"]
    assert bot.received == [] and fake_api.calls == []


def test_behind_a_proxy_twilio_is_checked_against_the_public_url(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    public = "https://clinic.example/webhooks/twilio/webhook"

    async def scenario() -> tuple[Reply, Reply]:
        async with serving(twilio_channel(fake_api, TWILIO_WEBHOOK_URL=public), bot) as url:
            form = twilio_form(knowledge.topic("cost").question)
            signed_for_local_url = await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))
            signed_for_public_url = await post_to_twilio(url, form, twilio_signature(public, form))
            return signed_for_local_url, signed_for_public_url

    local, public_reply = asyncio.run(scenario())
    assert local.status == 403 and public in local.json()["error"]
    assert public_reply.status == 204
    assert len(bot.received) == 1 and len(fake_api.calls) == 1


def test_twilio_refusing_a_message_is_logged_not_a_failed_webhook(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form(knowledge.topic("cost").question, sender=INVALID_PHONE)
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    assert asyncio.run(scenario()).status == 204
    assert len(bot.received) == 1 and len(fake_api.calls) == 1
    assert "Twilio did not send a message (error 21211)" in caplog.text


def test_topics_offered_on_sms_arrive_in_one_message_without_payloads(
    fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            form = twilio_form("what's the capital of France?")
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    assert asyncio.run(scenario()).status == 204
    [sms] = fake_api.sent_texts()
    assert sms.startswith(knowledge.replies.out_of_scope)
    for topic_id in knowledge.replies.suggested_topics:
        assert knowledge.topic(topic_id).title in sms
    assert "/faq_" not in sms


@pytest.mark.parametrize(
    ("app", "text", "extra"),
    [
        ("whatsapp", "", WHATSAPP_PHOTO),
        ("whatsapp", "", WHATSAPP_LOCATION),
        ("whatsapp", "", {"NumMedia": "1", "MediaContentType0": "audio/ogg", "MessageType": "audio"}),
        ("sms", "", {"NumMedia": "1", "MediaContentType0": "image/png"}),
        ("sms", " \n\u200b ", {}),
    ],
)
def test_a_twilio_message_without_words_gets_the_calm_reply_and_the_bot_reads_nothing(
    app: str, text: str, extra: dict[str, str], fake_api: FakeApi, bot: StandInBot, knowledge: KnowledgeBase
) -> None:
    """Rasa's handler fails on an empty Body (a 500, and the patient hears nothing)."""
    patient, clinic = PATIENT_PHONE, TWILIO_ENV["TWILIO_NUMBER"]
    if app == "whatsapp":
        patient, clinic = "whatsapp:" + PATIENT_PHONE, "whatsapp:" + TWILIO_ENV["TWILIO_WHATSAPP_NUMBER"]
    form = {**twilio_form(text, sender=patient, to=clinic), **extra}

    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            return await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))

    reply = asyncio.run(scenario())
    assert reply.status == 204, reply.text
    [message] = [call.fields for call in fake_api.calls]
    assert (message["To"], message["From"]) == (patient, clinic)
    assert message["Body"] == knowledge.replies.empty_message
    assert bot.received == []


def test_an_unsigned_message_without_words_is_refused_before_any_reply(
    fake_api: FakeApi, bot: StandInBot
) -> None:
    async def scenario() -> Reply:
        async with serving(twilio_channel(fake_api), bot) as url:
            return await post_to_twilio(url, {**twilio_form(""), **WHATSAPP_PHOTO}, None)

    assert asyncio.run(scenario()).status == 403
    assert bot.received == [] and fake_api.calls == []
