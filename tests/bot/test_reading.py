"""Reading a patient's message (bot/reading.py) with the reader trained as config.yml trains
it: several questions in one message, follow-ups in the light of the previous topic, one
embedding per plain message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from bot.embedding import load_encoder
from bot.knowledge import KnowledgeBase, default_knowledge_base
from bot.reading import (
    FALLBACK_INTENT,
    HOW_LONG_ALONE,
    OUT_OF_SCOPE_INTENT,
    LanguageClassifier,
    Reader,
    asks,
    leans_on_context,
    opening,
    question_parts,
)
from components.topic_reader import configured_reader, project_config


@pytest.fixture(scope="module")
def reader() -> Reader:
    """Trained as the topic reader trains in `make train`, with config.yml's settings."""
    knowledge = default_knowledge_base()
    settings = project_config()
    examples = [(text, intent) for intent, texts in knowledge.intent_examples.items() for text in texts]
    return configured_reader(knowledge, load_encoder(str(settings["model"])), examples, settings)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("does it hurt and how much does it cost?", ["does it hurt", "how much does it cost"]),
        ("is it safe? what's in it?", ["is it safe", "what's in it"]),
        ("does it hurt, how long does it take, and is there downtime?", 3),
        ("can I drink coffee and alcohol after", 1),  # one question about two drinks
        ("I'm 30 and my skin looks tired, is that too early for it?", 1),  # a story, then a question
        ("no caffeine at all on the day?? I can't function without it", 1),
        # Requests worded as statements ask too; so does a part joined by "and" after a "?".
        (
            "tell me the cost and whether there's any downtime",
            ["tell me the cost", "whether there's any downtime"],
        ),
        (
            "I'd like to know the price and how many sessions",
            ["I'd like to know the price", "how many sessions"],
        ),
        ("any side effects? and who does the injecting", ["any side effects", "and who does the injecting"]),
        ("I want to know what I am being injected with", 1),
        # Spanish: one word between ¿ and ? is a question; "y" joins a new one.
        ("¿duele? ¿cuánto cuesta?", ["duele", "cuánto cuesta"]),
        (
            "cuánto cuesta la sesión, y cuándo veo resultados",
            ["cuánto cuesta la sesión", "cuándo veo resultados"],
        ),
        ("tengo 30 años y mi piel se ve cansada, ¿es muy pronto?", 1),
        # A question word after its preposition; a request worded as a statement; a yes/no
        # question that opens with its pronoun and verb.
        ("que es y para quien esta indicada", ["que es", "para quien esta indicada"]),
        ("¿Está aprobada? ¿Desde cuándo se hace?", ["Está aprobada", "Desde cuándo se hace"]),
        ("queria saber el precio y si duele", ["queria saber el precio", "si duele"]),
        (
            "me puedo maquillar despues y cuando me lavo el pelo",
            ["me puedo maquillar despues", "cuando me lavo el pelo"],
        ),
        ("me duele la cabeza desde ayer y es normal?", 1),  # a story, then a question
    ],
)
def test_a_message_is_split_into_the_questions_it_asks(text: str, parts: list[str] | int) -> None:
    found = question_parts(text)
    assert (found if isinstance(parts, list) else len(found)) == parts


def test_what_leans_on_the_context() -> None:
    assert leans_on_context("how long do they last?", 6)
    assert leans_on_context("and the gym?", 6)
    assert not leans_on_context("how soon after scalp mesotherapy can I wash my hair", 6)


@pytest.mark.parametrize(
    ("text", "asking"),
    [
        ("and the gym?", True),
        ("ok and how long does the whole appointment take", True),  # words of reply, then a question
        ("vale, y cuánto dura la cita entera", True),
        ("what about after", True),
        ("hahaha", False),
        ("cool", False),
        ("jajajaja", False),
        ("ok, that's great", False),
    ],
)
def test_what_asks_something(text: str, asking: bool) -> None:
    assert asks(text) is asking


def _counting(reader: Reader, **changes: Any) -> tuple[Reader, list[tuple[str, list[str]]]]:
    """The reader (with ``changes``) recording each network's runs: (model, texts)."""
    runs: list[tuple[str, list[str]]] = []
    return replace(reader, on_embed=lambda model, texts: runs.append((model, list(texts))), **changes), runs


