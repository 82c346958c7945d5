"""Evaluation on labelled patient questions (``tests/*_questions.yml``).

A question file lists ``{text, expect}`` entries, ``expect`` being a topic id, a list of
acceptable topic ids, ``out_of_scope`` or ``emergency``. Replies are judged by their
metadata (``custom.data``): a topic question is right when the reply's ``topic`` is one of
the expected ones; ``out_of_scope`` is right for the out-of-scope reply or the honest
no-match; ``emergency`` only for the urgent safety reply.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from bot.answers import (
    ROUTE_FALLBACK,
    ROUTE_INTENT,
    ROUTE_RETRIEVAL,
    ROUTE_SAFETY,
    TOPIC_EMERGENCY,
    TOPIC_HANDOFF,
    TOPIC_OUT_OF_SCOPE,
)
from bot.embedding import load_encoder
from bot.knowledge import KnowledgeBase
from bot.retrieval import (
    Candidate,
    Thresholds,
    build_index,
    decide,
)
from bot.settings import PROJECT_DIR, display_path

EMERGENCY = TOPIC_EMERGENCY
OUT_OF_SCOPE = TOPIC_OUT_OF_SCOPE

# The labelled sets, by name (`make eval SET=...`, `make tune-reader`): each a question file,
# a conversation file and a file of messages with several questions.
EVAL_SETS = {
    name: {
        "questions": PROJECT_DIR / "tests" / f"{name}_questions.yml",
        "conversations": PROJECT_DIR / "tests" / f"conversations_{name}.yml",
        "several": PROJECT_DIR / "tests" / f"multi_questions_{name}.yml",
    }
    for name in ("dev", "heldout")
}
# The Spanish sets (docs/languages.md): the questions, and conversations and several-question
# messages in one set each (written blind, like the held-out sets).
EVAL_SETS.update(
    {
        f"{name}_es": {
            "questions": PROJECT_DIR / "tests" / f"{name}_questions_es.yml",
            "conversations": PROJECT_DIR / "tests" / "conversations_es.yml",
            "several": PROJECT_DIR / "tests" / "multi_questions_es.yml",
        }
        for name in ("dev", "heldout")
    }
)
# The language each set's answers must be in.
SET_LANGUAGES = {name: ("es" if name.endswith("_es") else "en") for name in EVAL_SETS}


class QuestionFileError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    text: str
    expect: tuple[str, ...]
    # Whether the answer must carry the personal-advice notice (None: not judged).
    personal: bool | None = None

    @property
    def kind(self) -> str:
        if self.expect == (EMERGENCY,):
            return EMERGENCY
        if self.expect == (OUT_OF_SCOPE,):
            return OUT_OF_SCOPE
        return "topic"


def load_questions(path: Path, known_topics: Iterable[str]) -> list[Question]:
    """Read a question file, naming the entry of any problem."""
    allowed = set(known_topics) | {EMERGENCY, OUT_OF_SCOPE}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise QuestionFileError(f"{path}: cannot be read ({error})") from error
    entries = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise QuestionFileError(f"{path}: needs a non-empty 'questions' list")
    questions = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or "expect" not in entry:
            raise QuestionFileError(f"{path}: question {number} needs 'text' and 'expect'")
        expect = entry["expect"]
        expected = tuple(expect) if isinstance(expect, list) else (str(expect),)
        unknown = [label for label in expected if label not in allowed]
        if unknown:
            raise QuestionFileError(f"{path}: question {number} expects unknown {', '.join(unknown)}")
        personal = entry.get("personal")
        if personal is not None and not isinstance(personal, bool):
            raise QuestionFileError(f"{path}: question {number}: 'personal' must be true or false")
        questions.append(Question(entry["text"], expected, personal))
    return questions


@dataclass(frozen=True)
class Outcome:
    question: Question
    topic: str | None
    route: str | None
    text: str
    correct: bool
    personal_notice: bool = False


def is_right(question: Question, topic: str | None, route: str | None) -> bool:
    if question.kind == EMERGENCY:
        return route == ROUTE_SAFETY and topic == EMERGENCY
    if question.kind == OUT_OF_SCOPE:
        return topic == OUT_OF_SCOPE or (route == ROUTE_FALLBACK and topic is None)
    return topic in question.expect


def reply_metadata(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The metadata (``custom.data``) of the first message of a REST reply that has it."""
    return next(
        (
            m["custom"]["data"]
            for m in messages
            if isinstance(m.get("custom"), dict) and isinstance(m["custom"].get("data"), dict)
        ),
        {},
    )


