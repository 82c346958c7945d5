"""The red-flag screen and personal-advice detection, on the safety test sets in tests/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.knowledge import KnowledgeBase
from bot.safety import SafetyRules, SafetyRulesError, copy_without_patterns, load_safety_rules, normalise
from bot.settings import PROJECT_DIR
from tooling.evaluation import EMERGENCY, Question, classifier_rows, load_questions

TESTS_DIR = PROJECT_DIR / "tests"  # the question sets
SAFETY_DIR = PROJECT_DIR / "data" / "safety"
# Written blind to the rules, by someone who never saw data/safety/ (docs/safety.md); the
# Spanish ones too (the first blind run is in docs/languages.md), and the Spanish rules'
# own development set, written with them.
SAFETY_SETS = (
    "safety_questions.yml",
    "safety_questions_unseen.yml",
    "safety_questions_es.yml",
    "safety_questions_es_dev.yml",
)
MAX_FALSE_ALARMS = 0.05


def _split(questions: list[Question]) -> tuple[list[str], list[str]]:
    red = [q.text for q in questions if q.kind == EMERGENCY]
    look_alikes = [q.text for q in questions if q.kind != EMERGENCY]
    return red, look_alikes


@pytest.mark.parametrize("name", SAFETY_SETS)
def test_every_red_flag_escalated_and_few_look_alikes(
    name: str, safety_rules: SafetyRules, knowledge: KnowledgeBase
) -> None:
    red, look_alikes = _split(load_questions(TESTS_DIR / name, knowledge.topics))
    assert len(red) >= 40 and len(look_alikes) >= 40, "the set needs 40 red flags and 40 look-alikes"
    missed = [text for text in red if not safety_rules.screen(text).urgent]
    false_alarms = [text for text in look_alikes if safety_rules.screen(text).urgent]
    recall = 1 - len(missed) / len(red)
    false_alarm_rate = len(false_alarms) / len(look_alikes)
    print(
        f"\n{name}: red flags escalated {len(red) - len(missed)}/{len(red)} (recall {recall:.3f}), "
        f"look-alikes escalated {len(false_alarms)}/{len(look_alikes)} (false alarms {false_alarm_rate:.3f})"
    )
    assert missed == [], f"red flags not escalated: {missed}"
    assert false_alarm_rate <= MAX_FALSE_ALARMS, f"look-alikes escalated: {false_alarms}"


@pytest.mark.parametrize(
    "name", ["dev_questions.yml", "heldout_questions.yml", "dev_questions_es.yml", "heldout_questions_es.yml"]
)
def test_the_evaluation_sets_agree_with_the_screen(
    name: str, safety_rules: SafetyRules, knowledge: KnowledgeBase
) -> None:
    red, others = _split(load_questions(TESTS_DIR / name, knowledge.topics))
    assert red, "the set has emergencies"
    assert [text for text in red if not safety_rules.screen(text).urgent] == []
    false_alarms = [text for text in others if safety_rules.screen(text).urgent]
    if name.endswith("_es.yml"):  # the Spanish sets were never tuned on: within the safety sets' limit
        assert len(false_alarms) / len(others) <= MAX_FALSE_ALARMS, false_alarms
    else:
        assert false_alarms == []


def test_every_red_flag_is_exercised_by_the_safety_set(
    safety_rules: SafetyRules, knowledge: KnowledgeBase
) -> None:
    red, _ = _split(load_questions(TESTS_DIR / SAFETY_SETS[0], knowledge.topics))
    fired = {flag for text in red for flag in safety_rules.screen(text).red_flags}
    assert fired == {flag.id for flag in safety_rules.red_flags}


@pytest.mark.parametrize(
    "text",
    [
        "what are the side effects?",
        "is bruising normal?",
        "will my scalp be red afterwards?",
        "can mesotherapy cause an infection?",
        "no fever or pus, just a bit pink, is that normal?",
        # A complexion that is dull and grey is what the skin treatment is sold for.
        "my skin looks grey and tired lately, would meso help",
        "my face has gone pale and tired since winter, does it brighten it?",
        "tengo la piel gris y apagada, ¿me ayudaría la meso?",
        "mi cara se ve pálida y cansada desde el invierno",
        # Numbing as what is done before injecting, not numbness.
        "do they numb you first?",
        "can they numb my scalp so it doesn't hurt?",
        "do you use something to numb the area",
        "numb cream beforehand?",
        "¿me adormecen la zona primero?",
        "¿usan algo para adormecer el cuero cabelludo?",
    ],
)
def test_general_side_effect_questions_are_not_emergencies(text: str, safety_rules: SafetyRules) -> None:
    assert not safety_rules.screen(text).urgent


@pytest.mark.parametrize(
    ("text", "red_flag"),
    [
        ("no fever but my lips are swelling up", "allergic_reaction"),
        (
            "how much is the next session? also my cheek has gone white and it really hurts",
            "skin_colour_change",
        ),
        ("I have chest pain", "chest_pain"),
        # Dull and grey with pain, or a dull grey colour, is still a colour change.
        (
            "the skin on my nose has gone dull and grey and it really hurts since the injection",
            "skin_colour_change",
        ),
        ("it's gone a dull grey colour round the injection point", "skin_colour_change"),
        (
            "my skin was dull and grey before, and since the session my lip has turned blue",
            "skin_colour_change",
        ),
        ("the area went dull and grey after the injection", "skin_colour_change"),
        ("la zona se puso gris y apagada después del pinchazo", "skin_colour_change"),
        ("la piel está pálida y fría", "skin_colour_change"),
        ("is it normal that I can't breathe properly since the injections?", "breathing"),
        # Numbness described, even beside numbing as an anaesthetic.
        ("they numb you first and now my lip is numb", "nerve_damage"),
        ("do they numb you? my cheek has been numb for 2 days", "nerve_damage"),
        ("my lip went numb after the injections", "nerve_damage"),
        ("¿me adormecen la zona? tengo el labio dormido desde hace 2 días", "nerve_damage"),
    ],
)
def test_a_described_red_flag_wins_over_anything_else_in_the_message(
    text: str, red_flag: str, safety_rules: SafetyRules
) -> None:
    screening = safety_rules.screen(text)
    assert screening.urgent
    assert red_flag in screening.red_flags


def test_normalise_drops_apostrophes_and_symbols() -> None:
    assert normalise("I CAN\u2019T  breathe!!  \u2014 help") == "i cant breathe!! - help"


def test_personal_questions_get_the_notice_and_general_ones_do_not(
    safety_rules: SafetyRules, knowledge: KnowledgeBase
) -> None:
    questions = load_questions(TESTS_DIR / "personal_advice_questions.yml", knowledge.topics)
    personal = [q for q in questions if q.personal]
    general = [q for q in questions if q.personal is False]
    assert len(personal) >= 30 and len(general) >= 20
    assert [q.text for q in personal if not safety_rules.personal_advice(q.text).situations] == []
    assert [q.text for q in general if safety_rules.personal_advice(q.text).situations] == []
    wrong_topic = [
        q.text
        for q in personal
        if (topic := safety_rules.personal_advice(q.text).topic) and topic not in q.expect
    ]
    assert wrong_topic == []


def test_a_personal_situation_replaces_only_an_unsure_or_broad_intent(safety_rules: SafetyRules) -> None:
    advice = safety_rules.personal_advice("I'm on warfarin, can I have it?")
    assert advice.situations == ("bleeding",)
    assert safety_rules.answer_topic(advice, "nlu_fallback") == "contraindications"
    assert safety_rules.answer_topic(advice, "faq_safety") == "contraindications"
    # A specific question keeps its answer; an out-of-scope one stays out of scope.
    assert safety_rules.answer_topic(advice, "faq_cost") is None
    assert safety_rules.answer_topic(advice, "out_of_scope") is None


# --- the rules' own checks ------------------------------------------------------------


@pytest.fixture
def safety_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "safety"
    shutil.copytree(SAFETY_DIR, copy)
    return copy


def _edit(path: Path, change: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in change.items():
        if key == "first_flag":
            data["red_flags"][0].update(value)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"first_flag": {"patterns": ["(unclosed"]}},
            "red flag 'breathing', pattern 1: is not a valid regular",
        ),
        ({"first_flag": {"patterns": ["x?"]}}, "red flag 'breathing', pattern 1: matches empty text"),
        ({"first_flag": {"id": "chest_pain"}}, "red flag 2: duplicate id 'chest_pain'"),
        ({"first_flag": {"name": ""}}, "red flag 'breathing': needs a name"),
        ({"first_flag": {"severity": "high"}}, "red flag 'breathing': unknown fields severity"),
        ({"negations": "no"}, "'negations' must be a list of words"),
        ({"classifier_confidence": 2}, "'classifier_confidence' must be a number above 0 and at most 1"),
    ],
)
def test_a_broken_red_flag_file_is_refused_naming_the_entry(
    safety_copy: Path, change: dict[str, object], message: str
) -> None:
    _edit(safety_copy / "red_flags.yml", change)
    with pytest.raises(SafetyRulesError) as raised:
        load_safety_rules(safety_copy)
    assert any(message in problem and "red_flags.yml" in problem for problem in raised.value.problems)


def test_a_situation_must_name_a_known_topic(safety_copy: Path, knowledge: KnowledgeBase) -> None:
    path = safety_copy / "personal_advice.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["situations"][0]["topic"] = "no_such_topic"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SafetyRulesError, match="situation 'pregnancy': topic 'no_such_topic'"):
        load_safety_rules(safety_copy, knowledge.topics)


def test_the_patternless_copy_matches_nothing_but_keeps_everything_else(tmp_path: Path) -> None:
    copy_without_patterns(SAFETY_DIR, tmp_path)
    rules = load_safety_rules(tmp_path)
    assert not rules.screen("my lips are swelling and I can't breathe").urgent
    assert rules.personal_advice("I'm pregnant, can I have it?").situations
    original = load_safety_rules(SAFETY_DIR)
    assert [f.id for f in rules.red_flags] == [f.id for f in original.red_flags]
    assert rules.classifier_confidence == original.classifier_confidence


def test_classifier_rows_count_escalations_per_threshold() -> None:
    questions = [
        Question("a", (EMERGENCY,)),
        Question("b", (EMERGENCY,)),
        Question("c", ("side_effects",)),
        Question("d", ("out_of_scope",)),
    ]
    [low, high] = classifier_rows(questions, [1.0, 0.6, 0.7, 0.0], [0.5, 0.9])
    assert (low.escalated, low.emergencies, low.false_alarms, low.others) == (2, 2, 1, 2)
    assert (high.escalated, high.false_alarms) == (1, 0)
