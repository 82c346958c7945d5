"""The knowledge base: topics written from the source documents, loaded and validated.

Layout of ``data/faq/``:

- ``sources.yml``: the source documents, by id (S1-S5), with a patient-facing name.
- ``caveat.yml``: the evidence caveat and the layout every answer is delivered in.
- ``replies.yml``: what the actions say besides answers ("did you mean", no match).
- ``topics/<id>.yml``: one file per topic (id, title, question, answer, optional
  differences, sources).

Texts are in the first of the languages the bot serves (``LANGUAGES``, English); each other
language has its own block in the same file, keyed by its code (``es:``), with the same
fields: a topic's title, question, answer and differences, the caveat and layouts, every
reply, the sources' names. One file per subject, so a topic's facts are edited in every
language together, and a topic, reply or caveat that lacks a served language is refused.

Every problem found while loading is collected and reported at once, each naming the
file and entry it concerns, so a clinic editing the YAML sees everything to fix.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.clinic import CLINIC_FIELDS
from bot.settings import load_settings
from bot.training_data import read_intent_examples
from bot.yaml_files import InvalidData, read_yaml

FAQ_INTENT_PREFIX = "faq_"
MAX_ANSWER_CHARS = 600
MIN_EXAMPLES_PER_TOPIC = 15
TOPIC_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# A block of texts in another language ("es:"), served or not (LANGUAGES).
LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")
TOPIC_FIELDS = ("id", "title", "question", "answer", "sources")
OPTIONAL_TOPIC_FIELDS = ("differences",)
LAYOUT_PLACEHOLDERS = {"answer", "sources", "caveat"}
# A message that asks several questions (bot/reading.py) gets each answer in ``part_layout``,
# all of them in ``several_layout`` with the caveat once, at the end.
PART_LAYOUT_PLACEHOLDERS = {"title", "answer", "sources"}
SEVERAL_LAYOUT_PLACEHOLDERS = {"answers", "caveat"}


class KnowledgeBaseError(InvalidData):
    """The knowledge base or its NLU data is inconsistent."""

    summary = "knowledge base is invalid"


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    title: str


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    question: str
    answer: str
    sources: tuple[str, ...]
    differences: str = ""

    @property
    def intent(self) -> str:
        return FAQ_INTENT_PREFIX + self.id

    @property
    def full_answer(self) -> str:
        """The answer with where the sources disagree, as the patient reads it."""
        return f"{self.answer} {self.differences}".strip()


@dataclass(frozen=True)
class KnowledgeBase:
    topics: Mapping[str, Topic]
    sources: Mapping[str, Source]
    caveat: str
    layout: str
    part_layout: str
    several_layout: str
    intent_examples: Mapping[str, tuple[str, ...]]
    replies: Replies
    language: str = "en"
    # The same knowledge base in each other language served, by code.
    translations: Mapping[str, KnowledgeBase] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        return (self.language, *self.translations)

    def in_language(self, language: str | None) -> KnowledgeBase:
        """This knowledge base in ``language`` (a served one), else as it is."""
        if language is None or language == self.language:
            return self
        return self.translations.get(language, self)

    def topic(self, topic_id: str) -> Topic:
        return self.topics[topic_id]

    def topic_for_intent(self, intent: str | None) -> Topic | None:
        if not intent or not intent.startswith(FAQ_INTENT_PREFIX):
            return None
        return self.topics.get(intent[len(FAQ_INTENT_PREFIX) :])

    def canonical_questions(self, topic_id: str) -> tuple[str, ...]:
        """A topic's canonical question in each language served."""
        return tuple(kb.topics[topic_id].question for kb in (self, *self.translations.values()))

    def questions(self, topic_id: str) -> tuple[str, ...]:
        """The canonical questions and every training phrasing of a topic."""
        topic = self.topics[topic_id]
        return (*self.canonical_questions(topic_id), *self.intent_examples.get(topic.intent, ()))


