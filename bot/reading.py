"""Reading a patient's message: which topics it asks about, in the light of the conversation.

One message is embedded once (``bot/embedding.py``); the same vector feeds the intent
classifier (``bot/classifier.py``) and the nearest-question search (``bot/retrieval.py``)
whose topics the fallback action offers. Each of the embedding's networks runs only when the
reading needs it: a Spanish message's classifier reads multilingual-e5-small alone, and an
English message is first read by a classifier on MiniLM alone (``first_look``), whose sure
reading of a topic spares the larger e5 network; the nearest questions, an out-of-scope or
unsure reading, and any reading it is not sure of use the whole vector. On top of the plain
reading:

- **Several questions in one message.** A message with parts that each read as a question
  ("does it hurt and how much does it cost?") is read part by part; every part read
  confidently as a topic is answered, up to ``MAX_TOPICS``, in the patient's order. A part
  that only makes sense after the one before it ("... and how long do they last?") is read
  in the light of that part's topic, as a follow-up is.
- **Follow-ups.** A message that leans on the previous answer (a short one, or one with
  words that point back: "how long do they last?" after the side effects, "would insurance
  cover that?" after the cost) weighs the previous topic ``context_weight`` times more
  than its own reading alone would. A clear new question ("does it hurt?" after the cost)
  still wins: its own topic is far more likely than the previous one. The previous topic
  comes from the conversation (the actions remember the last topic they answered);
  emergencies, out-of-scope questions and requests for a person leave none.

The thresholds are chosen on the dev sets (``make tune-reader``, docs/quality-and-speed.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.aftercare import AftercareRules, default_aftercare
from bot.classifier import ClassifierConfig, IntentClassifier, fit_together
from bot.embedding import LazyVectors, model_vectors
from bot.knowledge import FAQ_INTENT_PREFIX, KnowledgeBase
from bot.language import detect
from bot.retrieval import Candidate, Encoder, RetrievalIndex, build_index
from bot.safety import EMERGENCY_INTENT
from bot.treatment_time import mentions_time

# The intent Rasa's rules send to the fallback action (retrieval, did-you-mean, no-match).
FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
MAX_TOPICS = 3
# Words that point back to something said before ("how long do they last?").
POINTING_BACK = re.compile(
    r"\b(they|them|those|these|that|this|then|so|also|too|instead|either|again|afterwards?|"
    r"what about|how about|and if|and what|and how|and when|and can|and is|and do|and the|"
    # Spanish: "¿y cuánto duran?", "¿y eso?", "¿entonces?", "¿y si estoy amamantando?"
    r"eso|esto|esos|esas|estos|estas|ellos|ellas|entonces|tambi[eé]n|y si|y el|y la|y los|y las|"
    r"y qu[eé]|y c[oó]mo|y cu[aá]nd[oa]|y cu[aá]nt[oa]s?|y puedo|y se puede|qu[eé] tal|y para)\b",
    re.IGNORECASE,
)
# Within one message, what points back to the question before it ("what side effects are
# normal and how long do they last"): pronouns only; "also" and "and" join new questions.
POINTING_BACK_IN_MESSAGE = re.compile(
    r"\b(they|them|those|these|that|this|it all|eso|esto|esos|estos|esas|estas)\b", re.IGNORECASE
)
# Spanish leaves out the pronoun ("¿y cuánto duran?": how long do *they* last), so there a
# follow-up that opens with "y" and a question word points back as a pronoun would.
POINTING_BACK_ES = re.compile(
    r"^\W*y\s+(?:qu[eé]|c[oó]mo|cu[aá]nd[oa]|cu[aá]nt[oa]s?|d[oó]nde|por qu[eé]|para qu[eé])\b", re.IGNORECASE
)
# A bare question about a length of time ("how many days?", "for how long?", "¿cuántos días?"):
# it names nothing of its own, so after an answer it asks how long the thing just discussed
# lasts or must be waited for (a wait after alcohol, swelling, results), not a new topic.
HOW_LONG_ALONE = re.compile(
    r"^(?:and\s+|so\s+|y\s+|entonces\s+)?(?:for\s+|por\s+|durante\s+)?"
    r"(?:how\s+(?:many|much)\s+(?:more\s+)?(?:days|hours|weeks|nights|months|time)|how\s+long|"
    r"until\s+when|till\s+when|cu[aá]nt[oa]s\s+(?:d[ií]as|horas|semanas|noches|meses)|"
    r"cu[aá]nto\s+tiempo|hasta\s+cu[aá]ndo)"
    r"(?:\s+(?:exactly|roughly|more|then|after(?:wards)?|should i wait|do i (?:have to |need to )?wait|"
    r"m[aá]s|exactamente|entonces|despu[eé]s|(?:tengo|hay) que esperar|debo esperar))?\W*$",
    re.IGNORECASE,
)
# Spanish question words and verbs a question starts with (with and without accents).
_ES_QUESTION_WORD = r"qu[eé]|c[oó]mo|cu[aá]ndo|cu[aá]nt[oa]s?|d[oó]nde|qui[eé]n(?:es)?|cu[aá]l(?:es)?"
_ES_ASKING = (
    _ES_QUESTION_WORD + r"|por qu[eé]|"
    # A question word after its preposition: "¿para quién está indicada?", "¿desde cuándo existe?"
    r"(?:para|por|en|con|de|a|desde|hasta|sin)\s+(?:" + _ES_QUESTION_WORD + r")|"
    r"puedo|se puede|hay|es|son|duele|sirve|funciona|tengo que|debo|me pueden|pueden|"
    # Yes/no questions open with the verb and its pronoun: "¿me puedo lavar el pelo?"
    r"me (?:puedo|pueden|conviene|sirve)"
)
# Where one question ends and another begins within a message.
QUESTION_BREAK = re.compile(
    r"(?<=[?!.;])\s+|\s*[?;]\s*|,\s*(?:and\s+|also\s+|plus\s+)?(?=(?:what|how|when|where|why|who|which|"
    r"is|are|can|could|do|does|did|will|would|should|shall|am|any)\b)|"
    r"\s+(?:and|also|plus|as well as)\s+(?=(?:what|how|when|where|why|who|which|is|are|can|could|do|does|"
    r"did|will|would|should|shall|am|any|if|whether|the|i|my)\b)|"
    # Spanish: "¿duele? ¿cuánto cuesta?", "cuánto cuesta y si duele", "..., y cuándo veo resultados"
    r"\s*¿\s*|,\s*(?:y\s+|adem[aá]s\s+|tambi[eé]n\s+)?(?=(?:" + _ES_ASKING + r")\b)|"
    r"\s+(?:y|adem[aá]s|tambi[eé]n)\s+(?=(?:" + _ES_ASKING + r"|si)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReadingThresholds:
    """Probabilities the intent classifier must reach (chosen on the dev sets)."""

    answer: float = 0.45  # the message's top intent, to act on it
    part: float = 0.5  # each part of a message with several questions
    context_weight: float = 4.0  # how much more a follow-up weighs the previous topic
    own_reading: float = 0.8  # a reading this confident is no follow-up, even with a pronoun
    # The same for a language read by a classifier of its own, whose confidences run lower or
    # higher (language, threshold) pairs; the others use ``own_reading``.
    own_reading_by_language: tuple[tuple[str, float], ...] = ()
    # A reading below this whose topic the nearest questions do not confirm (their nearest
    # topic is another) is offered as a choice of the two, not answered; 0: never. Per
    # language as ``own_reading_by_language`` (config.yml: Spanish only).
    doubtful: float = 0.0
    doubtful_by_language: tuple[tuple[str, float], ...] = ()
    short_words: int = 6  # a message this short may lean on the context
    # A short message read as out of scope that gives the previous topic less than this by
    # itself is unrelated to it, no follow-up: related ones give it 0.15 or more ("is pilates
    # fine?" after exercise), unrelated ones 0.02 or less ("¿tienes novia?" after the pain).
    unrelated: float = 0.05
    short_part_words: int = 4  # a question this short, after another in one message, leans on it
    with_question: bool = True  # also read a follow-up after the previous topic's question
    # The first look's reading (``Reader.first_look``) is taken from this probability.
    first_look_sure: float = 0.8


@dataclass(frozen=True)
class Reading:
    """What the bot understood, for Rasa's rules and the actions."""

    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...]
    # The knowledge-base topics to answer, in the patient's order (empty unless ``intent``
    # is a topic's FAQ intent).
    topics: tuple[str, ...] = ()
    # The nearest knowledge-base questions to the whole message, one per topic: searched only
    # for a message the reader could not place (``FALLBACK_INTENT``) or read as out of scope.
    candidates: tuple[Candidate, ...] = ()
    # Read in the light of the previous topic (a follow-up).
    in_context: bool = False
    parts: int = 1
    # The reader doubts its reading: ``candidates`` (its own topic, then the nearest
    # questions' topic) are to be offered as a choice, not answered (``FALLBACK_INTENT``).
    choice: bool = False


