"""The knowledge base: topics written from the source documents, loaded and validated.

Layout of ``data/faq/``:

- ``sources.yml``: the source documents, by id (S1-S5), with a patient-facing name.
- ``caveat.yml``: the evidence caveat and the layout every answer is delivered in.
- ``replies.yml``: what the actions say besides answers ("did you mean", no match).
- ``topics/<id>.yml``: one file per topic (id, title, question, answer, optional
  differences, sources).

Every problem found while loading is collected and reported at once, each naming the
file and entry it concerns, so a clinic editing the YAML sees everything to fix.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

    def topic(self, topic_id: str) -> Topic:
        return self.topics[topic_id]

    def topic_for_intent(self, intent: str | None) -> Topic | None:
        if not intent or not intent.startswith(FAQ_INTENT_PREFIX):
            return None
        return self.topics.get(intent[len(FAQ_INTENT_PREFIX) :])

    def questions(self, topic_id: str) -> tuple[str, ...]:
        """The canonical question and every training phrasing of a topic."""
        topic = self.topics[topic_id]
        return (topic.question, *self.intent_examples.get(topic.intent, ()))


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


def _load_sources(path: Path, problems: list[str]) -> dict[str, Source]:
    data = read_yaml(path, problems)
    entries = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        problems.append(f"{path}: needs a 'sources' mapping of id -> name and title")
        return {}
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
    return sources


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


def _load_caveat(path: Path, problems: list[str]) -> Layouts:
    data = read_yaml(path, problems)
    if not isinstance(data, dict):
        problems.append(f"{path}: needs 'caveat', 'layout', 'part_layout' and 'several_layout'")
        data = {}
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
)
REPLY_TEMPLATES = ("emergency", "handoff", "unavailable", "feedback_sorry")
# Placeholders of ``message_too_long``: the limit (required) and the message's length.
MESSAGE_LIMIT_FIELDS = ("max_chars", "length")


def _template_problems(
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


def _load_replies(path: Path, problems: list[str]) -> Replies:
    data = read_yaml(path, problems)
    if not isinstance(data, dict):
        problems.append(f"{path}: needs {', '.join(REPLY_TEXTS)} and suggested_topics")
        data = {}
    for name in REPLY_TEXTS:
        problems.extend(_text_problems(str(path), name, data.get(name)))
    for name in REPLY_TEMPLATES:
        problems.extend(_template_problems(str(path), name, data.get(name)))
    problems.extend(
        _template_problems(
            str(path), "message_too_long", data.get("message_too_long"), MESSAGE_LIMIT_FIELDS, ("max_chars",)
        )
    )
    problems.extend(
        _template_problems(str(path), "also_asked", data.get("also_asked"), ("titles",), ("titles",))
    )
    suggested = data.get("suggested_topics")
    if not isinstance(suggested, list) or not suggested:
        problems.append(f"{path}: 'suggested_topics' must be a list of topic ids")
        suggested = []
    texts = {
        name: " ".join(str(data.get(name) or "").split())
        for name in (*REPLY_TEXTS, *REPLY_TEMPLATES, "message_too_long", "also_asked")
    }
    return Replies(suggested_topics=tuple(str(topic_id) for topic_id in suggested), **texts)


def _load_topic(path: Path, known_sources: Mapping[str, Source], problems: list[str]) -> Topic | None:
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
    unknown_fields = sorted(set(data) - set(TOPIC_FIELDS) - set(OPTIONAL_TOPIC_FIELDS))
    if unknown_fields:
        local.append(f"{where}: unknown fields {', '.join(unknown_fields)}")
    topic_id = data.get("id")
    if topic_id is not None and (not isinstance(topic_id, str) or not TOPIC_ID_PATTERN.match(topic_id)):
        local.append(f"{where}: id must be lower_snake_case")
    elif topic_id is not None and topic_id != path.stem:
        local.append(f"{where}: id must match the file name ({path.stem})")
    for name in ("title", "question", "answer"):
        if name not in missing:
            local.extend(_text_problems(where, name, data[name]))
    if "differences" in data:
        local.extend(_text_problems(where, "differences", data["differences"]))
    source_ids = data.get("sources") or []
    if not isinstance(source_ids, list):
        local.append(f"{where}: 'sources' must be a list of source ids")
        source_ids = []
    for source_id in source_ids:
        if source_id not in known_sources:
            local.append(f"{where}: unknown source id '{source_id}' (known: {', '.join(known_sources)})")
    if len(set(source_ids)) != len(source_ids):
        local.append(f"{where}: a source is listed twice")
    problems.extend(local)
    if local:
        return None
    topic = Topic(
        id=str(topic_id),
        title=data["title"].strip(),
        question=data["question"].strip(),
        answer=" ".join(data["answer"].split()),
        sources=tuple(source_ids),
        differences=" ".join(str(data.get("differences", "")).split()),
    )
    if len(topic.full_answer) > MAX_ANSWER_CHARS:
        problems.append(
            f"{where}: answer and differences are {len(topic.full_answer)} characters, "
            f"more than {MAX_ANSWER_CHARS}"
        )
    return topic


def load_knowledge_base(faq_dir: Path, nlu_dir: Path) -> KnowledgeBase:
    """Load and validate the knowledge base and its NLU examples; raise on any problem."""
    problems: list[str] = []
    sources = _load_sources(faq_dir / "sources.yml", problems)
    layouts = _load_caveat(faq_dir / "caveat.yml", problems)
    replies = _load_replies(faq_dir / "replies.yml", problems)
    topics: dict[str, Topic] = {}
    topic_files = sorted((faq_dir / "topics").glob("*.yml"))
    if not topic_files:
        problems.append(f"{faq_dir / 'topics'}: no topic files found")
    for path in topic_files:
        topic = _load_topic(path, sources, problems)
        if topic is None:
            continue
        if topic.id in topics:
            problems.append(f"{path}: duplicate topic id '{topic.id}'")
            continue
        topics[topic.id] = topic

    # A topic file that failed to load is already reported: don't report it again as missing.
    declared = set(topics) | {path.stem for path in topic_files}
    for topic_id in replies.suggested_topics:
        if topic_id not in declared:
            problems.append(
                f"{faq_dir / 'replies.yml'}: suggested topic '{topic_id}' is not in the knowledge base"
            )
    intent_examples = read_intent_examples(nlu_dir, problems)
    for topic in topics.values():
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
    return KnowledgeBase(
        topics=topics,
        sources=sources,
        caveat=layouts.caveat,
        layout=layouts.layout,
        part_layout=layouts.part_layout,
        several_layout=layouts.several_layout,
        intent_examples=intent_examples,
        replies=replies,
    )


@functools.lru_cache(maxsize=1)
def default_knowledge_base() -> KnowledgeBase:
    """The knowledge base at the configured location, loaded once per process."""
    settings = load_settings()
    return load_knowledge_base(settings.faq_dir, settings.nlu_dir)