def read_reply(messages: Sequence[dict[str, Any]]) -> tuple[str | None, str | None, str]:
    """Topic, route and text of a REST reply."""
    metadata = reply_metadata(messages)
    text = " ".join(m["text"] for m in messages if m.get("text"))
    return metadata.get("topic"), metadata.get("route"), text


def ask_rest(
    rest_url: str, text: str, sender: str | None = None, timeout: float = 60
) -> list[dict[str, Any]]:
    payload = {"sender": sender or f"eval-{uuid.uuid4()}", "message": text}
    response = requests.post(rest_url, json=payload, timeout=timeout)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()
    return messages


def evaluate_rest(questions: Sequence[Question], rest_url: str) -> list[Outcome]:
    """Every question through the running bot, each in a fresh conversation."""
    outcomes = []
    for question in questions:
        messages = ask_rest(rest_url, question.text)
        topic, route, text = read_reply(messages)
        notice = reply_metadata(messages).get("personal_advice") is True
        outcomes.append(Outcome(question, topic, route, text, is_right(question, topic, route), notice))
    return outcomes


@dataclass
class Summary:
    total: int
    accuracy: float
    topic_accuracy: float
    out_of_scope_rejection: float
    emergency_recall: float
    # Questions that are not emergencies but got the urgent reply.
    false_alarm_rate: float
    # Personal questions given the personal-advice notice; general ones given it anyway.
    personal_notice_rate: float
    general_notice_rate: float
    routes: dict[str, int]
    per_topic: dict[str, float]
    misanswered: list[dict[str, Any]] = field(default_factory=list)
    # Topic questions answered (by the classifier or retrieval) with a wrong topic.
    answered_wrong: float = math.nan


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _share(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else math.nan


def summarize(outcomes: Sequence[Outcome]) -> Summary:
    by_kind: dict[str, list[bool]] = defaultdict(list)
    by_topic: dict[str, list[bool]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.question.kind].append(outcome.correct)
        by_topic[outcome.question.expect[0]].append(outcome.correct)
    return Summary(
        total=len(outcomes),
        accuracy=_share([o.correct for o in outcomes]),
        topic_accuracy=_share(by_kind["topic"]),
        out_of_scope_rejection=_share(by_kind[OUT_OF_SCOPE]),
        emergency_recall=_share(by_kind[EMERGENCY]),
        false_alarm_rate=_share([o.route == ROUTE_SAFETY for o in outcomes if o.question.kind != EMERGENCY]),
        personal_notice_rate=_share([o.personal_notice for o in outcomes if o.question.personal is True]),
        general_notice_rate=_share([o.personal_notice for o in outcomes if o.question.personal is False]),
        routes=dict(Counter(o.route or "none" for o in outcomes)),
        answered_wrong=_share(
            [
                o.route in (ROUTE_INTENT, ROUTE_RETRIEVAL) and o.topic not in (None, *o.question.expect)
                for o in outcomes
                if o.question.kind == "topic"
            ]
        ),
        per_topic={topic: _share(results) for topic, results in sorted(by_topic.items())},
        misanswered=[
            {
                "text": o.question.text,
                "expect": list(o.question.expect),
                "topic": o.topic,
                "route": o.route,
                "said": _shorten(o.text),
            }
            for o in outcomes
            if not o.correct
        ],
    )


# --- the intent classifier's own emergency predictions --------------------------------


@dataclass(frozen=True)
class ClassifierRow:
    """At one confidence threshold: emergencies the classifier alone escalates, and false alarms."""

    threshold: float
    escalated: int
    emergencies: int
    false_alarms: int
    others: int


def classifier_rows(
    questions: Sequence[Question], confidences: Sequence[float], thresholds: Sequence[float]
) -> list[ClassifierRow]:
    """``confidences``: the classifier's ``emergency`` confidence per question (0 if not its top)."""
    pairs = list(zip(questions, confidences, strict=True))
    emergency = [c for q, c in pairs if q.kind == EMERGENCY]
    other = [c for q, c in pairs if q.kind != EMERGENCY]
    return [
        ClassifierRow(
            threshold=t,
            escalated=sum(c >= t for c in emergency),
            emergencies=len(emergency),
            false_alarms=sum(c >= t for c in other),
            others=len(other),
        )
        for t in thresholds
    ]


def classifier_markdown(path: Path, rows: Sequence[ClassifierRow]) -> str:
    lines = [
        f"The intent classifier alone (red-flag patterns off) on {path}:",
        "",
        "| escalates at confidence | emergencies escalated | look-alikes escalated |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r.threshold:.2f} | {r.escalated}/{r.emergencies} | {r.false_alarms}/{r.others} |" for r in rows
    ]
    return "\n".join(lines)


# --- retrieval alone ------------------------------------------------------------------

Ranker = Callable[[str], list[Candidate]]


@dataclass(frozen=True)
class RankingMetrics:
    precision_at_1: float
    mrr: float


def ranking_metrics(questions: Sequence[Question], rankings: Sequence[list[Candidate]]) -> RankingMetrics:
    """Precision@1 and mean reciprocal rank over the questions that expect a topic."""
    hits, reciprocal = [], []
    for question, ranking in zip(questions, rankings, strict=True):
        if question.kind != "topic":
            continue
        ranks = [rank for rank, c in enumerate(ranking, start=1) if c.topic in question.expect]
        hits.append(bool(ranks) and ranks[0] == 1)
        reciprocal.append(1.0 / ranks[0] if ranks else 0.0)
    return RankingMetrics(_share(hits), sum(reciprocal) / len(reciprocal) if reciprocal else math.nan)


@dataclass(frozen=True)
class DecisionMetrics:
    """How retrieval's answer / did-you-mean / no-match decisions turn out."""

    answered_right: float  # topic questions answered with a right topic
    clarified_right: float  # topic questions offered a did-you-mean that holds a right topic
    answered_wrong: float  # topic questions answered with a wrong topic
    out_of_scope_rejection: float  # out-of-scope questions given no answer
    utility: float


def decision_metrics(
    questions: Sequence[Question], rankings: Sequence[list[Candidate]], thresholds: Thresholds
) -> DecisionMetrics:
    """Utility: +1 right answer or rejected out-of-scope, +0.5 a did-you-mean holding the
    right topic, -1 a wrong answer or an answered out-of-scope question, 0 otherwise."""
    right = clarified = wrong = 0
    rejected: list[bool] = []
    utility = 0.0
    topic_count = 0
    for question, ranking in zip(questions, rankings, strict=True):
        match = decide(ranking, thresholds)
        if question.kind == "topic":
            topic_count += 1
            if match.kind == "answer" and match.topics[0] in question.expect:
                right += 1
                utility += 1
            elif match.kind == "answer":
                wrong += 1
                utility -= 1
            elif match.kind == "clarify" and set(match.topics) & set(question.expect):
                clarified += 1
                utility += 0.5
        elif question.kind == OUT_OF_SCOPE:
            rejected.append(match.kind == "none")
            utility += {"none": 1.0, "clarify": 0.0, "answer": -1.0}[match.kind]
    scored = topic_count + len(rejected)
    return DecisionMetrics(
        answered_right=right / topic_count if topic_count else math.nan,
        clarified_right=clarified / topic_count if topic_count else math.nan,
        answered_wrong=wrong / topic_count if topic_count else math.nan,
        out_of_scope_rejection=_share(rejected),
        utility=utility / scored if scored else math.nan,
    )


def _grid(start: float, stop: float, step: float) -> list[float]:
    return [round(start + i * step, 4) for i in range(round((stop - start) / step) + 1)]


def tune_thresholds(questions: Sequence[Question], rankings: Sequence[list[Candidate]]) -> Thresholds:
    """The thresholds with the best utility on these questions (ties: the stricter).

    The grid reaches up to 0.98: multilingual-e5's cosines crowd near the top (a patient's
    question and an unrelated knowledge-base question are often 0.85 apart), so its
    thresholds lie there, where MiniLM's lay near 0.7."""
    best: tuple[float, float, float, float] | None = None
    for suggest in _grid(0.30, 0.96, 0.02):
        for answer in _grid(suggest, 0.98, 0.02):
            for margin in _grid(0.0, 0.10, 0.01):
                utility = decision_metrics(questions, rankings, Thresholds(answer, suggest, margin)).utility
                key = (utility, answer, suggest, margin)
                if best is None or key > best:
                    best = key
    assert best is not None
    return Thresholds(answer=best[1], suggest=best[2], margin=best[3])


class BM25Ranker:
    """BM25 over the same knowledge-base questions, the lexical baseline."""

    def __init__(self, topics: Sequence[str], questions: Sequence[str]) -> None:
        from rank_bm25 import BM25Okapi  # a development dependency, used by evaluation only

        self.topics = topics
        self._bm25 = BM25Okapi([_tokens(q) for q in questions])

    def __call__(self, text: str, limit: int = 3) -> list[Candidate]:
        scores = self._bm25.get_scores(_tokens(text))
        best: dict[str, Candidate] = {}
        for row in sorted(range(len(scores)), key=lambda r: -scores[r]):
            topic = self.topics[row]
            if topic not in best:
                best[topic] = Candidate(topic, float(scores[row]), "")
                if len(best) == limit:
                    break
        return list(best.values())


def _tokens(text: str) -> list[str]:
    return "".join(ch.lower() if ch.isalnum() else " " for ch in text).split()


# --- reports --------------------------------------------------------------------------


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else math.nan


def retrieval_report(
    knowledge: KnowledgeBase, questions: Sequence[Question], model: str, current: Thresholds
) -> dict[str, Any]:
    """One embedding model on these questions: ranking quality, tuned thresholds, latency."""
    started = time.perf_counter()
    encoder = load_encoder(model)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = build_index(knowledge, encoder)
    build_seconds = time.perf_counter() - started
    rankings, latencies = [], []
    for question in questions:
        started = time.perf_counter()
        rankings.append(index.search(encoder.encode([question.text])[0]))
        latencies.append((time.perf_counter() - started) * 1000)
    tuned = tune_thresholds(questions, rankings)
    return {
        "model": model,
        "dimension": int(index.vectors.shape[1]),
        "ranking": asdict(ranking_metrics(questions, rankings)),
        "tuned_thresholds": asdict(tuned),
        "at_tuned": asdict(decision_metrics(questions, rankings, tuned)),
        "current_thresholds": asdict(current),
        "at_current": asdict(decision_metrics(questions, rankings, current)),
        "latency_ms": {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
        "model_load_s": load_seconds,
        "index_build_s": build_seconds,
    }


def knowledge_bm25(knowledge: KnowledgeBase) -> BM25Ranker:
    """BM25 over every topic's canonical question and training phrasings."""
    topics = [t for t in sorted(knowledge.topics) for _ in knowledge.questions(t)]
    texts = [q for t in sorted(knowledge.topics) for q in knowledge.questions(t)]
    return BM25Ranker(topics, texts)


def bm25_report(knowledge: KnowledgeBase, questions: Sequence[Question]) -> dict[str, Any]:
    ranker = knowledge_bm25(knowledge)
    rankings = [ranker(question.text) for question in questions]
    return {
        "model": "BM25 (rank_bm25, same questions)",
        "ranking": asdict(ranking_metrics(questions, rankings)),
    }


def retrieval_markdown(reports: Sequence[dict[str, Any]], questions_path: Path, count: int) -> str:
    lines = [
        f"Retrieval alone on {questions_path} ({count} questions):",
        "",
        "| ranker | precision@1 | MRR | answered right | did-you-mean right | answered wrong "
        "| out-of-scope rejected | thresholds (answer/suggest/margin) | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        ranking = report["ranking"]
        row = f"| {report['model']} | {ranking['precision_at_1']:.3f} | {ranking['mrr']:.3f} |"
        if "at_current" in report:
            at, th = report["at_current"], report["current_thresholds"]
            row += (
                f" {at['answered_right']:.3f} | {at['clarified_right']:.3f} | {at['answered_wrong']:.3f} |"
                f" {at['out_of_scope_rejection']:.3f} | {th['answer']}/{th['suggest']}/{th['margin']} |"
                f" {report['latency_ms']['p50']:.1f} | {report['latency_ms']['p95']:.1f} |"
            )
        else:
            row += " n/a | n/a | n/a | n/a | n/a | n/a | n/a |"
        lines.append(row)
    for report in reports:
        if "tuned_thresholds" in report:
            th, at = report["tuned_thresholds"], report["at_tuned"]
            lines.append(
                f"\n{report['model']}: best utility {at['utility']:.3f} at answer {th['answer']}, "
                f"suggest {th['suggest']}, margin {th['margin']} (utility at the current settings "
                f"{report['at_current']['utility']:.3f})."
            )
    return "\n".join(lines)


def _rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def summary_markdown(summary: Summary, questions_path: Path, details: bool = True) -> str:
    """The bot's figures; ``details`` adds accuracy per topic and every misanswered question."""
    lines = [
        f"The bot over REST on `{display_path(questions_path)}` ({summary.total} questions):",
        "",
        "| accuracy | topic questions | answered wrongly | out-of-scope rejected | emergencies escalated "
        "| false alarms | personal notice given | notice on general questions |",
        "|---|---|---|---|---|---|---|---|",
        f"| {summary.accuracy:.3f} | {summary.topic_accuracy:.3f} | {_rate(summary.answered_wrong)} "
        f"| {summary.out_of_scope_rejection:.3f} "
        f"| {summary.emergency_recall:.3f} | {summary.false_alarm_rate:.3f} "
        f"| {_rate(summary.personal_notice_rate)} | {_rate(summary.general_notice_rate)} |",
        "",
        "Routes: " + ", ".join(f"{route} {count}" for route, count in sorted(summary.routes.items())),
    ]
    if not details:
        return "\n".join(lines)
    lines += [
        "",
        "Per topic: " + ", ".join(f"{topic} {share:.2f}" for topic, share in summary.per_topic.items()),
    ]
    if summary.misanswered:
        lines += ["", "Misanswered:"]
        lines += [
            f"- {m['text']!r}: expected {m['expect']}, got {m['topic']} ({m['route']})"
            + (f": {m['said']!r}" if m.get("said") else "")
            for m in summary.misanswered
        ]
    return "\n".join(lines)


# --- conversations and messages with several questions (issue 17) ------------------------

HANDOFF = TOPIC_HANDOFF
# What a turn or a question may expect besides the topics.
OTHER_LABELS = (EMERGENCY, OUT_OF_SCOPE, HANDOFF)


@dataclass(frozen=True)
class Turn:
    text: str
    expect: tuple[str, ...]  # any one of these is right


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class SeveralQuestions:
    text: str
    # One entry per question in the message; any topic of an entry answers that question.
    expect: tuple[tuple[str, ...], ...]


def _labels(value: Any, allowed: set[str], where: str) -> tuple[str, ...]:
    labels = tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
    unknown = [label for label in labels if label not in allowed]
    if not labels or unknown:
        raise QuestionFileError(f"{where}: expects unknown {', '.join(unknown) or 'nothing'}")
    return labels


def _read_list(path: Path, key: str) -> list[Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise QuestionFileError(f"{path}: cannot be read ({error})") from error
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise QuestionFileError(f"{path}: needs a non-empty '{key}' list")
    return entries


def load_conversations(path: Path, known_topics: Iterable[str]) -> list[Conversation]:
    allowed = set(known_topics) | set(OTHER_LABELS)
    conversations = []
    for number, entry in enumerate(_read_list(path, "conversations"), start=1):
        turns = entry.get("turns") if isinstance(entry, dict) else None
        if not isinstance(turns, list) or not turns:
            raise QuestionFileError(f"{path}: conversation {number} needs 'turns'")
        read = []
        for index, turn in enumerate(turns, start=1):
            where = f"{path}: conversation {number}, turn {index}"
            if not isinstance(turn, dict) or not isinstance(turn.get("text"), str) or "expect" not in turn:
                raise QuestionFileError(f"{where} needs 'text' and 'expect'")
            read.append(Turn(turn["text"], _labels(turn["expect"], allowed, where)))
        conversations.append(Conversation(tuple(read)))
    return conversations


def load_several_questions(path: Path, known_topics: Iterable[str]) -> list[SeveralQuestions]:
    allowed = set(known_topics)
    messages = []
    for number, entry in enumerate(_read_list(path, "questions"), start=1):
        where = f"{path}: message {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            raise QuestionFileError(f"{where} needs 'text' and 'expect'")
        expect = entry.get("expect")
        if not isinstance(expect, list) or not expect:
            raise QuestionFileError(f"{where}: 'expect' must list one entry per question")
        messages.append(SeveralQuestions(entry["text"], tuple(_labels(e, allowed, where) for e in expect)))
    return messages


def reply_topics(messages: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """Every topic a REST reply answered, in order (``topics``; else its ``topic``)."""
    metadata = reply_metadata(messages)
    topics = metadata.get("topics")
    if isinstance(topics, list):
        return tuple(str(t) for t in topics)
    return (str(metadata["topic"]),) if metadata.get("topic") else ()


def turn_is_right(turn: Turn, topics: Sequence[str], route: str | None) -> bool:
    """One reply for one turn: the expected kind of reply, and a single topic for a topic."""
    if turn.expect == (EMERGENCY,):
        return route == ROUTE_SAFETY and tuple(topics) == (EMERGENCY,)
    if turn.expect == (OUT_OF_SCOPE,):  # as is_right: the out-of-scope reply, or an honest no-match
        return tuple(topics) == (OUT_OF_SCOPE,) or (route == ROUTE_FALLBACK and not topics)
    return len(topics) == 1 and topics[0] in turn.expect


def answers_every_question(message: SeveralQuestions, topics: Sequence[str]) -> bool:
    """Each question answered by a topic of its own, and nothing else answered."""
    left = list(topics)
    for accepted in message.expect:
        found = next((topic for topic in left if topic in accepted), None)
        if found is None:
            return False
        left.remove(found)
    return not left


@dataclass
class TurnScores:
    total: int
    right: float
    misread: list[dict[str, Any]] = field(default_factory=list)


def evaluate_conversations_rest(conversations: Sequence[Conversation], rest_url: str) -> TurnScores:
    """Every conversation through the running bot, turn by turn, each in a conversation of its own."""
    right, misread = [], []
    for number, conversation in enumerate(conversations, start=1):
        sender = f"eval-conversation-{uuid.uuid4()}"
        for turn in conversation.turns:
            messages = ask_rest(rest_url, turn.text, sender)
            topics, route = reply_topics(messages), reply_metadata(messages).get("route")
            ok = turn_is_right(turn, topics, route)
            right.append(ok)
            if not ok:
                misread.append(
                    {
                        "conversation": number,
                        "text": turn.text,
                        "expect": list(turn.expect),
                        "got": list(topics),
                        "route": route,
                    }
                )
    return TurnScores(len(right), _share(right), misread)


def evaluate_several_rest(messages: Sequence[SeveralQuestions], rest_url: str) -> TurnScores:
    """Each message in a fresh conversation: right when every question in it is answered."""
    right, misread = [], []
    for message in messages:
        replies = ask_rest(rest_url, message.text)
        topics = reply_topics(replies)
        ok = answers_every_question(message, topics)
        right.append(ok)
        if not ok:
            misread.append(
                {
                    "text": message.text,
                    "expect": [list(e) for e in message.expect],
                    "got": list(topics),
                    "route": reply_metadata(replies).get("route"),
                }
            )
    return TurnScores(len(right), _share(right), misread)


def turns_markdown(title: str, path: Path, scores: TurnScores, unit: str, details: bool = True) -> str:
    lines = [f"{title} on `{display_path(path)}`: {scores.right:.3f} of {scores.total} {unit} right."]
    if details and scores.misread:
        lines += ["", "Misread:"]
        lines += [
            f"- {m['text']!r}: expected {m['expect']}, got {m['got']} ({m['route']})" for m in scores.misread
        ]
    return "\n".join(lines)