# How a question part starts, when it does not end with a question mark: a question word,
# or a request worded as a statement ("tell me the price", "I'd like to know ...").
ASKING = re.compile(
    r"^(what|what's|whats|how|how's|when|where|why|who|which|is|isn't|are|aren't|can|could|do|does|"
    r"did|will|would|should|shall|am|any|has|have|whether|if|"
    r"(?:please\s+|can you\s+|could you\s+)?(?:tell|explain|let)\s+me\b|explain|"
    r"i'?d (?:like|love) to know|i (?:want|need|would like) to know|i wonder|i was wondering|"
    r"wondering|curious|" + _ES_ASKING + r"|si|dime|d[ií]game|expl[ií]que(?:me)?|quisiera saber|quiero saber|"
    r"quer[ií]a saber|necesito saber|quiero preguntar\w*|me gustar[ií]a saber|me preguntaba)\b",
    re.IGNORECASE,
)
# How a question about doing things after the treatment asks ("when can I ...", "is it OK
# to ...", "... afterwards"): a story that names activities ("I run every morning and
# live on coffee, how much is it?") asks no such thing.
ASKING_PERMISSION = re.compile(
    r"\b(when|how (?:long|soon)|can i|could i|may i|am i allowed|allowed|"
    r"is it (?:ok|okay|fine|safe|alright|bad)|"
    r"should i|after|afterwards|till|until)\b",
    re.IGNORECASE,
)
# A part may start with the word that joined it to the one before ("... ? and who does it").
JOINING = re.compile(
    r"^(?:and|also|plus|but|or|so|then|y|e|adem[aá]s|tambi[eé]n|pero|o|entonces)\s+", re.IGNORECASE
)


