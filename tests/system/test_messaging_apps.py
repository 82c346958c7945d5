"""The messaging apps end to end: the real Rasa server and action server with the trained
model, the connectors pointed at a local fake of the apps' APIs (tests/channels/messaging_fakes.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import requests
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.aftercare import default_aftercare
from bot.clinic import default_clinic
from bot.knowledge import KnowledgeBase
from channels.rest import conversation_id
from rasa_server.stores import ConversationStore
from tests.channels.messaging_fakes import (
    FACEBOOK_ENV,
    FAKE_API_URL,
    PHOTO,
    TELEGRAM_ENV,
    TWILIO_ENV,
    WHATSAPP_PHOTO,
    WRONG_SECRET,
    FakeApi,
    Reply,
    fake_api_server,
    hub_signatures,
    messenger_attachment,
    messenger_event,
    page_events,
    post_to_messenger,
    post_to_telegram,
    post_to_twilio,
    telegram_button_press,
    telegram_message_update,
    telegram_update,
    twilio_form,
    twilio_signature,
)
from tooling.servers import DEFAULT_MODEL, BotAddress, action_server, free_port, rasa_server

E2E_CREDENTIALS = """\
channels.rest.CheckedRestInput:
tests.channels.messaging_fakes.TwilioToFake:
tests.channels.messaging_fakes.TelegramToFake:
tests.channels.messaging_fakes.FacebookToFake:
"""


@dataclass(frozen=True)
class RunningBot:
    url: str
    fake_api: FakeApi


@pytest.fixture(scope="module")
def running_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """``rasa run`` as ``make run`` starts it (rasa_server, worker processes, the action
    server), with credentials naming this module's connectors and the apps' settings set."""
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    work = tmp_path_factory.mktemp("webhooks-e2e")
    credentials = work / "credentials.yml"
    credentials.write_text(E2E_CREDENTIALS, encoding="utf-8")
    address = BotAddress(rasa_port=free_port(), action_port=free_port())
    with fake_api_server() as fake, action_server(address, work):
        apps = {**TWILIO_ENV, **TELEGRAM_ENV, **FACEBOOK_ENV, FAKE_API_URL: fake.url}
        with rasa_server(address, DEFAULT_MODEL, work, credentials=credentials, env=apps):
            yield RunningBot(f"{address.rasa_url}/webhooks", fake)


def stored_conversation(sender: str) -> DialogueStateTracker | None:
    """The conversation the servers stored for ``sender`` (rasa_server/stores.py, BOT_DATA_DIR)."""
    tracker: DialogueStateTracker | None = asyncio.run(ConversationStore(Domain.empty()).retrieve(sender))
    return tracker


def new_phone() -> str:
    return "+4477009" + str(uuid.uuid4().int)[:5]


@pytest.mark.e2e
def test_e2e_an_sms_question_gets_one_sms_with_the_answer_and_caveat(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    url = f"{running_bot.url}/twilio"
    form = twilio_form("can I wash my hair after the treatment?", new_phone())
    reply = asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form)))
    assert reply.status == 204, reply.text
    [sms] = [call.fields for call in running_bot.fake_api.calls]
    assert sms["To"] == form["From"]
    assert sms["Body"].startswith(knowledge.topic("washing_hair").answer)
    assert sms["Body"].endswith(knowledge.caveat)


@pytest.mark.e2e
def test_e2e_an_sms_patient_picks_an_offered_topic_by_writing_its_title(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    url, phone = f"{running_bot.url}/twilio", new_phone()

    def text_the_bot(text: str) -> str:
        running_bot.fake_api.calls.clear()
        form = twilio_form(text, phone)
        assert asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))).status == 204
        [sms] = running_bot.fake_api.sent_texts()
        return sms

    offer = text_the_bot("what's the capital of France?")
    first = knowledge.topic(knowledge.replies.suggested_topics[0])
    assert offer.startswith(knowledge.replies.out_of_scope) and f"- {first.title}" in offer
    answer = text_the_bot(first.title)
    assert answer.startswith(first.answer) and answer.endswith(knowledge.caveat)


@pytest.mark.e2e
def test_e2e_a_red_flag_on_whatsapp_gets_only_the_urgent_reply(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    patient = "whatsapp:" + new_phone()
    url = f"{running_bot.url}/twilio"
    clinic = "whatsapp:" + TWILIO_ENV["TWILIO_WHATSAPP_NUMBER"]
    form = twilio_form("my lips are swelling up and I can't breathe properly", patient, clinic)
    reply = asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form)))
    assert reply.status == 204, reply.text
    [message] = [call.fields for call in running_bot.fake_api.calls]
    assert message["To"] == patient and message["From"] == clinic
    assert message["Body"].startswith(knowledge.replies.emergency.split(".")[0])
    assert knowledge.caveat not in message["Body"]


@pytest.mark.e2e
def test_e2e_messages_without_words_get_the_calm_reply_on_every_app(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    phone, chat_id = "whatsapp:" + new_phone(), int(str(uuid.uuid4().int)[:9])
    twilio_url = f"{running_bot.url}/twilio"
    form = {**twilio_form("", phone, "whatsapp:" + TWILIO_ENV["TWILIO_NUMBER"]), **WHATSAPP_PHOTO}
    body = page_events(messenger_attachment("image", sender=str(uuid.uuid4().int)[:16]))

    async def scenario() -> list[Reply]:
        return [
            await post_to_twilio(twilio_url, form, twilio_signature(f"{twilio_url}/webhook", form)),
            await post_to_telegram(
                f"{running_bot.url}/telegram",
                telegram_message_update(chat_id, photo=PHOTO),
                TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
            ),
            await post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body)),
        ]

    assert [reply.status for reply in asyncio.run(scenario())] == [204, 200, 200]
    assert running_bot.fake_api.sent_texts() == [knowledge.replies.empty_message] * 3
    assert stored_conversation(phone) is None  # the bot did not read it


@pytest.mark.e2e
def test_e2e_telegram_and_messenger_patients_get_the_answer_with_the_caveat(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    cost = knowledge.topic("cost")
    chat_id = int(str(uuid.uuid4().int)[:9])
    body = page_events(messenger_event(cost.question, sender=str(chat_id)))

    async def scenario() -> list[Reply]:
        return [
            await post_to_telegram(
                f"{running_bot.url}/telegram",
                telegram_update(cost.question, chat_id),
                TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
            ),
            await post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body)),
        ]

    assert [reply.status for reply in asyncio.run(scenario())] == [200, 200]
    texts = running_bot.fake_api.sent_texts()
    assert len(texts) == 2
    assert all(text.startswith(cost.answer) and text.endswith(knowledge.caveat) for text in texts)


@pytest.mark.e2e
def test_e2e_telegram_and_messenger_answers_offer_feedback_and_a_press_is_answered(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    replies = knowledge.replies
    chat_id = int(str(uuid.uuid4().int)[:9])
    telegram_url = f"{running_bot.url}/telegram"
    secret = TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"]
    asked = asyncio.run(post_to_telegram(telegram_url, telegram_update("does it hurt?", chat_id), secret))
    assert asked.status == 200
    [sent] = [c.fields for c in running_bot.fake_api.calls if c.path.endswith("/sendMessage")]
    keyboard = json.loads(sent["reply_markup"])["inline_keyboard"]
    buttons = {b["text"]: b["callback_data"] for row in keyboard for b in row}
    assert list(buttons) == [replies.feedback_helpful, replies.feedback_not_helpful]
    assert all(len(data.encode()) <= 64 for data in buttons.values())  # Telegram's limit
    assert sent["text"].endswith(knowledge.caveat)
    running_bot.fake_api.calls.clear()
    press = telegram_button_press(buttons[replies.feedback_helpful], chat_id)
    assert asyncio.run(post_to_telegram(telegram_url, press, secret)).status == 200
    assert running_bot.fake_api.sent_texts() == [replies.feedback_thanks]

    running_bot.fake_api.calls.clear()
    sender = str(chat_id)
    body = page_events(messenger_event("how much does it cost?", sender=sender))
    assert (
        asyncio.run(post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body))).status
        == 200
    )
    [message] = [c.fields["message"] for c in running_bot.fake_api.calls if "message" in c.fields]
    quick = {q["title"]: q["payload"] for q in message["quick_replies"]}
    assert list(quick) == [replies.feedback_helpful, replies.feedback_not_helpful]
    assert message["text"].endswith(knowledge.caveat)
    running_bot.fake_api.calls.clear()
    event = messenger_event(replies.feedback_not_helpful, sender=sender)
    event["message"]["quick_reply"] = {"payload": quick[replies.feedback_not_helpful]}
    body = page_events(event)
    assert (
        asyncio.run(post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body))).status
        == 200
    )
    [sorry] = running_bot.fake_api.sent_texts()
    assert sorry.startswith(replies.feedback_sorry.split("{")[0].strip())


@pytest.mark.e2e
def test_e2e_an_sms_answer_offers_no_feedback(running_bot: RunningBot, knowledge: KnowledgeBase) -> None:
    running_bot.fake_api.calls.clear()
    url = f"{running_bot.url}/twilio"
    form = twilio_form("does it hurt?", new_phone())
    assert asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))).status == 204
    [sms] = [call.fields["Body"] for call in running_bot.fake_api.calls]
    assert sms.endswith(knowledge.caveat) and replies_absent(sms, knowledge)


def replies_absent(text: str, knowledge: KnowledgeBase) -> bool:
    return knowledge.replies.feedback_helpful not in text and "feedback" not in text


def ask_on_every_app(running_bot: RunningBot, text: str) -> list[int]:
    """The same message by SMS, Telegram and Messenger, each from a new patient: the webhooks'
    statuses, in that order."""
    url = f"{running_bot.url}/twilio"
    form = twilio_form(text, new_phone())
    chat_id = int(str(uuid.uuid4().int)[:9])
    body = page_events(messenger_event(text, sender=str(chat_id)))

    async def scenario() -> list[Reply]:
        return [
            await post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form)),
            await post_to_telegram(
                f"{running_bot.url}/telegram",
                telegram_update(text, chat_id),
                TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
            ),
            await post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body)),
        ]

    return [reply.status for reply in asyncio.run(scenario())]


@pytest.mark.e2e
def test_e2e_a_spanish_question_gets_one_spanish_message_with_its_caveat_on_every_app(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    spanish = knowledge.in_language("es")
    running_bot.fake_api.calls.clear()
    assert ask_on_every_app(running_bot, "¿cuánto tiempo duran los resultados de la mesoterapia?") == [
        204,
        200,
        200,
    ]
    texts = running_bot.fake_api.sent_texts()
    assert len(texts) == 3  # one message per app
    assert all(t.startswith(spanish.topic("permanence").answer) and t.endswith(spanish.caveat) for t in texts)


@pytest.mark.e2e
def test_e2e_a_spanish_red_flag_gets_the_urgent_reply_on_every_app(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    urgent = knowledge.in_language("es").replies.emergency.format(**default_clinic().details_in("es"))
    message = "me hice la meso ayer y ahora me cuesta respirar y se me hinchan los labios"
    running_bot.fake_api.calls.clear()
    assert ask_on_every_app(running_bot, message) == [204, 200, 200]
    assert running_bot.fake_api.sent_texts() == [urgent, urgent, urgent]


@pytest.mark.e2e
def test_e2e_a_telegram_patient_opening_the_chat_is_welcomed(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    running_bot.fake_api.calls.clear()
    chat_id = int(str(uuid.uuid4().int)[:9])

    async def scenario() -> Reply:
        update = telegram_update("/start", chat_id)
        return await post_to_telegram(
            f"{running_bot.url}/telegram", update, TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"]
        )

    assert asyncio.run(scenario()).status == 200
    assert running_bot.fake_api.sent_texts() == [knowledge.replies.greet]


@pytest.mark.e2e
def test_e2e_forged_requests_never_reach_the_bot(running_bot: RunningBot, knowledge: KnowledgeBase) -> None:
    running_bot.fake_api.calls.clear()
    phone, chat_id, psid = new_phone(), int(str(uuid.uuid4().int)[:9]), str(uuid.uuid4().int)[:16]
    question = knowledge.topic("cost").question
    twilio_url = f"{running_bot.url}/twilio"
    form = twilio_form(question, phone)
    forged = twilio_signature(f"{twilio_url}/webhook", form, WRONG_SECRET)
    body = page_events(messenger_event(question, sender=psid))

    async def scenario() -> list[Reply]:
        return [
            await post_to_twilio(twilio_url, form, forged),
            await post_to_telegram(f"{running_bot.url}/telegram", telegram_update(question, chat_id), None),
            await post_to_messenger(f"{running_bot.url}/facebook", body, hub_signatures(body, WRONG_SECRET)),
        ]

    assert [reply.status for reply in asyncio.run(scenario())] == [403, 403, 403]
    assert running_bot.fake_api.calls == []
    assert [stored_conversation(sender) for sender in (phone, str(chat_id), psid)] == [None, None, None]
    # where a genuine message leaves its conversation:
    genuine = twilio_form(question, new_phone())
    signature = twilio_signature(f"{twilio_url}/webhook", genuine)
    assert asyncio.run(post_to_twilio(twilio_url, genuine, signature)).status == 204
    assert stored_conversation(genuine["From"]) is not None


@pytest.mark.e2e
def test_e2e_a_numeric_rest_sender_never_reaches_the_telegram_chat_or_a_widget_session_of_that_id(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    """REST accepts any sender (a clinic's numeric patient ids), and keeps it in a namespace
    of its own: a REST sender equal to a Telegram chat id, or shaped as a widget session,
    neither reads nor writes that conversation."""
    cost, pain = knowledge.topic("cost"), knowledge.topic("pain")
    chat_id = int(str(uuid.uuid4().int)[:9])
    running_bot.fake_api.calls.clear()
    telegram = asyncio.run(
        post_to_telegram(
            f"{running_bot.url}/telegram",
            telegram_update(cost.question, chat_id),
            TELEGRAM_ENV["TELEGRAM_SECRET_TOKEN"],
        )
    )
    assert telegram.status == 200
    before = stored_conversation(str(chat_id))
    assert before is not None and [e.text for e in before.events if isinstance(e, UserUttered)] == [
        cost.question
    ]

    rest_url = running_bot.url + "/rest/webhook"
    session_shaped = uuid.uuid4().hex
    for sender in (str(chat_id), session_shaped):
        reply = requests.post(rest_url, json={"sender": sender, "message": pain.question}, timeout=60)
        assert reply.status_code == 200, reply.text
        messages = reply.json()
        assert messages[0]["recipient_id"] == sender and messages[0]["text"].startswith(pain.answer)
        # the reply is the REST conversation's own, not the Telegram chat's history
        assert all(cost.answer not in message.get("text", "") for message in messages)

    after = stored_conversation(str(chat_id))
    assert after is not None and [e.text for e in after.events if isinstance(e, UserUttered)] == [
        cost.question
    ]
    assert stored_conversation(session_shaped) is None  # no conversation under a widget session's id
    for sender in (str(chat_id), session_shaped):
        rest = stored_conversation(conversation_id(sender))
        assert rest is not None and [e.text for e in rest.events if isinstance(e, UserUttered)] == [
            pain.question
        ]
    assert len(running_bot.fake_api.sent_texts()) == 1  # only the Telegram answer went to Telegram


@pytest.mark.e2e
def test_e2e_several_questions_by_sms_arrive_in_one_sms_with_one_caveat(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    url, phone = f"{running_bot.url}/twilio", new_phone()
    running_bot.fake_api.calls.clear()
    form = twilio_form("does it hurt, how much does it cost, and what are the side effects?", phone)
    assert asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))).status == 204
    [sms] = running_bot.fake_api.sent_texts()
    assert len(sms) <= 1600 and sms.endswith(knowledge.caveat) and sms.count(knowledge.caveat) == 1
    assert sms.startswith(knowledge.topic("pain").title)
    asked = ("pain", "cost", "side_effects")
    answered = [t for t in asked if knowledge.topic(t).answer in sms]
    named = [t for t in asked if t not in answered and knowledge.topic(t).title in sms]
    assert answered[:1] == ["pain"] and len(answered) + len(named) == 3  # what did not fit is named


@pytest.mark.e2e
def test_e2e_an_sms_aftercare_answer_is_in_the_clinics_time_zone(running_bot: RunningBot) -> None:
    """SMS sends no time zone: the end of the waiting time is given in the clinic's."""
    rules, zone = default_aftercare(), default_clinic().zone
    url, phone = f"{running_bot.url}/twilio", new_phone()
    running_bot.fake_api.calls.clear()
    form = twilio_form("I had it 3 hours ago, can I wash my hair now?", phone)
    before = datetime.now(zone)
    assert asyncio.run(post_to_twilio(url, form, twilio_signature(f"{url}/webhook", form))).status == 204
    after = datetime.now(zone)
    [sms] = running_bot.fake_api.sent_texts()
    expected = {
        rules.says["not_passed"].format(
            hours="24", activity="washing your hair", ends=rules.format_time(now + timedelta(hours=21), now)
        )
        for now in (before, after)
    }
    assert any(sms.startswith(sentence) for sentence in expected), (sms[:200], expected)