def _text_problems(where: str, name: str, value: Any) -> list[str]:
    """Checks shared by every patient-facing text field."""
    if not isinstance(value, str) or not value.strip():
        return [f"{where}: '{name}' must be non-empty text"]
    problems = []
    if "\n\n" in value.strip():
        problems.append(f"{where}: '{name}' contains a blank line (channels would split the message)")
    if "{" in value or "}" in value:
        problems.append(f"{where}: '{name}' contains curly braces")
    return problems


def _language_block(data: Any, language: str, where: str, problems: list[str]) -> dict[str, Any]:
    """A file's (or entry's) block for ``language``; reported when missing."""
    block = data.get(language) if isinstance(data, dict) else None
    if not isinstance(block, dict):
        problems.append(f"{where}: no '{language}:' block, and the bot serves {language} (LANGUAGES)")
        return {}
    return block


def _load_sources(path: Path, problems: list[str], languages: Sequence[str]) -> dict[str, dict[str, Source]]:
    """The sources by id, in each language (only the name is translated)."""
    data = read_yaml(path, problems)
    entries = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        problems.append(f"{path}: needs a 'sources' mapping of id -> name and title")
        return {language: {} for language in languages}
    sources = {}
    for source_id, entry in entries.items():
        where = f"{path}: source '{source_id}'"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping with 'name' and 'title'")
            continue
        missing = [key for key in ("name", "title") if not entry.get(key)]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        sources[str(source_id)] = Source(str(source_id), str(entry["name"]), str(entry["title"]))
    by_language = {languages[0]: sources}
    for language in languages[1:]:
        names = _language_block(data, language, str(path), problems)
        translated = {}
        for source_id, source in sources.items():
            name = names.get(source_id)
            if not isinstance(name, str) or not name.strip():
                if names:
                    problems.append(f"{path}: '{language}:' has no name for source '{source_id}'")
                continue
            translated[source_id] = replace(source, name=name.strip())
        by_language[language] = translated
    return by_language


@dataclass(frozen=True)
class Layouts:
    """How answers are laid out (``caveat.yml``): one answer, and several in one message."""

    caveat: str
    layout: str
    part_layout: str
    several_layout: str


def _layout(path: Path, name: str, value: Any, expected: set[str], problems: list[str]) -> str:
    if not isinstance(value, str) or "\n\n" in value:
        problems.append(f"{path}: '{name}' must be text without blank lines")
        return ""
    placeholders = {field for _, field, _, _ in string.Formatter().parse(value) if field}
    if placeholders != expected:
        problems.append(
            f"{path}: '{name}' must use exactly the placeholders {sorted(expected)}, "
            f"found {sorted(placeholders)}"
        )
    return value


def _caveat_from(data: dict[str, Any], path: Path, problems: list[str]) -> Layouts:
    caveat = data.get("caveat")
    problems.extend(_text_problems(str(path), "caveat", caveat))
    return Layouts(
        caveat=" ".join(str(caveat or "").split()),
        layout=_layout(path, "layout", data.get("layout"), LAYOUT_PLACEHOLDERS, problems),
        part_layout=_layout(path, "part_layout", data.get("part_layout"), PART_LAYOUT_PLACEHOLDERS, problems),
        several_layout=_layout(
            path, "several_layout", data.get("several_layout"), SEVERAL_LAYOUT_PLACEHOLDERS, problems
        ),
    )


def _load_caveat(path: Path, problems: list[str], languages: Sequence[str]) -> dict[str, Layouts]:
    data = read_yaml(path, problems)
    if not isinstance(data, dict):
        problems.append(f"{path}: needs 'caveat', 'layout', 'part_layout' and 'several_layout'")
        data = {}
    layouts = {languages[0]: _caveat_from(data, path, problems)}
    for language in languages[1:]:
        block = _language_block(data, language, str(path), problems)
        if block:
            layouts[language] = _caveat_from(block, Path(f"{path} ({language})"), problems)
    return layouts