def question_parts(text: str) -> list[str]:
    """The questions a message asks, one string each. A part that asks nothing (``I'm 30
    and my skin looks tired``) belongs to the question after it, as its context."""
    questions: list[str] = []
    pending = ""
    position = 0
    for piece in QUESTION_BREAK.split(text):
        start = text.find(piece, position) if piece else position
        end = start + len(piece) if piece else position
        position = end
        closed = text[end : end + 3].lstrip().startswith("?")
        asks = closed or bool(ASKING.match(JOINING.sub("", piece.strip())))
        pending = f"{pending} {piece}".strip()
        # Two words make a question; in Spanish one does, between ¿ and ? ("¿duele?").
        opened = "¿" in text[max(0, start - 2) : start]
        if asks and (len(pending.split()) >= 2 or (opened and closed and pending)):
            questions.append(pending.strip(" ,;.!?"))
            pending = ""
    if pending and questions:
        questions[-1] = f"{questions[-1]} {pending}".strip(" ,;.!?")
    elif pending:
        questions.append(pending.strip(" ,;.!?"))
    return questions


# Words of reply a message may open with before its question ("ok, and how long does the
# appointment take", "vale, y cuánto dura la cita").
REPLY_WORDS = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|okey|oh|ah|aha|right|great|cool|nice|thanks|thank you|i see|alright|hmm+|"
    r"vale|ah vale|bueno|genial|perfecto|gracias|vaya|ya|de acuerdo|entiendo)\b[\s,.!]*)+",
    re.IGNORECASE,
)


def opening(text: str) -> str:
    """The message from its question's first word: without the words of reply before it
    ("ok, ..."), and without an opening "¿" or "¡"."""
    return REPLY_WORDS.sub("", text.strip()).lstrip("¿¡ ")


def asks(text: str) -> bool:
    """Whether a message asks something: a question mark, or a question's first words (after
    the words of reply: "ok and how long does it take"). "hahaha" or "cool" after an answer
    asks nothing, so it is no follow-up."""
    if "?" in text or "¿" in text:
        return True
    rest = opening(text)
    return bool(JOINING.match(rest) or ASKING.match(rest))


def _for_language(thresholds: Sequence[tuple[str, float]], language: str | None, default: float) -> float:
    """``language``'s own threshold among (language, threshold) pairs, else ``default``."""
    return dict(thresholds).get(language or "", default)


