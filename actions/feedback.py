"""A patient's "helpful / not helpful" on an answer (bot/activity.py): thanks; or sorry, with
the suggested topics and the clinic's details; a repeated or unknown button is answered
calmly. The judgement travels in the reply's facts, which the Rasa server records once."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import send_with_suggested_topics
from actions.reply import clinic_details, knowledge_for, send_reply
from bot.activity import FEEDBACK_INTENTS, feedback_facts, judge_feedback
from bot.answers import ROUTE_INTENT, reply_custom

TOPIC_FEEDBACK = "feedback"


class ActionFeedback(Action):
    def name(self) -> str:
        return "action_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = knowledge_for(tracker)
        replies = knowledge.replies
        message_id = tracker.latest_message.get("message_id")
        judged = [f for f in judge_feedback(tracker.events) if f.message_id == message_id]
        if not judged:  # typed before any answer: there is none to judge
            intent = (tracker.latest_message.get("intent") or {}).get("name")
            helpful = FEEDBACK_INTENTS.get(str(intent), True)
            custom = reply_custom(
                TOPIC_FEEDBACK, ROUTE_INTENT, feedback={"helpful": helpful, "status": "unknown"}
            )
            send_reply(dispatcher, tracker, custom, text=replies.feedback_unknown)
            return []
        feedback = judged[-1]
        custom = reply_custom(TOPIC_FEEDBACK, ROUTE_INTENT, feedback=feedback_facts(feedback))
        if feedback.status == "unknown":
            send_reply(dispatcher, tracker, custom, text=replies.feedback_unknown)
        elif feedback.status == "repeated":
            send_reply(dispatcher, tracker, custom, text=replies.feedback_repeated)
        elif feedback.helpful:
            send_reply(dispatcher, tracker, custom, text=replies.feedback_thanks)
        else:
            text = replies.feedback_sorry.format(**clinic_details(tracker))
            send_with_suggested_topics(dispatcher, tracker, knowledge, text, custom)
        return []  # the topic just discussed stays: feedback is not a question