@dataclass(frozen=True)
class Replies:
    """What the actions say besides topic answers (``replies.yml``)."""

    did_you_mean: str
    none_of_these: str
    no_match: str
    out_of_scope: str
    personal_advice: str
    # Templates with the clinic's details as {placeholders} (bot/clinic.py).
    emergency: str
    handoff: str
    suggested_topics: tuple[str, ...]
    # Messages the bot does not read (bot/messages.py): an empty one, and one over the limit
    # (a template with the limit, {max_chars}, and optionally the message's {length}).
    empty_message: str
    message_too_long: str
    # The Rasa server's own reply when the action server cannot answer (rasa_server/faults.py), and
    # the channels' when the conversation cannot be read or saved (channels/answering.py).
    unavailable: str
    # After the answers that fit in one message on a channel with a length limit, the titles
    # of the questions left unanswered ({titles}).
    also_asked: str
    # Feedback on an answer (bot/activity.py): the two buttons' titles, and the replies to a
    # press: thanks; sorry, with the topics and the clinic's details (a template); already
    # noted; and for a button that names no answer of this conversation.
    feedback_helpful: str
    feedback_not_helpful: str
    feedback_thanks: str
    feedback_sorry: str
    feedback_repeated: str
    feedback_unknown: str
    # Small talk (actions/small_talk.py), and the reply to a message in a language the bot does
    # not answer in (every served language's, one after the other).
    greet: str
    goodbye: str
    you_are_welcome: str
    anything_else: str  # to "ok", "got it": an answer taken in
    iamabot: str
    other_language: str


REPLY_TEXTS = (
    "did_you_mean",
    "none_of_these",
    "no_match",
    "out_of_scope",
    "personal_advice",
    "empty_message",
    "feedback_helpful",
    "feedback_not_helpful",
    "feedback_thanks",
    "feedback_repeated",
    "feedback_unknown",
    "greet",
    "goodbye",
    "you_are_welcome",
    "anything_else",
    "iamabot",
    "other_language",
)
REPLY_TEMPLATES = ("emergency", "handoff", "unavailable", "feedback_sorry")
# Placeholders of ``message_too_long``: the limit (required) and the message's length.
MESSAGE_LIMIT_FIELDS = ("max_chars", "length")


def template_problems(
    where: str, name: str, value: Any, known: Sequence[str] = CLINIC_FIELDS, required: Sequence[str] = ()
) -> list[str]:
    """A reply that may use ``known`` (by default the clinic's details), and nothing else, as
    placeholders, and must use every one of ``required``."""
    if not isinstance(value, str) or not value.strip():
        return [f"{where}: '{name}' must be non-empty text"]
    problems = []
    if "\n\n" in value.strip():
        problems.append(f"{where}: '{name}' contains a blank line (channels would split the message)")
    try:
        placeholders = {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}
    except ValueError as error:
        return [*problems, f"{where}: '{name}' has unbalanced braces ({error})"]
    unknown = sorted(placeholders - set(known))
    if unknown:
        problems.append(f"{where}: '{name}' uses unknown placeholders {unknown} (known: {', '.join(known)})")
    missing = [field for field in required if field not in placeholders]
    if missing:
        problems.append(f"{where}: '{name}' must say {', '.join('{' + field + '}' for field in missing)}")
    return problems


def _replies_from(
    data: dict[str, Any], where: str, problems: list[str], suggested: tuple[str, ...]
) -> Replies:
    for name in REPLY_TEXTS:
        problems.extend(_text_problems(where, name, data.get(name)))
    for name in REPLY_TEMPLATES:
        problems.extend(template_problems(where, name, data.get(name)))
    problems.extend(
        template_problems(
            where, "message_too_long", data.get("message_too_long"), MESSAGE_LIMIT_FIELDS, ("max_chars",)
        )
    )
    problems.extend(template_problems(where, "also_asked", data.get("also_asked"), ("titles",), ("titles",)))
    texts = {
        name: " ".join(str(data.get(name) or "").split())
        for name in (*REPLY_TEXTS, *REPLY_TEMPLATES, "message_too_long", "also_asked")
    }
    return Replies(suggested_topics=suggested, **texts)