def leans_on_context(text: str, short_words: int) -> bool:
    return len(text.split()) <= short_words or bool(POINTING_BACK.search(text))


@dataclass
class _Scored:
    """One text's probabilities over the classifier's intents."""

    intents: tuple[str, ...]
    probabilities: np.ndarray

    @property
    def intent(self) -> str:
        return self.intents[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))

    @property
    def ranking(self) -> tuple[tuple[str, float], ...]:
        order = np.argsort(-self.probabilities)[:10]
        return tuple((self.intents[i], float(self.probabilities[i])) for i in order)

    def probability(self, intent: str) -> float:
        """The probability of ``intent`` (0 for an intent the classifier does not know)."""
        return float(self.probabilities[self.intents.index(intent)]) if intent in self.intents else 0.0

    def weighing(self, intent: str, weight: float, less_likely: Sequence[str] = ()) -> _Scored:
        """The probabilities with ``intent`` weighed ``weight`` times more and the
        ``less_likely`` intents ``weight`` times less, normalised."""
        if intent not in self.intents:
            return self
        weighed = self.probabilities.copy()
        weighed[self.intents.index(intent)] *= weight
        for other in less_likely:
            if other in self.intents:
                weighed[self.intents.index(other)] /= weight
        return _Scored(self.intents, weighed / weighed.sum())


def _scored(classifier: IntentClassifier, texts: Sequence[str], vectors: np.ndarray) -> list[_Scored]:
    return [_Scored(classifier.intents, row) for row in classifier.probabilities(texts, vectors)]


@dataclass(frozen=True)
class LanguageClassifier:
    """The classifier that reads one language's messages, fitted on the vector of one of the
    embedding's models alone (``model``): multilingual-e5-small reads Spanish better by
    itself than beside the English MiniLM (docs/languages.md)."""

    model: str
    classifier: IntentClassifier


