"""What a clinic could use instead of this bot, judged on the same questions in the same run.

- **BM25** over the knowledge base's questions (rank_bm25): answers its best topic when the
  score reaches a threshold chosen on the dev questions, otherwise has no answer.
- **Embedding nearest neighbour alone**: the bot's own retriever (same model, same index)
  without the reader or the safety screen, its thresholds chosen on the dev questions for
  retrieval alone (``make tune``'s choice), not the bot's, which serve only the messages the
  reader is unsure of.
- **Rasa's default pipeline and policies** (the configuration ``rasa init`` generates,
  ``bench/rasa_init/config.yml``) trained on the same data: its predicted intent, routed
  as the bot's rules route it.

Each baseline answers with a topic and a route, judged by ``tooling.evaluation.is_right``
exactly as the bot's replies are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.answers import ROUTE_FALLBACK, ROUTE_INTENT, ROUTE_RETRIEVAL, ROUTE_SAFETY
from bot.knowledge import FAQ_INTENT_PREFIX
from bot.retrieval import Retriever
from bot.settings import display_path
from tooling.evaluation import EMERGENCY, OUT_OF_SCOPE, BM25Ranker, Outcome, Question, Summary, is_right

ROUTE_BM25 = "bm25"

# A baseline's reply to a question: the topic it answers (or None) and how it got there.
Reply = tuple[str | None, str]
Answerer = Callable[[str], Reply]


def judge(questions: Sequence[Question], answer: Answerer) -> list[Outcome]:
    outcomes = []
    for question in questions:
        topic, route = answer(question.text)
        outcomes.append(Outcome(question, topic, route, "", is_right(question, topic, route)))
    return outcomes


def retrieval_answerer(retriever: Retriever) -> Answerer:
    """A did-you-mean is not an answer; nothing close enough is the honest no-match."""

    def answer(text: str) -> Reply:
        match = retriever.match(text)
        if match.kind == "answer":
            return match.topics[0], ROUTE_RETRIEVAL
        return None, ROUTE_RETRIEVAL if match.kind == "clarify" else ROUTE_FALLBACK

    return answer


def bm25_answerer(ranker: BM25Ranker, threshold: float) -> Answerer:
    def answer(text: str) -> Reply:
        best = ranker(text, limit=1)
        if best and best[0].score >= threshold:
            return best[0].topic, ROUTE_BM25
        return None, ROUTE_FALLBACK

    return answer


def tune_bm25_threshold(ranker: BM25Ranker, questions: Sequence[Question]) -> float:
    """The score threshold with the most right replies on these questions (ties: the lower)."""
    scored = [q for q in questions if q.kind != EMERGENCY]  # BM25 cannot escalate
    best_scores = [next(iter(ranker(q.text, limit=1)), None) for q in scored]
    candidates = sorted({0.0, *(b.score for b in best_scores if b is not None)})

    def right(threshold: float) -> int:
        total = 0
        for question, best in zip(scored, best_scores, strict=True):
            answered = best is not None and best.score >= threshold
            topic = best.topic if answered and best is not None else None
            total += is_right(question, topic, ROUTE_BM25 if answered else ROUTE_FALLBACK)
        return total

    return max(candidates, key=lambda t: (right(t), -t))


def intent_reply(intent: str | None) -> Reply:
    """How the bot's rules route an intent, judged without running the actions."""
    if intent and intent.startswith(FAQ_INTENT_PREFIX):
        return intent[len(FAQ_INTENT_PREFIX) :], ROUTE_INTENT
    if intent == OUT_OF_SCOPE:
        return OUT_OF_SCOPE, ROUTE_INTENT
    if intent == EMERGENCY:
        return EMERGENCY, ROUTE_SAFETY
    return None, ROUTE_FALLBACK


@dataclass(frozen=True)
class Compared:
    name: str
    summary: Summary


def comparison_markdown(rows: Sequence[Compared], questions_path: str) -> str:
    lines = [
        f"The bot and the baselines on `{display_path(questions_path)}`:",
        "",
        "| system | accuracy | topic questions right | out-of-scope rejected "
        "| emergencies escalated | false alarms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.summary.accuracy:.3f} | {r.summary.topic_accuracy:.3f} "
        f"| {r.summary.out_of_scope_rejection:.3f} | {r.summary.emergency_recall:.3f} "
        f"| {r.summary.false_alarm_rate:.3f} |"
        for r in rows
    ]
    return "\n".join(lines)


def beaten_by(bot: Summary, baselines: Sequence[Compared]) -> list[str]:
    """The baselines whose accuracy the bot does not beat."""
    return [b.name for b in baselines if not bot.accuracy > b.summary.accuracy]
