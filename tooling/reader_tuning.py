"""Choosing the topic reader's settings on the dev sets, in this process (``make tune-reader``).

The reader is trained as ``make train`` trains it (``bot/reading.py``) and judged as the
bot answers: the red-flag screen first, a classifier's own ``emergency`` below the screen's
confidence read as unsure, an unsure message handed to retrieval's answer / did-you-mean /
no-match (``bot/retrieval.py``), a conversation's previous topic the last one answered.
Only the dev sets are read, English or Spanish; the held-out sets are for ``make eval``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bot.answers import TOPIC_EMERGENCY, TOPIC_HANDOFF, TOPIC_OUT_OF_SCOPE
from bot.classifier import ClassifierConfig
from bot.embedding import load_encoder
from bot.knowledge import KnowledgeBase
from bot.reading import FALLBACK_INTENT, Reader, ReadingThresholds, train_reader
from bot.retrieval import Thresholds, decide
from bot.safety import EMERGENCY_INTENT, SafetyRules
from components.topic_reader import classifier_config, first_look_config, language_configs, reading_thresholds
from tooling.evaluation import (
    EMERGENCY,
    EVAL_SETS,
    OUT_OF_SCOPE,
    Conversation,
    Question,
    SeveralQuestions,
    answers_every_question,
    load_conversations,
    load_questions,
    load_several_questions,
    turn_is_right,
)

# The dev sets of each language (`make eval SET=dev` and `SET=dev_es` score the same files).
DEV_SETS = {"en": EVAL_SETS["dev"], "es": EVAL_SETS["dev_es"]}
NON_TOPIC_REPLIES = {"out_of_scope": TOPIC_OUT_OF_SCOPE, "handoff": TOPIC_HANDOFF}


@dataclass(frozen=True)
class Reply:
    """What the bot would answer: the topics, and the route, as the REST metadata says."""

    topics: tuple[str, ...]
    route: str


def answer(
    reader: Reader,
    rules: SafetyRules,
    retrieval: Thresholds,
    text: str,
    previous: str | None,
    language: str | None = None,
) -> Reply:
    """The reply to ``text`` after ``previous`` (a topic) in a conversation in ``language``."""
    if rules.screen(text).urgent:
        return Reply((TOPIC_EMERGENCY,), "safety")
    reading = reader.read(text, previous, language)
    unsure = reading.intent == FALLBACK_INTENT or (
        reading.intent == EMERGENCY_INTENT and reading.confidence < rules.classifier_confidence
    )
    if reading.intent == EMERGENCY_INTENT and not unsure:
        return Reply((TOPIC_EMERGENCY,), "safety")
    if reading.choice:
        return Reply((), "retrieval")  # did you mean: the reader's topic or the nearest questions'
    if unsure:
        match = decide(list(reading.candidates), retrieval)
        if match.kind == "answer":
            return Reply(match.topics[:1], "retrieval")
        return Reply((), "retrieval" if match.kind == "clarify" else "fallback")
    if reading.topics:
        return Reply(reading.topics, "intent")
    if reading.intent in NON_TOPIC_REPLIES:
        return Reply((NON_TOPIC_REPLIES[reading.intent],), "intent")
    return Reply((), "intent")  # chitchat: greet, thanks, goodbye


@dataclass(frozen=True)
class Scores:
    topic_right: float
    answered_wrong: float
    out_of_scope_rejected: float
    turns_right: float
    several_right: float


def _share(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def score(
    reader: Reader,
    rules: SafetyRules,
    retrieval: Thresholds,
    questions: Iterable[Question],
    conversations: Iterable[Conversation],
    several: Iterable[SeveralQuestions],
    language: str | None = None,
) -> Scores:
    right, wrong, rejected = [], [], []
    for question in questions:
        if question.kind == EMERGENCY:
            continue  # the red-flag screen's own test sets judge those (make safety)
        reply = answer(reader, rules, retrieval, question.text, None, language)
        if question.kind == OUT_OF_SCOPE:
            rejected.append(
                reply.topics == (TOPIC_OUT_OF_SCOPE,) or (reply.route == "fallback" and not reply.topics)
            )
            continue
        right.append(
            reply.topics[:1] == reply.topics and bool(reply.topics) and reply.topics[0] in question.expect
        )
        wrong.append(
            reply.route in ("intent", "retrieval")
            and bool(reply.topics)
            and reply.topics[0] not in (*question.expect, TOPIC_OUT_OF_SCOPE)
        )
    turns = []
    for conversation in conversations:
        previous: str | None = None
        for turn in conversation.turns:
            reply = answer(reader, rules, retrieval, turn.text, previous, language)
            turns.append(turn_is_right(turn, reply.topics, reply.route))
            remembered = [t for t in reply.topics if t in reader.knowledge.topics]
            previous = remembered[-1] if remembered else None  # the topic the actions keep
    answered = [
        answers_every_question(message, answer(reader, rules, retrieval, message.text, None, language).topics)
        for message in several
    ]
    return Scores(_share(right), _share(wrong), _share(rejected), _share(turns), _share(answered))


@dataclass(frozen=True)
class Trial:
    c: float
    vector_weight: float
    thresholds: ReadingThresholds
    retrieval_answer: float  # retrieval's answer threshold, for the messages the reader is unsure of
    scores: Scores
    train_seconds: float


def tune(
    knowledge: KnowledgeBase,
    rules: SafetyRules,
    retrieval: Thresholds,
    reader_config: dict[str, Any],
    grid: dict[str, Sequence[float]],
    language: str = "en",
    dev_sets: dict[str, dict[str, Path]] = DEV_SETS,
) -> list[Trial]:
    """Every combination of the grid's settings, scored on ``language``'s dev sets.

    The reader is trained as the topic reader's configuration (``reader_config``, config.yml's)
    says; the grid's C and vector weight replace the settings of the classifier that reads
    ``language``: the reader's own, or the language's in ``language_classifiers``."""
    files = dev_sets[language]
    questions = load_questions(files["questions"], knowledge.topics)
    conversations = load_conversations(files["conversations"], knowledge.topics)
    several = load_several_questions(files["several"], knowledge.topics)
    encoder = load_encoder(str(reader_config["model"]))
    examples = [(text, intent) for intent, texts in knowledge.intent_examples.items() for text in texts]
    own = language_configs(reader_config)
    first_look = first_look_config(reader_config)  # not varied: it reads only what it is sure of
    configured = reading_thresholds(reader_config)  # what the grid does not vary (clear readings)
    trials = []
    for c, weight in itertools.product(grid["c"], grid["vector_weight"]):
        varied = ClassifierConfig(c=c, vector_weight=weight)
        main, by_language = classifier_config(reader_config), dict(own)
        if language in own:
            by_language[language] = (own[language][0], varied)
        else:
            main = varied
        started = time.perf_counter()
        reader = train_reader(knowledge, encoder, examples, main, configured, by_language, first_look)
        seconds = time.perf_counter() - started
        for answer_at, part, context, retrieval_answer in itertools.product(
            grid["answer"],
            grid["part"],
            grid["context_weight"],
            grid.get("retrieval_answer", [retrieval.answer]),
        ):
            reader.thresholds = replace(configured, answer=answer_at, part=part, context_weight=context)
            fallback = replace(retrieval, answer=retrieval_answer)
            scores = score(reader, rules, fallback, questions, conversations, several, language)
            trials.append(Trial(c, weight, reader.thresholds, retrieval_answer, scores, seconds))
    return trials


def trials_markdown(trials: Sequence[Trial], limit: int = 15) -> str:
    """The best trials first: by topic questions right, with at most 5% answered wrongly."""
    ranked = sorted(
        trials,
        key=lambda t: (
            t.scores.answered_wrong <= 0.05,
            t.scores.topic_right + t.scores.turns_right + t.scores.several_right,
        ),
        reverse=True,
    )
    lines = [
        "| C | vector weight | answer | part | context weight | retrieval answer | topic right "
        "| answered wrong | out of scope rejected | conversation turns | several questions | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in ranked[:limit]:
        s, th = t.scores, t.thresholds
        lines.append(
            f"| {t.c:g} | {t.vector_weight:g} | {th.answer:g} | {th.part:g} | {th.context_weight:g} "
            f"| {t.retrieval_answer:g} | {s.topic_right:.3f} | {s.answered_wrong:.3f} "
            f"| {s.out_of_scope_rejected:.3f} "
            f"| {s.turns_right:.3f} | {s.several_right:.3f} | {t.train_seconds:.1f} |"
        )
    return "\n".join(lines)


def trials_json(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    return [
        {
            "c": t.c,
            "vector_weight": t.vector_weight,
            **asdict(t.thresholds),
            "retrieval_answer": t.retrieval_answer,
            **asdict(t.scores),
            "train_s": t.train_seconds,
        }
        for t in trials
    ]