@dataclass
class Reader:
    """Encoder, classifier and index together: ``read`` once per patient message.

    A message in a language of ``by_language`` is read by that language's classifier, any
    other by ``classifier``; both read the same vector, and the index is the same."""

    encoder: Encoder
    classifier: IntentClassifier
    index: RetrievalIndex
    knowledge: KnowledgeBase
    thresholds: ReadingThresholds = field(default_factory=ReadingThresholds)
    # Called with a network's name and the texts each time it runs (tests count the work).
    on_embed: Callable[[str, Sequence[str]], None] | None = None
    # Topics whose answer depends on when the treatment was (bot/aftercare.py): after one, a
    # message that says when ("I had it 12 hours ago") answers that topic's question.
    aftercare: AftercareRules = field(default_factory=default_aftercare)
    by_language: Mapping[str, LanguageClassifier] = field(default_factory=dict)
    # A classifier on one of the embedding's models alone that reads the messages
    # ``classifier`` reads (those of no language in ``by_language``) first: its reading, when
    # at least ``thresholds.first_look_sure`` and neither out of scope nor an emergency, is
    # taken, and the other networks are not run for it. On the English dev questions 78% of
    # the messages got such a reading (MiniLM's, at 0.8), each the same intent as the pair's.
    first_look: LanguageClassifier | None = None

    def _clear_at(self, language: str | None) -> float:
        """The probability at which a reading of a message in ``language`` counts as clear."""
        return _for_language(self.thresholds.own_reading_by_language, language, self.thresholds.own_reading)

    def _doubtful_at(self, language: str | None) -> float:
        """Below this probability a reading of a message in ``language`` is checked against
        the nearest questions."""
        return _for_language(self.thresholds.doubtful_by_language, language, self.thresholds.doubtful)

    def _says_when(
        self, text: str, scored: _Scored, previous_topic: str | None, language: str | None
    ) -> _Scored | None:
        """The previous topic, for a message that tells when the treatment was after a
        question whose answer depends on it, unless the message clearly asks something else."""
        if previous_topic not in self.aftercare.topics or not mentions_time(text):
            return None
        own = self._topic(scored.intent)
        if own is not None and own != previous_topic and scored.confidence >= self._clear_at(language):
            return None  # "I had it yesterday, does it hurt this much?": its own question
        if any(a.topic != previous_topic for a in self.aftercare.activities if a.words.search(text)):
            return None  # "and running tomorrow?" after washing: another topic's activity
        intent = self.knowledge.topic(previous_topic).intent
        return _Scored(scored.intents, np.array([1.0 if i == intent else 0.0 for i in scored.intents]))

    def _follow_up_intents(self) -> set[str]:
        """The intents a follow-up may turn into something else: topics and out of scope."""
        return {topic.intent for topic in self.knowledge.topics.values()} | {OUT_OF_SCOPE_INTENT}

    def _embed(self, texts: Sequence[str]) -> LazyVectors:
        return LazyVectors(self.encoder, texts, self.on_embed)

    def _score(self, texts: Sequence[str], vectors: LazyVectors, language: str | None) -> list[_Scored]:
        """Each text's probabilities, by the classifier of the language it is written in (for
        the pair's, the first look's where it is sure)."""
        own = self.by_language.get(language) if language is not None else None
        if own is not None:
            return _scored(own.classifier, texts, vectors.model(own.model))
        if self.first_look is None:
            return _scored(self.classifier, texts, vectors.whole())
        first = _scored(self.first_look.classifier, texts, vectors.model(self.first_look.model))
        if all(self._sure(scored) for scored in first):
            return first
        pair = _scored(self.classifier, texts, vectors.whole())
        return [f if self._sure(f) else p for f, p in zip(first, pair, strict=True)]

    def _sure(self, scored: _Scored) -> bool:
        """Whether the first look's reading is taken: sure, and of nothing whose reading the
        pair must make (out of scope, which also needs the nearest questions; an emergency)."""
        return scored.confidence >= self.thresholds.first_look_sure and scored.intent not in (
            OUT_OF_SCOPE_INTENT,
            EMERGENCY_INTENT,
        )

    def _topic(self, intent: str) -> str | None:
        topic = self.knowledge.topic_for_intent(intent)
        return topic.id if topic is not None else None

    def _follow_up(
        self,
        text: str,
        scored: _Scored,
        previous_topic: str | None,
        language: str | None,
        within_message: bool = False,
    ) -> _Scored | None:
        """``scored`` in the light of the previous topic, when ``text`` leans on it; else None.

        A pronoun that points back ("how long do they last?") reads the message after the
        previous topic's question, unless it has a clear reading of its own. Any other
        message that leans on the context (short, or "and ...", "what about ...") keeps its
        own reading when that is confident, the previous topic weighed more and "out of
        scope" less; when it is not, it too is read after the previous question, unless it
        is a short whole question of its own. A bare length of time ("how many days?",
        ``HOW_LONG_ALONE``) points back like a pronoun, and is read after the previous
        question however clearly it reads alone.

        Only a message that asks something is a follow-up ("hahaha" after the pain answer is
        not). A short one that neither points back nor joins on is not when it reads as out
        of scope and gives the previous topic almost nothing by itself ("do you have a
        girlfriend?" after the pain; "is swimming ok?" after exercise still is).
        """
        if previous_topic is None or previous_topic not in self.knowledge.topics:
            return None
        how_long = bool(HOW_LONG_ALONE.match(opening(text)))
        pointing = bool(POINTING_BACK_IN_MESSAGE.search(text) or POINTING_BACK_ES.search(text) or how_long)
        if within_message:
            if not (pointing or len(text.split()) <= self.thresholds.short_part_words):
                return None
        elif not (pointing or leans_on_context(text, self.thresholds.short_words)):
            return None
        previous = self.knowledge.topic(previous_topic)
        # Only by its length: it neither points back nor joins on ("and ...", "what about ...").
        by_length_only = not (pointing or POINTING_BACK.search(text) or JOINING.match(opening(text)))
        if not within_message and (
            not asks(text)
            or (
                by_length_only
                and scored.intent == OUT_OF_SCOPE_INTENT
                and scored.probability(previous.intent) < self.thresholds.unrelated
            )
        ):
            return None  # "hahaha" after an answer; "do you have a girlfriend?" after the pain
        if scored.confidence >= self.thresholds.answer and scored.intent not in self._follow_up_intents():
            return None  # a greeting, thanks or a request for a person is no follow-up
        # Within a conversation about a topic, a message that leans on it is less likely to
        # be a question from outside mesotherapy.
        weighed = scored.weighing(previous.intent, self.thresholds.context_weight, (OUT_OF_SCOPE_INTENT,))
        if within_message or not self.thresholds.with_question:
            return weighed
        own_reading_is_clear = scored.confidence >= self._clear_at(language)
        # A short question of its own ("what's the weather tomorrow?") is not read after the
        # previous question; a fragment is ("for everyone?" after the results).
        whole_question = by_length_only and bool(ASKING.match(opening(text)))
        # A bare "how many days?" is read after the previous question however clearly it
        # reads alone (as the number of sessions, say): alone, it asks about nothing.
        if how_long or (
            not whole_question
            and ((pointing and not own_reading_is_clear) or weighed.confidence < self.thresholds.answer)
        ):
            # The message as the patient meant it, after the question in its language.
            asked = self.knowledge.in_language(language).topic(previous.id).question
            contextual = f"{asked} {text}"
            after_question = self._score([contextual], self._embed([contextual]), language)[0].weighing(
                previous.intent, self.thresholds.context_weight, (OUT_OF_SCOPE_INTENT,)
            )
            if after_question.confidence >= self.thresholds.answer:
                return after_question
        return weighed

    def read(
        self,
        text: str,
        previous_topic: str | None = None,
        language: str | None = None,
        hint: str | None = None,
    ) -> Reading:
        """What ``text`` asks, after ``previous_topic`` (the topic just answered) in a
        conversation in ``language``: the message is read in the language it is written in
        (the conversation's, or the client's ``hint`` at its start, when the message alone
        cannot tell; bot/language.py), by that language's classifier, and a follow-up after
        that topic's question in that language."""
        written = detect(text, language, hint, served=self.knowledge.languages).language
        vectors = self._embed([text])
        whole = self._score([text], vectors, written)[0]
        follow_up = self._says_when(text, whole, previous_topic, written) or self._follow_up(
            text, whole, previous_topic, written
        )
        chosen = follow_up or whole
        # Read in context: the context changed the reading, or made a doubtful one sure.
        in_context = follow_up is not None and (
            follow_up.intent != whole.intent or whole.confidence < self.thresholds.answer
        )
        topics, parts = self._parts_topics(text, whole, written) if follow_up is None else ([], 1)
        if len(topics) >= 2 or (topics and parts >= 2 and self._unanswered(chosen)):
            # Several questions; or several parts of which one reads clearly while the whole
            # message does not ("is it OK while pregnant and does it hurt" is no out of scope).
            intent = FAQ_INTENT_PREFIX + topics[0]
            return Reading(intent, 1.0, chosen.ranking, tuple(topics), (), False, len(topics))
        # The nearest questions, for the replies that offer or report them: the fallback's
        # retrieval and did-you-mean, and the clinic's report of out-of-scope questions.
        if chosen.confidence < self.thresholds.answer:
            nearest = tuple(self.index.search(vectors.whole()[0]))
            return Reading(FALLBACK_INTENT, chosen.confidence, chosen.ranking, (), nearest)
        topic = self._topic(chosen.intent)
        if topic is not None and follow_up is None and chosen.confidence < self._doubtful_at(written):
            # A doubtful reading: the nearest questions must not point to another topic.
            ranked = self.index.search(vectors.whole()[0], limit=len(self.knowledge.topics))
            if ranked and ranked[0].topic != topic:
                own = next((c for c in ranked if c.topic == topic), None)
                offered = (own, ranked[0]) if own is not None else (ranked[0],)
                return Reading(FALLBACK_INTENT, chosen.confidence, chosen.ranking, (), offered, choice=True)
        return Reading(
            chosen.intent,
            chosen.confidence,
            chosen.ranking,
            (topic,) if topic else (),
            tuple(self.index.search(vectors.whole()[0])) if chosen.intent == OUT_OF_SCOPE_INTENT else (),
            in_context,
        )

    def _continues(
        self, previous_part: str, part: str, scored: _Scored, before: str, language: str | None
    ) -> bool:
        """Whether a short part without a clear reading of its own ("¿cuántos días?"), read
        after the part before it, asks more about that part's topic: a detail of the same
        question, not a new one. A longer part is a question of its own ("how long does it
        take?" after "does it hurt?")."""
        if (
            len(part.split()) > self.thresholds.short_part_words
            or scored.confidence >= self._clear_at(language)
            or POINTING_BACK_IN_MESSAGE.search(part)
        ):
            return False
        joined = f"{previous_part} {part}"
        reading = self._score([joined], self._embed([joined]), language)[0]
        return self._topic(reading.intent) == before and reading.confidence >= self._clear_at(language)

    def _unanswered(self, scored: _Scored) -> bool:
        """Whether a reading would leave the patient without a topic's answer."""
        return scored.confidence < self.thresholds.answer or scored.intent == OUT_OF_SCOPE_INTENT

    def _activity_topics(self, text: str, scored: _Scored, language: str | None) -> list[str]:
        """The aftercare topics of the activities a question names, in the patient's order,
        when it names the activities of more than one ("when can I go for a run, have a
        coffee or wash my hair?") and does not clearly ask about something else."""
        named = sorted(
            (match.start(), activity.topic)
            for activity in self.aftercare.activities
            if (match := activity.words.search(text))
        )
        topics = list(dict.fromkeys(topic for _, topic in named))
        if len(topics) < 2 or not ASKING_PERMISSION.search(text):
            return []
        if (
            self._topic(scored.intent) in self.aftercare.topics
            or scored.confidence < self.thresholds.answer
            or (scored.intent == OUT_OF_SCOPE_INTENT and scored.confidence < self._clear_at(language))
        ):
            return topics
        return []  # about another topic, or clearly from outside mesotherapy

    def _parts_topics(self, text: str, whole: _Scored, language: str | None) -> tuple[list[str], int]:
        """The topics of a message's questions, in order, and how many parts it has: each
        part read alone (after the part before it, when it points back), and a part that
        names several aftercare activities answered for each of their topics."""
        parts = question_parts(text)
        if len(parts) < 2:
            return self._activity_topics(text, whole, language)[:MAX_TOPICS], 1
        topics: list[str] = []
        before: str | None = None
        previous_part = ""
        for part, scored in zip(parts, self._score(parts, self._embed(parts), language), strict=True):
            follow_up = (
                self._follow_up(part, scored, before, language, within_message=True) if before else None
            )
            reading = follow_up or scored
            topic = self._topic(reading.intent)
            if before and topic != before and self._continues(previous_part, part, scored, before, language):
                continue  # "do I stop aspirin before? how many days?": still the first question
            previous_part = part
            activities = self._activity_topics(part, reading, language)
            if activities:
                topics.extend(t for t in activities if t not in topics)
                before = activities[-1]
                continue
            if topic is None or reading.confidence < self.thresholds.part:
                continue
            if topic not in topics:
                topics.append(topic)
            before = topic
        return topics[:MAX_TOPICS], len(parts)


