"""The language of a patient's message, inside the Rasa NLU pipeline (bot/language.py).

It runs after the topic reader and before the red-flag screen. It adds ``language`` to the
parsed message: the served language to answer in (``en``, ``es``) or None for a message
clearly in another language, which then becomes the ``other_language`` intent (its rule
answers, in every served language, which languages the bot speaks). The red-flag screen
after it screens every message in every language, so an emergency still wins.

The conversation's language (the last one a message of the conversation was sure of)
arrives in the message's metadata (``conversation_language``, rasa_server/patches.py), and
the widget sends the browser's language (``lang``) as a hint.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.conversation import CONVERSATION_LANGUAGE_KEY, LANGUAGE_KEY, language_hint
from bot.language import OTHER_LANGUAGE_INTENT, detect, detector
from bot.settings import load_settings
from components.safety_screen import set_intent

METADATA = "metadata"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class LanguageReader(GraphComponent):
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
    ) -> LanguageReader:
        detector()  # the language models load with the model, not on a patient's first message
        return cls(load_settings().languages)

    def __init__(self, served: tuple[str, ...]) -> None:
        self.served = served

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text or text.startswith("/"):
                continue  # a button's payload says nothing of the language
            metadata = message.get(METADATA) or {}
            metadata = metadata if isinstance(metadata, dict) else {}
            found = detect(
                text, metadata.get(CONVERSATION_LANGUAGE_KEY), language_hint(metadata), served=self.served
            )
            message.set(
                LANGUAGE_KEY,
                {"language": found.language, "detected": found.code, "sure": found.sure},
                add_to_output=True,
            )
            if found.language is None:
                set_intent(message, OTHER_LANGUAGE_INTENT)
        return messages
