"""A patient's message before the bot reads it (bot/messages.py): normalised, judged, and the
reply instead of an answer when the bot does not read it.
"""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.knowledge import KnowledgeBaseError, default_knowledge_base, load_knowledge_base
from bot.messages import (
    ROUTE_INPUT,
    TOPIC_EMPTY_MESSAGE,
    TOPIC_MESSAGE_TOO_LONG,
    MessageJudge,
    Verdict,
    judge_message,
    normalise_message,
    refusal_reply,
)
from bot.settings import PROJECT_DIR, Settings, load_settings

LIMIT = load_settings().max_message_chars


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("how much does it cost?", "how much does it cost?"),
        ("  how much\n\n does\tit cost?  ", "how much does it cost?"),
        ("how\x00 much\x07 does it\x1b[31m cost?\x7f\x9b", "how much does it[31m cost?"),
        ("line one\r\nline two\x85line three", "line one line two line three"),
        ("broken \ud800surrogate", "broken surrogate"),
        ("cafe\u0301 au lait", "caf\u00e9 au lait"),  # NFC: e + combining acute is one character
        ("Est-ce douloureux ? 痛いですか 😬 مؤلم؟", "Est-ce douloureux ? 痛いですか 😬 مؤلم؟"),
        ("<script>alert('x')</script> <b>cost</b>", "<script>alert('x')</script> <b>cost</b>"),
        ("'; DROP TABLE events; --", "'; DROP TABLE events; --"),
        ("/faq_cost", "/faq_cost"),
    ],
)
def test_messages_lose_control_characters_and_extra_whitespace_and_nothing_else(
    text: str, normalised: str
) -> None:
    assert normalise_message(text) == normalised


@pytest.mark.parametrize(
    "text", ["", " ", "\n\t\r ", "\x00\x01\x7f", "\u200b\u200d\ufeff", "\u3000\u00a0", "\ud800"]
)
def test_a_message_with_nothing_to_read_is_empty(text: str) -> None:
    assert judge_message(text, LIMIT).verdict is Verdict.EMPTY


@pytest.mark.parametrize("text", [".", "?", "😬", "5", "痛"])
def test_one_visible_character_is_read(text: str) -> None:
    assert judge_message(text, LIMIT).text == judge_message(text, 1).text == text
    assert judge_message(text, 1).verdict is Verdict.READ


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("/restart", "restart"),
        (" /back ", "back"),
        ("/session_start", "session_start"),
        ('/restart{"a": 1}', 'restart{"a": 1}'),
        ("/restart@0.9", "restart@0.9"),
        ("/faq_cost", "/faq_cost"),  # a button's payload is kept
        ("/none_of_these", "/none_of_these"),
        ("/restarted", "/restarted"),
    ],
)
def test_rasas_conversation_commands_are_read_as_words(text: str, read: str) -> None:
    judged = judge_message(text, LIMIT)
    assert judged.text == read and judged.verdict is Verdict.READ


def test_the_limit_counts_characters_after_normalising() -> None:
    assert judge_message("a" * 10, 10).verdict is Verdict.READ
    assert judge_message("a" * 11, 10).verdict is Verdict.TOO_LONG
    assert judge_message("😬" * 10, 10).verdict is Verdict.READ  # characters, not bytes
    assert judge_message("a" * 10 + " " * 1000 + "\x00" * 1000, 10).verdict is Verdict.READ
    assert judge_message("a " * 20_000, LIMIT).verdict is Verdict.TOO_LONG


ANY_CHARACTER = st.characters(exclude_categories=())  # controls and lone surrogates too


@given(st.text(ANY_CHARACTER, max_size=300), st.integers(min_value=1, max_value=400))
def test_judging_any_text(text: str, limit: int) -> None:
    judged = judge_message(text, limit)
    assert normalise_message(judged.text) == judged.text  # idempotent
    assert not any(unicodedata.category(char) in ("Cc", "Cs") for char in judged.text)
    assert judged.text == judged.text.strip() and "  " not in judged.text
    judged.text.encode("utf-8")  # storable and sendable: no unpaired surrogate left
    readable = any(unicodedata.category(char)[0] in "LMNPS" for char in judged.text)
    expected = (
        Verdict.EMPTY if not readable else Verdict.TOO_LONG if len(judged.text) > limit else Verdict.READ
    )
    assert judged.verdict is expected


def test_an_over_long_message_is_told_the_limit() -> None:
    replies = default_knowledge_base().replies
    judged = judge_message("a" * 20_000, 1000)
    reply = refusal_reply(judged, replies)
    assert reply is not None and reply.topic == TOPIC_MESSAGE_TOO_LONG and reply.route == ROUTE_INPUT
    assert "1,000" in reply.text and "20,000" in reply.text and "{" not in reply.text
    assert reply.custom == {
        "data": {"topic": TOPIC_MESSAGE_TOO_LONG, "route": ROUTE_INPUT, "sources": [], "max_chars": 1000}
    }


def test_an_empty_message_is_asked_for_the_question() -> None:
    replies = default_knowledge_base().replies
    reply = refusal_reply(judge_message(" \n ", 1000), replies)
    assert reply is not None and reply.text == replies.empty_message and reply.topic == TOPIC_EMPTY_MESSAGE
    assert refusal_reply(judge_message("does it hurt?", 1000), replies) is None


def test_a_refusal_is_in_the_patients_language_or_the_clients_hint() -> None:
    knowledge = default_knowledge_base()
    english, spanish = knowledge.replies, knowledge.in_language("es").replies
    assert english.empty_message != spanish.empty_message
    judge = MessageJudge(knowledge, 60)
    long_spanish = "hola, quería saber cuánto cuesta la mesoterapia capilar y si duele mucho, gracias"
    _, refusal = judge(long_spanish, "rest")
    assert refusal is not None and refusal.text.startswith(spanish.message_too_long.split("{")[0])
    _, refusal = judge("hello, I would like to know how much scalp mesotherapy costs and if it hurts", "rest")
    assert refusal is not None and refusal.text.startswith(english.message_too_long.split("{")[0])
    # An empty message has no words: the client's hint (the widget's browser language) decides.
    assert [judge(" ", "socketio", hint)[1].text for hint in ("es-MX", None, "fr")] == [  # type: ignore[union-attr]
        spanish.empty_message,
        english.empty_message,
        english.empty_message,
    ]
    assert judge("does it hurt?", "rest", "es") == (judge_message("does it hurt?", 60), None)


def test_the_too_long_reply_must_say_the_limit(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq"
    shutil.copytree(PROJECT_DIR / "data" / "faq", faq_dir)
    replies = faq_dir / "replies.yml"
    text = replies.read_text(encoding="utf-8")
    assert "{max_chars}" in text
    replies.write_text(text.replace("{max_chars}", "{limit}"), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(faq_dir, PROJECT_DIR / "data" / "nlu")
    assert any("message_too_long" in p and "{max_chars}" in p for p in error.value.problems)
    assert any("unknown placeholders ['limit']" in p for p in error.value.problems)


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_MESSAGE_CHARS", raising=False)
    assert Settings().max_message_chars == 1000
    monkeypatch.setenv("MAX_MESSAGE_CHARS", "280")
    assert Settings().max_message_chars == 280
    for wrong in ("0", "-5", "lots"):
        monkeypatch.setenv("MAX_MESSAGE_CHARS", wrong)
        with pytest.raises(ValueError, match="MAX_MESSAGE_CHARS"):
            Settings()
