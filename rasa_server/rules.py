"""Rasa's rule policy, finding the rules that apply without reparsing them.

Every turn of this bot is decided by a rule (``data/rules/``), and Rasa's ``RulePolicy``
predicts at least twice per message: the action that answers, then ``action_listen``. To
find the rules that apply, ``RulePolicy._get_possible_keys`` walks back through every state
of the conversation and, at each, parses every remaining rule from its JSON key again
(``_rule_key_to_state``). So the work grew with the conversation's length times the number of
rules: 8.7% of the Rasa server's busy time at 10 conversations of nine messages
(docs/quality-and-speed.md), though no rule here is longer than a few states.

- :func:`rule_states` parses each rule key once (the keys are fixed when the model is
  trained) and gives a new list each time, as Rasa's does.
- :func:`possible_keys` stops walking back once the conversation is longer than every rule
  still in question: Rasa's ``_is_rule_applicable`` holds for a rule at every turn beyond its
  length, so no later state can remove one. The rules it keeps are the ones Rasa's keeps.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy

State = dict[str, dict[str, Any]]

# The rules of the served model, and of the stories and rules a training checks: a few
# hundred keys at most here; the bound only stops an unusual model from growing it forever.
_PARSED_RULES = 4096


@lru_cache(maxsize=_PARSED_RULES)
def _parsed(rule_key: str) -> tuple[State, ...]:
    return tuple(json.loads(rule_key))


def rule_states(rule_key: str) -> list[State]:
    """``RulePolicy._rule_key_to_state``: the states of a rule, parsed once per key."""
    return list(_parsed(rule_key))


def possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[State]) -> set[str]:
    """``RulePolicy._get_possible_keys``: the keys of ``lookup`` whose rules apply to
    ``states``, with the walk back ended once every rule left is shorter than it."""
    keys = set(lookup)
    for turn, state in enumerate(reversed(states)):
        if all(turn >= len(_parsed(key)) for key in keys):
            break  # Rasa's _is_rule_applicable is true for each of them from here on
        keys = {key for key in keys if self._is_rule_applicable(key, turn, state)}
    return keys
