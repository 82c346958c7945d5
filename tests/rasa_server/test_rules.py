"""The rule policy's lookup of applicable rules (rasa_server/rules.py): the same rules as
Rasa's own, each rule key parsed once, and no walk back past the longest rule."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.training import load_data
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

import rasa_server.rules as rules
from bot.settings import PROJECT_DIR
from rasa_server.rules import State

ORIGINAL_KEYS = RulePolicy._get_possible_keys
ORIGINAL_STATES = RulePolicy.__dict__["_rule_key_to_state"]  # the staticmethod itself


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[RulePolicy, Domain]:
    """A rule policy trained on the project's rules, as `make train` trains it."""
    domain = Domain.load(str(PROJECT_DIR / "domain.yml"))
    trackers = load_data(str(PROJECT_DIR / "data" / "rules"), domain, augmentation_factor=0)
    storage = LocalModelStorage(Path(tmp_path_factory.mktemp("rules")))
    context = ExecutionContext(GraphSchema({}), "rules")
    config = {**RulePolicy.get_default_config(), "core_fallback_action_name": "action_no_match"}
    policy = RulePolicy.create(config, storage, Resource("rule_policy"), context)
    policy.train(trackers, domain)
    return policy, domain


def _conversations(domain: Domain, count: int, turns: int) -> list[list[str]]:
    """Random conversations of the domain's intents, the same ones on every run."""
    chooser = random.Random(7)  # noqa: S311 (a fixed sample of conversations, not a secret)
    return [[chooser.choice(domain.intents) for _ in range(turns)] for _ in range(count)]


def test_the_applicable_rules_are_rasas_at_every_turn_of_long_conversations(
    trained: tuple[RulePolicy, Domain], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, domain = trained
    compared = 0
    for intents in _conversations(domain, 12, 14):
        tracker = DialogueStateTracker.from_events(
            "patient",
            [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
            domain.slots,
        )
        for intent in intents:
            tracker.update(UserUttered("text", {"name": intent, "confidence": 1.0}))
            while True:
                monkeypatch.setattr(RulePolicy, "_get_possible_keys", ORIGINAL_KEYS)
                monkeypatch.setattr(RulePolicy, "_rule_key_to_state", ORIGINAL_STATES)
                expected = policy._find_action_from_rules(tracker, domain, False)
                monkeypatch.setattr(RulePolicy, "_get_possible_keys", rules.possible_keys)
                monkeypatch.setattr(RulePolicy, "_rule_key_to_state", staticmethod(rules.rule_states))
                assert policy._find_action_from_rules(tracker, domain, False) == expected
                states = policy._prediction_states(
                    tracker, domain, False, rule_only_data=policy._get_rule_only_data()
                )
                lookup = policy.lookup["rules"]
                assert rules.possible_keys(policy, lookup, states) == ORIGINAL_KEYS(policy, lookup, states)
                compared += 1
                action = expected[0] or "action_listen"
                tracker.update(ActionExecuted(action))
                if action == "action_listen":
                    break
    assert compared > 12 * 14  # an answer and a listen for most turns


def test_each_rule_key_is_parsed_once(
    trained: tuple[RulePolicy, Domain], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, _ = trained
    rules._parsed.cache_clear()
    parsed: list[str] = []
    loads = json.loads
    def counting(text: str) -> Any:
        parsed.append(text)
        return loads(text)

    monkeypatch.setattr(rules.json, "loads", counting)
    key = next(iter(policy.lookup["rules"]))
    first = rules.rule_states(key)
    first.append({"changed": {}})  # a caller's list is its own
    assert rules.rule_states(key) == loads(key) and parsed.count(key) == 1


def test_the_walk_back_ends_at_the_longest_rule_left(trained: tuple[RulePolicy, Domain]) -> None:
    policy, _ = trained
    checked: list[int] = []

    class Counting(RulePolicy):
        def _is_rule_applicable(self, rule_key: str, turn_index: int, conversation_state: State) -> bool:
            checked.append(turn_index)
            return bool(super()._is_rule_applicable(rule_key, turn_index, conversation_state))

    counting = Counting.__new__(Counting)
    counting.__dict__.update(policy.__dict__)
    states = [{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}] * 60
    longest = max(len(json.loads(key)) for key in policy.lookup["rules"])
    kept = rules.possible_keys(counting, policy.lookup["rules"], states)
    assert kept == ORIGINAL_KEYS(policy, policy.lookup["rules"], states)
    assert max(checked) < longest < 60
