"""No channel can deliver an answer without its caveat.

The action's output goes through Rasa's own code path: the remote action's response
rendering (``RemoteAction._utter_responses`` with the real domain's templates) and then
each real output channel's ``send_response``, with only the network call replaced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel
from rasa.core.channels.facebook import MessengerBot
from rasa.core.channels.socketio import SocketIOOutput
from rasa.core.channels.telegram import TelegramOutput
from rasa.core.channels.twilio import TwilioOutput
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFaq
from actions.safety import ActionEscalateEmergency
from actions.small_talk import ActionSmallTalk
from bot.answers import compose_answers, reply_custom
from bot.knowledge import KnowledgeBase
from bot.settings import PROJECT_DIR, load_settings
from channels.socketio import WidgetSocketIOOutput

Delivered = list[dict[str, Any]]


class _FakeMessenger:
    def __init__(self, sent: Delivered) -> None:
        self.sent = sent

    def send(self, payload: dict[str, Any], recipient_id: str, messaging_type: str) -> None:
        self.sent.append({"text": payload.get("text"), "payload": payload})


class _FakeSocketServer:
    def __init__(self, sent: Delivered) -> None:
        self.sent = sent

    async def emit(self, event: str, data: Any = None, room: str | None = None, **kwargs: Any) -> None:
        self.sent.append({"text": (data or {}).get("text"), "event": event, "data": data, "room": room})


def _twilio(sent: Delivered) -> OutputChannel:
    channel = TwilioOutput("AC" + "0" * 32, "not-a-secret", "+15550000000")

    async def capture(message_data: dict[str, Any]) -> None:
        sent.append({"text": message_data.get("body"), "data": dict(message_data)})

    channel._send_message = capture
    return channel


def _telegram(sent: Delivered) -> OutputChannel:
    channel = TelegramOutput("123456:ABCdefGhIJKlmnoPQRstuVWXyz012345678")

    async def capture(chat_id: str, text: str, **kwargs: Any) -> None:
        sent.append({"text": text})

    channel.send_message = capture
    return channel


CHANNELS: dict[str, Callable[[Delivered], OutputChannel]] = {
    "twilio": _twilio,
    "telegram": _telegram,
    "facebook": lambda sent: MessengerBot(_FakeMessenger(sent)),
    "socketio": lambda sent: SocketIOOutput(_FakeSocketServer(sent), "bot_uttered"),
}


async def _deliver(
    channel_name: str,
    channel: OutputChannel,
    tracker: Tracker,
    domain: dict[str, Any],
    action: Action | None = None,
) -> list[BotUttered]:
    dispatcher = CollectingDispatcher()
    await (action or ActionAnswerFaq()).run(dispatcher, tracker, domain)
    rasa_domain = Domain.load(str(PROJECT_DIR / "domain.yml"))
    nlg = TemplatedNaturalLanguageGenerator(rasa_domain.responses)
    rasa_tracker = DialogueStateTracker(tracker.sender_id, rasa_domain.slots)
    events: list[BotUttered] = await RemoteAction._utter_responses(
        dispatcher.messages, channel, nlg, rasa_tracker
    )
    for event in events:
        await channel.send_response(tracker.sender_id, event.message())
    return events


@pytest.mark.parametrize("channel_name", sorted(CHANNELS))
def test_each_answer_arrives_as_one_message_with_its_caveat(
    channel_name: str, knowledge: KnowledgeBase, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    for topic in knowledge.topics.values():
        sent: Delivered = []
        channel = CHANNELS[channel_name](sent)
        asyncio.run(_deliver(channel_name, channel, make_tracker(topic.intent, channel=channel_name), domain))
        texts = [message["text"] for message in sent if message.get("text")]
        assert len(texts) == 1, (channel_name, topic.id, texts)
        assert texts[0].startswith(topic.answer), (channel_name, topic.id)
        assert texts[0].endswith(knowledge.caveat), (channel_name, topic.id)


# Three long answers: together they overflow an SMS (1,600 characters), not Telegram.
SEVERAL = ("side_effects", "contraindications", "effectiveness_hair")


@pytest.mark.parametrize("channel_name", sorted(CHANNELS))
def test_several_answers_arrive_as_one_message_with_the_caveat_once_at_the_end(
    channel_name: str, knowledge: KnowledgeBase, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    topics = [knowledge.topic(t) for t in SEVERAL]
    assert sum(len(t.full_answer) for t in topics) > 1600  # the test needs answers that overflow SMS
    sent: Delivered = []
    reading = {"topics": list(SEVERAL), "candidates": []}
    tracker = make_tracker(topics[0].intent, "three questions", channel=channel_name, reading=reading)
    asyncio.run(_deliver(channel_name, CHANNELS[channel_name](sent), tracker, domain))
    texts = [message["text"] for message in sent if message.get("text")]
    assert len(texts) == 1, texts
    assert texts[0].endswith(knowledge.caveat) and texts[0].count(knowledge.caveat) == 1
    assert texts[0].startswith(topics[0].title)
    limit = load_settings().reply_limits.get(channel_name)
    answered = [t for t in topics if t.full_answer in texts[0]]
    if limit is None or len(compose_answers(knowledge, topics).text) <= limit:
        assert answered == topics, channel_name
    else:
        assert len(texts[0]) <= limit and answered and answered == topics[: len(answered)]
        left = [t.title for t in topics[len(answered) :]]
        assert all(title in texts[0] for title in left), (channel_name, left)


@pytest.mark.parametrize("channel_name", sorted(CHANNELS))
def test_the_urgent_reply_arrives_whole_on_every_channel(
    channel_name: str, knowledge: KnowledgeBase, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    sent: Delivered = []
    tracker = make_tracker("emergency", "i cant breathe", channel=channel_name)
    asyncio.run(
        _deliver(channel_name, CHANNELS[channel_name](sent), tracker, domain, ActionEscalateEmergency())
    )
    texts = [message["text"] for message in sent if message.get("text")]
    assert len(texts) == 1, texts
    first_sentence = knowledge.replies.emergency.split(".")[0]
    assert texts[0].startswith(first_sentence)


def test_sms_sends_nothing_but_the_answer(
    knowledge: KnowledgeBase, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    """Every SMS costs money: one message per answer, no empty or JSON-only message."""
    sent: Delivered = []
    asyncio.run(_deliver("twilio", _twilio(sent), make_tracker("faq_cost", channel="twilio"), domain))
    assert [m["data"]["body"] for m in sent] == [sent[0]["text"]]
    assert knowledge.caveat in sent[0]["text"]


def test_rest_clients_get_text_with_caveat_and_the_metadata(
    knowledge: KnowledgeBase, make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    rest = CollectingOutputChannel()
    asyncio.run(_deliver("rest", rest, make_tracker("faq_exercise", channel="rest"), domain))
    texts = [m["text"] for m in rest.messages if "text" in m]
    customs = [m["custom"] for m in rest.messages if "custom" in m]
    assert len(texts) == 1 and texts[0].endswith(knowledge.caveat)
    assert customs == [
        {
            "data": {
                "topic": "exercise",
                "route": "intent",
                "sources": list(knowledge.topic("exercise").sources),
                "topics": ["exercise"],
                # No time given: the sources' 48 hours, not yet placed in time.
                "aftercare": [
                    {
                        "activity": "exercise",
                        "wait_hours": 48,
                        "treated_at": None,
                        "ends_at": None,
                        "passed": None,
                    }
                ],
            }
        }
    ]


def test_socketio_receives_metadata_as_data(
    make_tracker: Callable[..., Tracker], domain: dict[str, Any]
) -> None:
    sent: Delivered = []
    asyncio.run(
        _deliver(
            "socketio",
            SocketIOOutput(_FakeSocketServer(sent), "bot_uttered"),
            make_tracker("faq_pain", channel="socketio"),
            domain,
        )
    )
    custom = [m for m in sent if not m.get("text")]
    assert len(custom) == 1 and custom[0]["data"]["topic"] == "pain"


@pytest.mark.parametrize(("language", "action"), [("es", ActionAnswerFaq()), ("en", ActionSmallTalk())])
def test_the_widgets_channel_says_each_replys_language_in_its_metadata(
    language: str,
    action: Action,
    knowledge: KnowledgeBase,
    make_tracker: Callable[..., Tracker],
    domain: dict[str, Any],
) -> None:
    """The reply's language, which the action keeps in the bot event's facts (no channel
    sends those), reaches the widget in the metadata event: its words follow it."""
    tracker = make_tracker("faq_cost" if language == "es" else "greet", channel="socketio")
    tracker.latest_message["language"] = {"language": language, "detected": language, "sure": True}
    sent: Delivered = []
    output = WidgetSocketIOOutput(_FakeSocketServer(sent), "bot_uttered")
    asyncio.run(_deliver("socketio", output, tracker, domain, action))
    [text] = [m["text"] for m in sent if m.get("text")]
    [metadata] = [m["data"] for m in sent if not m.get("text")]
    assert metadata["language"] == language
    if language == "es":
        assert text.endswith(knowledge.in_language("es").caveat) and metadata["topic"] == "cost"
    else:
        assert text == knowledge.replies.greet and metadata["topic"] == "small_talk"


def test_a_reply_whose_facts_name_no_language_is_sent_as_it_is() -> None:
    """The channel's own replies (a message too long, bot/messages.py) carry no facts."""
    sent: Delivered = []
    custom = reply_custom("message_too_long", "input")
    output = WidgetSocketIOOutput(_FakeSocketServer(sent), "bot_uttered")
    asyncio.run(output.send_response("patient", {"text": "Too long.", "custom": custom}))
    asyncio.run(output.send_custom_json("patient", reply_custom(None, "fallback"), reply={"language": "<b>"}))
    assert [m["data"] for m in sent] == [
        {"text": "Too long."},
        {"topic": "message_too_long", "route": "input", "sources": []},
        {"topic": None, "route": "fallback", "sources": []},
    ]