def _load_replies(path: Path, problems: list[str], languages: Sequence[str]) -> dict[str, Replies]:
    """The replies in each language; the suggested topics are the same in all."""
    data = read_yaml(path, problems)
    if not isinstance(data, dict):
        problems.append(f"{path}: needs {', '.join(REPLY_TEXTS)} and suggested_topics")
        data = {}
    suggested = data.get("suggested_topics")
    if not isinstance(suggested, list) or not suggested:
        problems.append(f"{path}: 'suggested_topics' must be a list of topic ids")
        suggested = []
    topics = tuple(str(topic_id) for topic_id in suggested)
    replies = {languages[0]: _replies_from(data, str(path), problems, topics)}
    for language in languages[1:]:
        block = _language_block(data, language, str(path), problems)
        if block:
            replies[language] = _replies_from(block, f"{path} ({language})", problems, topics)
    return replies


def _topic_texts(
    data: dict[str, Any], where: str, problems: list[str], with_differences: bool | None
) -> dict[str, str] | None:
    """A topic's texts in one language (``with_differences``: whether the first language has
    them, which every other language must follow; None: the first language itself)."""
    local: list[str] = []
    for name in ("title", "question", "answer"):
        local.extend(_text_problems(where, name, data.get(name)))
    has_differences = "differences" in data
    if has_differences:
        local.extend(_text_problems(where, "differences", data["differences"]))
    if with_differences is not None and has_differences != with_differences:
        local.append(
            f"{where}: 'differences' must be {'given' if with_differences else 'left out'}, "
            "as in the first language"
        )
    problems.extend(local)
    if local:
        return None
    return {
        "title": str(data["title"]).strip(),
        "question": str(data["question"]).strip(),
        "answer": " ".join(str(data["answer"]).split()),
        "differences": " ".join(str(data.get("differences", "")).split()),
    }


def _load_topic(
    path: Path, known_sources: Mapping[str, Source], problems: list[str], languages: Sequence[str]
) -> dict[str, Topic] | None:
    """A topic in each served language, by language; None when it has a problem."""
    data = read_yaml(path, problems)
    if not isinstance(data, dict):
        if data is not None:
            problems.append(f"{path}: must be a mapping of topic fields")
        return None
    where = f"{path}: topic '{data.get('id', path.stem)}'"
    local: list[str] = []
    missing = [name for name in TOPIC_FIELDS if data.get(name) in (None, "", [])]
    if missing:
        local.append(f"{where}: missing {', '.join(missing)}")
    blocks = {key for key in data if isinstance(key, str) and LANGUAGE_CODE.match(key)}  # other languages
    unknown_fields = sorted(set(data) - set(TOPIC_FIELDS) - set(OPTIONAL_TOPIC_FIELDS) - blocks)
    if unknown_fields:
        local.append(f"{where}: unknown fields {', '.join(unknown_fields)}")
    topic_id = data.get("id")
    if topic_id is not None and (not isinstance(topic_id, str) or not TOPIC_ID_PATTERN.match(topic_id)):
        local.append(f"{where}: id must be lower_snake_case")
    elif topic_id is not None and topic_id != path.stem:
        local.append(f"{where}: id must match the file name ({path.stem})")
    source_ids = data.get("sources") or []
    if not isinstance(source_ids, list):
        local.append(f"{where}: 'sources' must be a list of source ids")
        source_ids = []
    for source_id in source_ids:
        if source_id not in known_sources:
            local.append(f"{where}: unknown source id '{source_id}' (known: {', '.join(known_sources)})")
    if len(set(source_ids)) != len(source_ids):
        local.append(f"{where}: a source is listed twice")
    texts = {} if missing else {languages[0]: _topic_texts(data, where, local, None)}
    with_differences = "differences" in data
    for language in languages[1:]:
        block = _language_block(data, language, where, local)
        if block:
            texts[language] = _topic_texts(block, f"{where} ({language})", local, with_differences)
    problems.extend(local)
    if local:
        return None
    topics = {}
    for language, text in texts.items():
        assert text is not None  # a problem would have returned above
        topic = Topic(id=str(topic_id), sources=tuple(source_ids), **text)
        if len(topic.full_answer) > MAX_ANSWER_CHARS:
            problems.append(
                f"{where} ({language}): answer and differences are {len(topic.full_answer)} characters, "
                f"more than {MAX_ANSWER_CHARS}"
            )
        topics[language] = topic
    return topics