MINILM, E5 = "all-MiniLM-L6-v2", "multilingual-e5-small"


def test_a_clear_english_question_runs_only_the_first_looks_network(reader: Reader) -> None:
    assert reader.first_look is not None and reader.first_look.model == MINILM  # config.yml's
    counting, runs = _counting(reader)
    reading = counting.read("how much does mesotherapy cost?")
    assert runs == [(MINILM, ["how much does mesotherapy cost?"])]
    # Answered: no nearest questions are searched, as no reply offers them.
    assert reading.topics == ("cost",) and reading.candidates == ()
    # Without the first look, both networks run for it, each once, and the reading is the same.
    alone, runs = _counting(reader, first_look=None)
    assert alone.read("how much does mesotherapy cost?").topics == ("cost",)
    assert sorted(model for model, _ in runs) == [MINILM, E5]


def test_an_out_of_scope_question_runs_both_networks_once_for_its_nearest_questions(reader: Reader) -> None:
    counting, runs = _counting(reader)
    reading = counting.read("what's the weather like tomorrow in Madrid?")
    assert reading.intent == OUT_OF_SCOPE_INTENT and len(reading.candidates) == 3
    assert sorted(model for model, _ in runs) == [MINILM, E5]


def test_a_spanish_question_runs_only_its_classifiers_network(reader: Reader) -> None:
    counting, runs = _counting(reader)
    assert counting.read("¿cuánto cuesta una sesión?").topics == ("cost",)
    assert runs == [(E5, ["¿cuánto cuesta una sesión?"])]


@pytest.mark.parametrize(
    ("first", "confidence", "taken"),
    [
        ("faq_pain", 0.85, True),  # sure: the first look's reading
        ("faq_pain", 0.7, False),  # not sure: the pair's
        ("out_of_scope", 0.95, False),  # out of scope is always the pair's to say
        ("emergency", 0.95, False),  # and so is an emergency
    ],
)
def test_the_first_looks_reading_is_taken_only_when_sure_of_a_topic_or_small_talk(
    reader: Reader, first: str, confidence: float, taken: bool
) -> None:
    assert reader.first_look is not None
    intents = reader.classifier.intents
    looking = LanguageClassifier(MINILM, _Fixed(intents, first, confidence))  # type: ignore[arg-type]
    counting, runs = _counting(
        reader,
        classifier=_Fixed(intents, "faq_cost", 0.9),
        first_look=looking,
        thresholds=replace(reader.thresholds, first_look_sure=0.8),
    )
    reading = counting.read("how much is it, roughly?")
    assert reading.topics == (("pain",) if taken else ("cost",))
    assert sorted(model for model, _ in runs) == ([MINILM] if taken else [MINILM, E5])


