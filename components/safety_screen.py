"""The red-flag screen and personal-advice routing, inside the Rasa NLU pipeline.

It runs after the topic reader (components/topic_reader.py), so whatever it chose:

- a message that describes a possible serious complication becomes the ``emergency``
  intent. No confident FAQ intent can override it, and the rule for ``emergency``
  answers with the urgent reply. The classifier's own ``emergency`` prediction counts
  too, but only at ``classifier_confidence`` or above; below it the message becomes
  ``nlu_fallback``, one the classifier is unsure of;
- a patient asking about their own situation, when the classifier was unsure or chose a
  broad topic, gets the intent of the topic that answers the situation.

It changes only the intent: the actions read the same rules to name the red flags in the
reply's metadata and to add the personal-advice notice (``actions/reply.py``). Entities
would make every conversation test story list them.

The rules live in ``data/safety/`` (``bot/safety.py``) and are read when the model loads,
so a reviewed change to them needs a restart, not retraining.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.knowledge import FAQ_INTENT_PREFIX
from bot.safety import EMERGENCY_INTENT, SafetyRules, default_safety_rules


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyScreen(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyScreen:
        return cls(default_safety_rules())

    def __init__(self, rules: SafetyRules) -> None:
        self.rules = rules

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                self._screen(message, text)
        return messages

    def _screen(self, message: Message, text: str) -> None:
        predicted = message.get(INTENT) or {}
        intent = predicted.get(INTENT_NAME_KEY)
        confidence = float(predicted.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        if self.rules.screen(text).urgent:
            set_intent(message, EMERGENCY_INTENT)
            return
        if intent == EMERGENCY_INTENT:
            if confidence >= self.rules.classifier_confidence:
                return
            intent = DEFAULT_NLU_FALLBACK_INTENT_NAME
            set_intent(message, intent, confidence)
        advice = self.rules.personal_advice(text)
        topic = self.rules.answer_topic(advice, intent)
        if topic:
            set_intent(message, FAQ_INTENT_PREFIX + topic)


def set_intent(message: Message, name: str, confidence: float = 1.0) -> None:
    """Make ``name`` the message's intent, at the top of the ranking."""
    intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != name]
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