def load_knowledge_base(
    faq_dir: Path, nlu_dir: Path, languages: Sequence[str] | None = None
) -> KnowledgeBase:
    """Load and validate the knowledge base in every served language (``LANGUAGES``) and its
    NLU examples; raise on any problem."""
    languages = tuple(languages or load_settings().languages)
    problems: list[str] = []
    sources = _load_sources(faq_dir / "sources.yml", problems, languages)
    layouts = _load_caveat(faq_dir / "caveat.yml", problems, languages)
    replies = _load_replies(faq_dir / "replies.yml", problems, languages)
    topics: dict[str, dict[str, Topic]] = {language: {} for language in languages}
    topic_files = sorted((faq_dir / "topics").glob("*.yml"))
    if not topic_files:
        problems.append(f"{faq_dir / 'topics'}: no topic files found")
    for path in topic_files:
        loaded = _load_topic(path, sources[languages[0]], problems, languages)
        if loaded is None:
            continue
        topic_id = loaded[languages[0]].id
        if topic_id in topics[languages[0]]:
            problems.append(f"{path}: duplicate topic id '{topic_id}'")
            continue
        for language, topic in loaded.items():
            topics[language][topic_id] = topic

    # A topic file that failed to load is already reported: don't report it again as missing.
    first = topics[languages[0]]
    declared = set(first) | {path.stem for path in topic_files}
    for topic_id in replies[languages[0]].suggested_topics:
        if topic_id not in declared:
            problems.append(
                f"{faq_dir / 'replies.yml'}: suggested topic '{topic_id}' is not in the knowledge base"
            )
    intent_examples = read_intent_examples(nlu_dir, problems)
    for topic in first.values():
        count = len(intent_examples.get(topic.intent, ()))
        if count < MIN_EXAMPLES_PER_TOPIC:
            problems.append(
                f"{faq_dir / 'topics' / (topic.id + '.yml')}: topic '{topic.id}' has {count} NLU "
                f"examples for intent '{topic.intent}' in {nlu_dir}, needs at least {MIN_EXAMPLES_PER_TOPIC}"
            )
    for intent in intent_examples:
        if intent.startswith(FAQ_INTENT_PREFIX) and intent[len(FAQ_INTENT_PREFIX) :] not in declared:
            problems.append(
                f"{nlu_dir}: intent '{intent}' has no topic "
                f"(expected {faq_dir / 'topics' / (intent[len(FAQ_INTENT_PREFIX) :] + '.yml')})"
            )
    if problems:
        raise KnowledgeBaseError(problems)

    def in_language(language: str) -> KnowledgeBase:
        layout = layouts[language]
        return KnowledgeBase(
            topics=topics[language],
            sources=sources[language],
            caveat=layout.caveat,
            layout=layout.layout,
            part_layout=layout.part_layout,
            several_layout=layout.several_layout,
            intent_examples=intent_examples,
            replies=replies[language],
            language=language,
        )

    return replace(
        in_language(languages[0]),
        translations={language: in_language(language) for language in languages[1:]},
    )


@functools.lru_cache(maxsize=1)
def default_knowledge_base() -> KnowledgeBase:
    """The knowledge base at the configured location, loaded once per process."""
    settings = load_settings()
    return load_knowledge_base(settings.faq_dir, settings.nlu_dir)