def examples_with_questions(
    knowledge: KnowledgeBase, examples: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The training examples (text, intent), with each topic's canonical question added as
    an example of its intent (in every language) when it is not one already."""
    known = {text for text, _ in examples}
    return [
        *examples,
        *(
            (question, topic.intent)
            for topic in knowledge.topics.values()
            for question in knowledge.canonical_questions(topic.id)
            if question not in known
        ),
    ]


def train_reader(
    knowledge: KnowledgeBase,
    encoder: Encoder,
    examples: Sequence[tuple[str, str]],
    config: ClassifierConfig,
    thresholds: ReadingThresholds,
    by_language: Mapping[str, tuple[str, ClassifierConfig]] | None = None,
    first_look: tuple[str, ClassifierConfig] | None = None,
) -> Reader:
    """A reader trained on ``examples`` (text, intent): each text embedded once, the
    classifier fitted on the vectors, the index of the knowledge base's questions built
    from the same vectors. ``by_language`` names, for a language read by a classifier of its
    own, the embedding's model it reads and its settings; ``first_look`` the same for the
    classifier that reads the others first. Each is fitted on the same examples (every
    language's), on that model's part of the same vectors."""
    pairs = examples_with_questions(knowledge, examples)
    texts = [text for text, _ in pairs]
    intents = [intent for _, intent in pairs]
    vectors = encoder.encode(texts)
    own_models = [(language, model, settings) for language, (model, settings) in (by_language or {}).items()]
    if first_look is not None:
        own_models.append(("", *first_look))  # "": no language's, the first look
    classifier, *fitted = fit_together(
        [
            (config, texts, vectors, intents),
            *(
                (settings, texts, model_vectors(encoder, vectors, model), intents)
                for _, model, settings in own_models
            ),
        ]
    )
    own = {
        language: LanguageClassifier(model, own_classifier)
        for (language, model, _), own_classifier in zip(own_models, fitted, strict=True)
    }
    index = build_index(knowledge, encoder, known=dict(zip(texts, vectors, strict=True)))
    first = own.pop("", None)
    return Reader(encoder, classifier, index, knowledge, thresholds, by_language=own, first_look=first)
