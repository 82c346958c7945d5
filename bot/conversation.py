"""What the bot remembers of a conversation between two messages: the topic just answered.

The actions keep it in the ``last_topic`` slot (cleared by every reply that is not a topic's
answer: an emergency, an out-of-scope question, a request for a person, a no-match). Before
the next message is read, the Rasa server passes it to the NLU in the message's metadata
(``rasa_server/patches.py``), so that the topic reader (``bot/reading.py``) reads a
follow-up in its light. A topic answered longer ago than ``CONTEXT_SECONDS`` is forgotten.
"""

LAST_TOPIC_SLOT = "last_topic"
PREVIOUS_TOPIC_KEY = "previous_topic"
CONTEXT_SECONDS = 30 * 60
# When the patient's treatment was, once they said it (bot/treatment_time.py, as a dict), and
# whether the bot has asked for it: it asks once per conversation.
TREATMENT_TIME_SLOT = "treatment_time"
ASKED_TIME_SLOT = "asked_treatment_time"
