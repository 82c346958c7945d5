"""The baselines make eval compares the bot with, judged exactly as the bot is judged."""

from __future__ import annotations

from typing import cast

from bot.retrieval import Candidate, Match, Retriever
from tooling.baselines import (
    Compared,
    beaten_by,
    bm25_answerer,
    intent_reply,
    judge,
    retrieval_answerer,
    tune_bm25_threshold,
)
from tooling.evaluation import BM25Ranker, Question, summarize

QUESTIONS = [
    Question("how much is it", ("cost",)),
    Question("what's the weather", ("out_of_scope",)),
    Question("my lips are swelling", ("emergency",)),
]


class _FixedRanker:
    """A BM25 stand-in whose best topic and score per text are given."""

    def __init__(self, best: dict[str, tuple[str, float]]) -> None:
        self.best = best

    def __call__(self, text: str, limit: int = 3) -> list[Candidate]:
        topic, score = self.best[text]
        return [Candidate(topic, score, "")]


class _FixedRetriever:
    def __init__(self, matches: dict[str, Match]) -> None:
        self.matches = matches

    def match(self, text: str) -> Match:
        return self.matches[text]


def test_intents_are_judged_as_the_rules_route_them() -> None:
    intents = {
        "how much is it": "faq_cost",
        "what's the weather": "out_of_scope",
        "my lips are swelling": "emergency",
    }
    outcomes = judge(QUESTIONS, lambda text: intent_reply(intents[text]))
    assert [o.correct for o in outcomes] == [True, True, True]
    unsure = judge(QUESTIONS, lambda text: intent_reply("nlu_fallback"))
    # Unsure counts as the honest no-match: right only for the out-of-scope question.
    assert [o.correct for o in unsure] == [False, True, False]


def test_the_bm25_threshold_is_the_lowest_with_the_most_right_replies() -> None:
    ranker = _FixedRanker(
        {
            "how much is it": ("cost", 5.0),
            "what's the weather": ("cost", 2.0),
            "my lips are swelling": ("pain", 9.0),
        }
    )
    threshold = tune_bm25_threshold(cast(BM25Ranker, ranker), QUESTIONS)
    assert threshold == 5.0
    outcomes = judge(QUESTIONS, bm25_answerer(cast(BM25Ranker, ranker), threshold))
    assert [o.correct for o in outcomes] == [True, True, False]  # BM25 cannot escalate


def test_retrieval_alone_counts_only_confident_answers() -> None:
    cost = Candidate("cost", 0.9, "")
    retriever = _FixedRetriever(
        {
            "how much is it": Match("clarify", (cost, Candidate("sessions", 0.8, ""))),
            "what's the weather": Match("none", ()),
            "my lips are swelling": Match("answer", (Candidate("side_effects", 0.7, ""),)),
        }
    )
    outcomes = judge(QUESTIONS, retrieval_answerer(cast(Retriever, retriever)))
    assert [(o.topic, o.correct) for o in outcomes] == [(None, False), (None, True), ("side_effects", False)]


def test_the_bot_must_beat_every_baseline_on_accuracy() -> None:
    bot = summarize(judge(QUESTIONS, lambda text: intent_reply({"how much is it": "faq_cost"}.get(text))))
    weaker = Compared("weaker", summarize(judge(QUESTIONS, lambda text: intent_reply(None))))
    equal = Compared("equal", bot)
    assert beaten_by(bot, [weaker, equal]) == ["equal"]
