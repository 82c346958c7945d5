"""The knowledge base as shipped is complete and consistent; broken data fails loudly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bot.knowledge import MAX_ANSWER_CHARS, KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from bot.settings import PROJECT_DIR

# The topics issue #2 requires; the knowledge base may hold more.
REQUIRED_TOPICS = {
    "cost", "pain", "washing_hair", "exercise", "coffee_alcohol", "results_timing", "side_effects",
    "what_is", "how_it_works", "ingredients", "effectiveness_hair", "effectiveness_skin", "procedure",
    "sessions", "candidates", "contraindications", "preparation", "downtime", "permanence", "safety",
    "fda_approval", "prp_comparison", "alternatives", "choosing_provider", "history", "other_uses", "types",
}  # fmt: skip
# Where the sources disagree, the topic must say so instead of picking one claim.
DISPUTED_TOPICS = {
    "sessions",
    "results_timing",
    "pain",
    "effectiveness_hair",
    "effectiveness_skin",
    "history",
}

DataCopy = Callable[[], tuple[Path, Path]]


def test_every_required_topic_is_present(knowledge: KnowledgeBase) -> None:
    assert set(knowledge.topics) >= REQUIRED_TOPICS


def test_answers_fit_a_chat_bubble(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        assert 80 <= len(topic.full_answer) <= MAX_ANSWER_CHARS, topic.id


def test_disputed_topics_say_where_the_sources_differ(knowledge: KnowledgeBase) -> None:
    for topic_id in DISPUTED_TOPICS:
        topic = knowledge.topic(topic_id)
        assert topic.differences, topic_id
        assert len(topic.sources) >= 2, topic_id


def test_every_topic_rests_on_known_sources(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        assert topic.sources and set(topic.sources) <= set(knowledge.sources), topic.id


def test_every_topic_has_varied_training_phrasings(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        examples = knowledge.intent_examples[topic.intent]
        assert len({e.lower() for e in examples}) >= 15, topic.id


def test_domain_and_rules_cover_every_topic_intent(knowledge: KnowledgeBase) -> None:
    domain = yaml.safe_load((PROJECT_DIR / "domain.yml").read_text(encoding="utf-8"))
    domain_intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    ruled = set()
    for path in (PROJECT_DIR / "data" / "rules").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]:
            steps = rule["steps"]
            if len(steps) == 2 and steps[1].get("action") == "action_answer_faq":
                ruled.add(steps[0]["intent"])
    faq_intents = {topic.intent for topic in knowledge.topics.values()}
    assert faq_intents <= domain_intents
    assert faq_intents == ruled


def _rewrite(path: Path, **changes: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def _problems(faq_dir: Path, nlu_dir: Path) -> str:
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(faq_dir, nlu_dir)
    return str(error.value)


def test_unknown_source_id_names_file_and_topic(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    _rewrite(faq_dir / "topics" / "cost.yml", sources=["S1", "S9"])
    message = _problems(faq_dir, nlu_dir)
    assert "cost.yml" in message and "'cost'" in message and "S9" in message


def test_missing_field_names_file_and_field(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    _rewrite(faq_dir / "topics" / "pain.yml", answer=None)
    message = _problems(faq_dir, nlu_dir)
    assert "pain.yml" in message and "missing answer" in message


def test_duplicate_topic_id_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    (faq_dir / "topics" / "cost_copy.yml").write_text(
        (faq_dir / "topics" / "cost.yml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    message = _problems(faq_dir, nlu_dir)
    assert "cost_copy.yml" in message and "'cost'" in message


def test_topic_without_nlu_examples_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    new_topic = faq_dir / "topics" / "tattoos.yml"
    new_topic.write_text((faq_dir / "topics" / "cost.yml").read_text(encoding="utf-8"), encoding="utf-8")
    _rewrite(new_topic, id="tattoos")
    message = _problems(faq_dir, nlu_dir)
    assert "tattoos.yml" in message and "faq_tattoos" in message


def test_intent_without_topic_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    (nlu_dir / "extra.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: faq_unicorns\n  examples: |\n    - do unicorns get mesotherapy\n',
        encoding="utf-8",
    )
    message = _problems(faq_dir, nlu_dir)
    assert "faq_unicorns" in message and str(nlu_dir) in message


def test_blank_line_in_an_answer_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    _rewrite(faq_dir / "topics" / "exercise.yml", answer="First part.\n\nSecond part, sent on its own.")
    assert "blank line" in _problems(faq_dir, nlu_dir)


def test_over_long_answer_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    _rewrite(faq_dir / "topics" / "history.yml", answer="word " * 200)
    message = _problems(faq_dir, nlu_dir)
    assert "history.yml" in message and str(MAX_ANSWER_CHARS) in message


def test_layout_without_caveat_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    _rewrite(faq_dir / "caveat.yml", layout="{answer}\nSources: {sources}")
    message = _problems(faq_dir, nlu_dir)
    assert "caveat.yml" in message and "caveat" in message


def test_every_problem_is_reported_at_once(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    _rewrite(faq_dir / "topics" / "cost.yml", sources=["S7"])
    _rewrite(faq_dir / "topics" / "pain.yml", title=None)
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(faq_dir, nlu_dir)
    assert len(error.value.problems) == 2


def test_every_topic_says_the_same_in_spanish(knowledge: KnowledgeBase) -> None:
    spanish = knowledge.in_language("es")
    assert spanish.language == "es" and knowledge.in_language("en") is knowledge
    assert set(spanish.topics) == set(knowledge.topics)
    for topic_id, topic in knowledge.topics.items():
        translated = spanish.topic(topic_id)
        assert translated.sources == topic.sources and translated.intent == topic.intent
        assert translated.answer != topic.answer and translated.title != topic.title
        assert bool(translated.differences) == bool(topic.differences)
    assert spanish.caveat != knowledge.caveat and "FDA" in spanish.caveat
    assert set(spanish.sources) == set(knowledge.sources)
    assert spanish.replies.suggested_topics == knowledge.replies.suggested_topics


def test_a_topic_without_a_served_language_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    path = faq_dir / "topics" / "cost.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["es"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"cost.yml: topic 'cost': no 'es:' block"):
        load_knowledge_base(faq_dir, nlu_dir, ("en", "es"))
    assert "cost" in load_knowledge_base(faq_dir, nlu_dir, ("en",)).topics  # English alone serves


def test_a_spanish_reply_without_its_placeholder_is_refused(data_copy: DataCopy) -> None:
    faq_dir, nlu_dir = data_copy()
    path = faq_dir / "replies.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["es"]["also_asked"] = "También preguntó por otros temas."
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"replies.yml \(es\).*also_asked.*titles"):
        load_knowledge_base(faq_dir, nlu_dir, ("en", "es"))