class _Recording:
    """A classifier that records the width of the vectors it reads, then reads as ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.widths: list[int] = []

    @property
    def intents(self) -> tuple[str, ...]:
        return self.inner.intents  # type: ignore[no-any-return]

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        self.widths.append(vectors.shape[1])
        return self.inner.probabilities(texts, vectors)  # type: ignore[no-any-return]


class _Fixed:
    """A classifier that gives every text the same probabilities: ``intent`` at ``confidence``
    (and the ``others`` at theirs), the rest shared evenly."""

    def __init__(
        self, intents: tuple[str, ...], intent: str, confidence: float, others: dict[str, float] | None = None
    ) -> None:
        self.intents = intents
        given = {intent: confidence, **(others or {})}
        rest = (1 - sum(given.values())) / (len(intents) - len(given))
        self.row = np.array([given.get(i, rest) for i in intents])

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return np.tile(self.row, (len(texts), 1))


@pytest.mark.parametrize(
    ("confidence", "doubtful", "offered"), [(0.6, 0.7, True), (0.75, 0.7, False), (0.6, 0.0, False)]
)
def test_a_doubtful_reading_the_nearest_questions_contradict_is_offered_as_a_choice(
    reader: Reader, confidence: float, doubtful: float, offered: bool
) -> None:
    # The classifier reads "does it hurt?" as cost; the nearest questions are the pain ones.
    fixed = _Fixed(reader.classifier.intents, "faq_cost", confidence)
    thresholds = replace(reader.thresholds, doubtful=doubtful)
    doubting = Reader(reader.encoder, fixed, reader.index, reader.knowledge, thresholds)  # type: ignore[arg-type]
    reading = doubting.read("does it hurt?")
    if offered:
        assert reading.intent == FALLBACK_INTENT and reading.choice and reading.topics == ()
        assert [c.topic for c in reading.candidates] == ["cost", "pain"]  # its own topic first
    else:
        assert reading.topics == ("cost",) and not reading.choice
    # A reading the nearest questions confirm is answered, however doubtful.
    agreeing = Reader(
        reader.encoder,
        _Fixed(reader.classifier.intents, "faq_pain", 0.5),  # type: ignore[arg-type]
        reader.index,
        reader.knowledge,
        thresholds,
    )
    assert agreeing.read("does it hurt?").topics == ("pain",)


def test_a_spanish_message_is_read_by_the_spanish_classifier_on_its_model_alone(reader: Reader) -> None:
    assert set(reader.by_language) == {"es"}  # config.yml's language_classifiers
    spanish = reader.by_language["es"]
    mixed, alone = _Recording(reader.classifier), _Recording(spanish.classifier)
    recording = Reader(
        reader.encoder,
        mixed,  # type: ignore[arg-type]
        reader.index,
        reader.knowledge,
        reader.thresholds,
        by_language={"es": LanguageClassifier(spanish.model, alone)},  # type: ignore[arg-type]
    )
    assert recording.read("¿cuánto cuesta una sesión?").topics == ("cost",)
    width = reader.encoder.encode(["x"]).shape[1]
    assert alone.widths == [width // 2] and mixed.widths == []  # e5's half of the pair's vector
    assert recording.read("how much does a session cost?").topics == ("cost",)
    assert mixed.widths == [width] and alone.widths == [width // 2]
    # A message that cannot tell is read in the conversation's language.
    recording.read("ok", language="es")
    assert len(alone.widths) == 2 and len(mixed.widths) == 1


def test_an_out_of_scope_reading_keeps_its_nearest_topics_for_the_clinics_report(reader: Reader) -> None:
    reading = reader.read("what's the weather like tomorrow in Madrid?")
    assert reading.intent == OUT_OF_SCOPE_INTENT and len(reading.candidates) == 3


def test_several_questions_get_their_topics_in_order(reader: Reader) -> None:
    reading = reader.read("does it hurt and how much does it cost?")
    assert reading.topics == ("pain", "cost") and reading.intent == "faq_pain" and reading.parts == 2


@pytest.mark.parametrize(
    "text",
    [
        "tengo que dejar la aspirina antes? cuantos dias?",
        "tengo que dejar el ibuprofeno antes? cuantos dias?",
    ],
)
def test_a_short_question_that_only_details_the_one_before_is_no_second_topic(
    reader: Reader, text: str
) -> None:
    # "¿cuántos días?" alone reads as recovery; after "stop aspirin before?" it asks how long.
    assert reader.read(text).topics == ("preparation",)


def test_a_question_about_one_thing_twice_is_one_topic(reader: Reader) -> None:
    assert reader.read("how much does it cost and is it covered by insurance?").topics == ("cost",)


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        (
            "how soon after the injections can I go running, have a coffee or wash my hair?",
            ("exercise", "coffee_alcohol", "washing_hair"),
        ),
        ("can I shower and hit the gym the same evening", ("washing_hair", "exercise")),
        ("how long till I can have a beer or a cigarette", ("coffee_alcohol",)),  # one topic
    ],
)
def test_a_question_naming_several_aftercare_activities_answers_each_topic(
    reader: Reader, text: str, topics: tuple[str, ...]
) -> None:
    assert reader.read(text).topics == topics


def test_activities_named_in_a_question_about_something_else_add_no_topics(reader: Reader) -> None:
    assert reader.read("how much does it cost, and how many sessions would I need?").topics == (
        "cost",
        "sessions",
    )
    story = "I go running daily and drink wine most nights, what does a course of scalp meso cost?"
    assert reader.read(story).topics == ("cost",)


def test_one_clear_part_is_answered_when_the_whole_message_is_not(reader: Reader) -> None:
    whole = "what's the weather like tomorrow and how much is it"
    assert reader.read("what's the weather like tomorrow").intent == "out_of_scope"
    reading = reader.read(whole)
    assert reading.topics == ("cost",) and reading.intent == "faq_cost"


def test_a_follow_up_is_read_in_the_light_of_the_previous_topic(reader: Reader) -> None:
    alone = reader.read("what about after?")
    assert alone.topics != ("coffee_alcohol",)
    followed = reader.read("what about after?", previous_topic="coffee_alcohol")
    assert followed.topics == ("coffee_alcohol",) and followed.in_context


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("hahaha", "en"),  # asks nothing: no follow-up, whatever the reading alone says
        ("lol", "en"),
        ("jajajaja", "es"),
        ("¿tienes novia?", "es"),  # short, its own question, out of scope
        ("¿qué tiempo hará mañana?", "es"),  # short, its own question: not read after "¿duele?"
    ],
)
def test_a_message_that_asks_nothing_of_the_previous_topic_is_no_follow_up(
    reader: Reader, text: str, language: str
) -> None:
    reading = reader.read(text, previous_topic="pain", language=language)
    assert reading.topics == () and not reading.in_context


@pytest.mark.parametrize(("previous_share", "follows"), [(0.2, True), (0.01, False)])
def test_a_short_out_of_scope_question_follows_up_only_when_it_gives_the_previous_topic_some_share(
    reader: Reader, previous_share: float, follows: bool
) -> None:
    # Read alone as out of scope: "is pilates fine?" after exercise (some of exercise) is a
    # follow-up; "do you have a girlfriend?" after it (almost none) is not.
    fixed = _Fixed(reader.classifier.intents, "out_of_scope", 0.7, {"faq_exercise": previous_share})
    fixed_reader = Reader(reader.encoder, fixed, reader.index, reader.knowledge, reader.thresholds)  # type: ignore[arg-type]
    reading = fixed_reader.read("is pilates fine?", previous_topic="exercise")
    assert (reading.topics == ("exercise",) and reading.in_context) is follows
    if not follows:
        assert reading.intent == "out_of_scope"


@pytest.mark.parametrize("text", ["hahaha", "that's wild", "jajajaja"])
def test_a_doubtful_message_that_asks_nothing_is_not_read_as_the_previous_topic(
    reader: Reader, text: str
) -> None:
    # Read alone as nothing in particular: leaning on the previous topic would make it pain.
    unsure = _Fixed(reader.classifier.intents, "out_of_scope", 0.3, {"faq_pain": 0.25})
    unsure_reader = Reader(reader.encoder, unsure, reader.index, reader.knowledge, reader.thresholds)  # type: ignore[arg-type]
    reading = unsure_reader.read(text, previous_topic="pain")
    assert reading.topics == () and not reading.in_context
    assert unsure_reader.read(text + "?", previous_topic="pain").topics == ("pain",)  # a question leans


@pytest.mark.parametrize(("text", "language"), [("ok", "en"), ("got it", "en"), ("👍", "en"), ("vale", "es")])
def test_an_answer_taken_in_is_acknowledged_not_a_follow_up(reader: Reader, text: str, language: str) -> None:
    reading = reader.read(text, previous_topic="cost", language=language)
    assert reading.intent == "acknowledge" and not reading.in_context


@pytest.mark.parametrize(("text", "language"), [("for everyone?", "en"), ("¿para todos?", "es")])
def test_a_short_fragment_is_still_read_after_the_previous_question(
    reader: Reader, text: str, language: str
) -> None:
    reading = reader.read(text, previous_topic="results_timing", language=language)
    assert reading.topics == ("results_timing",) and reading.in_context


@pytest.mark.parametrize(
    ("previous", "text", "language"),
    [
        ("coffee_alcohol", "how many days?", "en"),  # alone: the number of sessions
        ("exercise", "for how long?", "en"),  # alone: the appointment's length
        ("washing_hair", "ok and how many hours?", "en"),
        ("side_effects", "how many days exactly?", "en"),
        ("coffee_alcohol", "¿cuántos días?", "es"),
        ("exercise", "¿y hasta cuándo?", "es"),
    ],
)
def test_a_bare_how_long_asks_about_the_topic_just_discussed(
    reader: Reader, previous: str, text: str, language: str
) -> None:
    reading = reader.read(text, previous_topic=previous, language=language)
    assert reading.topics == (previous,) and reading.in_context


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("how many sessions do I need?", "sessions"),  # names what it asks: a question of its own
        ("how long does the appointment take?", "procedure"),
    ],
)
def test_a_how_long_question_that_names_its_subject_is_its_own(reader: Reader, text: str, topic: str) -> None:
    reading = reader.read(text, previous_topic="coffee_alcohol", language="en")
    assert reading.topics == (topic,) and not reading.in_context


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("how many days?", True),
        ("And for how long should I wait?", True),
        ("¿Cuántas horas?", True),
        ("cuanto tiempo tengo que esperar", True),
        ("how many days after the treatment can I drink?", False),
        ("how long do results last", False),
        ("how much does it cost?", False),
    ],
)
def test_what_is_a_bare_how_long(text: str, bare: bool) -> None:
    assert bool(HOW_LONG_ALONE.match(opening(text))) is bare


@pytest.mark.parametrize("text", ["¿y cuánto tiempo duran?", "y cuanto duran?"])
def test_a_spanish_follow_up_points_back_without_a_pronoun(reader: Reader, text: str) -> None:
    # Spanish leaves out "they": "¿y cuánto duran?" after the side effects asks how long they last.
    followed = reader.read(text, previous_topic="side_effects", language="es")
    assert followed.topics == ("side_effects",) and followed.in_context
    # A clear new question still wins: the Spanish classifier's own clear-reading threshold.
    for new in ("y cuanto cuesta?", "¿y cuánto cuesta?"):
        assert reader.read(new, previous_topic="pain", language="es").topics == ("cost",)


def test_a_clear_new_question_wins_over_the_previous_topic(reader: Reader) -> None:
    assert reader.read("does it hurt?", previous_topic="cost").topics == ("pain",)
    outside = reader.read("what's the weather going to be like tomorrow?", previous_topic="cost")
    assert outside.intent == "out_of_scope"


def test_an_unknown_previous_topic_is_ignored(reader: Reader) -> None:
    assert reader.read("does it hurt?", previous_topic="no_such_topic").topics == ("pain",)


def test_an_unsure_reading_falls_back_with_the_nearest_topics(reader: Reader) -> None:
    reading = reader.read("and then what")
    assert reading.intent == FALLBACK_INTENT and reading.topics == ()
    assert len(reading.candidates) == 3 and all(-1 <= c.score <= 1 for c in reading.candidates)
    assert np.isclose(reading.confidence, max(conf for _, conf in reading.ranking))


def test_a_multi_answer_never_exceeds_three_topics(reader: Reader, knowledge: KnowledgeBase) -> None:
    text = "does it hurt? how much is it? when will I see results? how many sessions? is it safe?"
    reading = reader.read(text)
    assert 2 <= len(reading.topics) <= 3 and all(t in knowledge.topics for t in reading.topics)


@pytest.mark.parametrize("previous", ["washing_hair", "exercise"])
@pytest.mark.parametrize("text", ["I had it 12 hours ago", "had it yesterday", "yesterday at 4pm"])
def test_saying_when_after_an_aftercare_answer_answers_that_topic(
    reader: Reader, previous: str, text: str
) -> None:
    reading = reader.read(text, previous)
    assert reading.topics == (previous,) and reading.in_context


def test_saying_when_with_another_question_is_that_question(reader: Reader) -> None:
    assert reader.read("had it yesterday, and running tomorrow?", "washing_hair").topics == ("exercise",)
    assert reader.read("I had it 12 hours ago", "pain").topics != ("pain",)  # not an aftercare topic
