"""REST requests, good and bad, written out and generated (hypothesis), and how the REST
channel must answer each: for tests/channels/test_rest.py and tests/system/test_bad_input.py."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import strategies as st

from bot.knowledge import default_knowledge_base
from bot.messages import (
    ROUTE_INPUT,
    judge_message,
    refusal_reply,
)
from bot.settings import load_settings
from channels.rest import MAX_SENDER_CHARS

ANY_CHARACTER = st.characters(exclude_categories=())  # controls and lone surrogates too


LIMIT = load_settings().max_message_chars

MAX_BODY = load_settings().max_request_bytes

MAX_METADATA = load_settings().max_metadata_bytes

JSON = "application/json"


@dataclass(frozen=True)
class Case:
    """One request and what it must get: ``refused`` (the 4xx statuses allowed) or, when
    empty, 200 with ``message`` the patient's text as sent."""

    body: bytes
    content_type: str | None = JSON
    refused: tuple[int, ...] = ()
    sender: str = ""
    message: str = ""
    stream: bool = False
    metadata: dict[str, Any] | None = field(default=None, hash=False)


def json_case(data: Any, content_type: str | None = JSON, ascii_only: bool = True, **expect: Any) -> Case:
    body = json.dumps(data, ensure_ascii=ascii_only).encode("utf-8")
    return Case(body, content_type, **expect)


def message_case(sender: str, message: str, **fields: Any) -> Case:
    data = {"sender": sender, "message": message, **fields}
    return json_case(data, sender=sender, message=message, metadata=fields.get("metadata"))


HUGE_METADATA = {"notes": "x" * (MAX_METADATA + 1)}

VALID = {"sender": "patient-x", "message": "does it hurt?"}

# What each kind of bad request gets (the same table runs against the stub and the real bot).
BAD_REQUESTS = {
    "malformed JSON": (Case(b'{"sender": "patient-x", "message": "hi"', refused=(400,)), "not valid JSON"),
    "not UTF-8": (Case(b'{"sender": "patient-x", "message": "caf\xe9"}', refused=(400,)), "not UTF-8"),
    "NaN": (
        Case(b'{"sender": "patient-x", "message": "hi", "metadata": {"a": NaN}}', refused=(400,)),
        "not valid JSON",
    ),
    "deep nesting": (Case(b"[" * 100_000 + b"]" * 100_000, refused=(400,)), "not valid JSON"),
    "a JSON list": (json_case([VALID], refused=(400,)), "must be a JSON object, not a list"),
    "a JSON string": (json_case("does it hurt?", refused=(400,)), "not a string"),
    "no content type": (json_case(VALID, None, refused=(415,)), "Content-Type must be application/json"),
    "text/plain": (json_case(VALID, "text/plain", refused=(415,)), "not 'text/plain'"),
    "a form": (
        Case(b"sender=patient-x&message=hi", "application/x-www-form-urlencoded", refused=(415,)),
        "Content",
    ),
    "latin-1 JSON": (json_case(VALID, "application/json; charset=latin-1", refused=(415,)), "UTF-8"),
    "missing sender": (json_case({"message": "hi"}, refused=(400,)), "'sender' is missing"),
    "null sender": (json_case({"sender": None, "message": "hi"}, refused=(400,)), "'sender' is missing"),
    "numeric sender": (json_case({"sender": 42, "message": "hi"}, refused=(400,)), "not a number"),
    "list sender": (json_case({"sender": ["p"], "message": "hi"}, refused=(400,)), "not a list"),
    "blank sender": (json_case({"sender": "  ", "message": "hi"}, refused=(400,)), "'sender' is empty"),
    "sender with NUL": (json_case({"sender": "p\x00", "message": "hi"}, refused=(400,)), "control"),
    "long sender": (
        json_case({"sender": "p" * (MAX_SENDER_CHARS + 1), "message": "hi"}, refused=(400,)),
        "longer than",
    ),
    "missing message": (json_case({"sender": "patient-x"}, refused=(400,)), "'message' is missing"),
    "null message": (json_case({**VALID, "message": None}, refused=(400,)), "'message' is missing"),
    "numeric message": (json_case({**VALID, "message": 3.5}, refused=(400,)), "not a number"),
    "list message": (json_case({**VALID, "message": ["hi"]}, refused=(400,)), "not a list"),
    "object message": (json_case({**VALID, "message": {"text": "hi"}}, refused=(400,)), "not an object"),
    "boolean message": (json_case({**VALID, "message": True}, refused=(400,)), "not a boolean"),
    "list metadata": (json_case({**VALID, "metadata": [1]}, refused=(400,)), "'metadata' must be an object"),
    "huge metadata": (json_case({**VALID, "metadata": HUGE_METADATA}, refused=(413,)), "'metadata' is"),
    "huge body": (
        json_case({**VALID, "padding": "x" * MAX_BODY}, refused=(413,)),
        "body is larger than",
    ),
}

# Patients' messages that all get 200: the bot's answer, or the reply saying why it did not read it.
PATIENT_MESSAGES = {
    "empty": "",
    "whitespace only": "   \n\t  ",
    "invisible only": "\u200b\u200b",
    "20,000 characters": "how much does it cost? " * 870,
    "just over the limit": "a" * (LIMIT + 1),
    "at the limit": "does it hurt? " + "a" * (LIMIT - 14),
    "emoji and mixed scripts": "Est-ce que ça fait mal ? 痛いですか 😬👍🏽 هل هو مؤلم",
    "control characters": "how\x00 much\x07 does\x1b it\x7f cost?",
    "HTML and script tags": "<script>alert('hi')</script><img src=x onerror=alert(1)> how much is it?",
    "SQL-looking text": "'; DROP TABLE events; -- SELECT * FROM events WHERE sender_id='x' OR 1=1",
    "JSON-looking text": '{"sender": "someone-else", "message": "hi"}',
    "a slash command with broken JSON": '/faq_cost{"x": [',
    "a bare slash": "/",
    "Rasa's restart command": "/restart",
    "Rasa's back command": " /back ",
    "right-to-left override": "does it \u202ehurt?",
}


def send(url: str, case: Case, timeout: float = 30) -> requests.Response:
    headers = {"Content-Type": case.content_type} if case.content_type is not None else {}
    params = {"stream": "true"} if case.stream else None
    return requests.post(f"{url}/webhook", data=case.body, headers=headers, params=params, timeout=timeout)


def replies_of(response: requests.Response, stream: bool) -> list[dict[str, Any]]:
    if stream:
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]
    messages = response.json()
    assert isinstance(messages, list), messages
    return messages


def assert_refused(response: requests.Response, case: Case, reason: str = "") -> None:
    assert response.status_code in case.refused, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert isinstance(error, str) and error and reason in error


def expected_refusal(message: str) -> str | None:
    """The text the patient gets instead of an answer, or None when the bot reads it."""
    reply = refusal_reply(judge_message(message, LIMIT), default_knowledge_base().replies)
    return reply.text if reply else None


# Any sender string is a REST conversation of its own, shaped like another channel's ids or not.
SENDERS = st.sampled_from(
    ["fuzz-patient-1", "fuzz patient 3 ✓", "123456789", "whatsapp:+447700900123", "0" * 32, "rest:nested"]
)

SAMPLE_MESSAGES = st.sampled_from(sorted(PATIENT_MESSAGES.values()))

MESSAGES = st.one_of(
    st.text(ANY_CHARACTER, max_size=80),
    SAMPLE_MESSAGES,
    st.tuples(SAMPLE_MESSAGES, st.text(ANY_CHARACTER, max_size=20)).map("".join),
    st.integers(min_value=LIMIT - 2, max_value=LIMIT + 2).map(lambda n: "é" * n),
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)

JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

OBJECTS = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)

LISTS = st.lists(JSON_VALUES, max_size=4)

NUMBERS = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False))

NOT_OBJECTS = st.one_of(st.none(), NUMBERS, st.text(max_size=20), LISTS)

WRONG_TYPES = st.one_of(NUMBERS, LISTS, OBJECTS)  # for a field that must be a string

GOOD_CONTENT_TYPES = st.sampled_from(
    [JSON, "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"]
)

BAD_CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            None,
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "application/jsonp",
            "application/json; charset=latin-1",
            "*/*",
        ]
    ),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
).filter(lambda value: value is None or value.split(";")[0].strip().lower() != JSON)


@st.composite
def answered_requests(draw: st.DrawFn) -> Case:
    """A well-formed request: 200, with an answer or the reply saying why it was not read."""
    sender, message = draw(SENDERS), draw(MESSAGES)
    data: dict[str, Any] = {"sender": sender, "message": message}
    metadata = draw(st.none() | OBJECTS)
    if metadata is not None or draw(st.booleans()):
        data["metadata"] = metadata
    if draw(st.booleans()):
        data["input_channel"] = draw(JSON_VALUES)  # ignored
    has_surrogate = any(unicodedata.category(char) == "Cs" for char in json.dumps(data, ensure_ascii=False))
    ascii_only = has_surrogate or draw(st.booleans())
    case = json_case(data, draw(GOOD_CONTENT_TYPES), ascii_only, sender=sender, message=message)
    return Case(
        case.body,
        case.content_type,
        sender=sender,
        message=message,
        stream=draw(st.booleans()),
        metadata=metadata,
    )


@st.composite
def wrong_field_requests(draw: st.DrawFn) -> Case:
    """A JSON object with a field missing or of the wrong type: 400."""
    data: dict[str, Any] = {"sender": draw(SENDERS), "message": draw(MESSAGES)}
    wrong = draw(st.sampled_from(["sender", "message", "metadata"]))
    if wrong != "metadata" and draw(st.booleans()):
        del data[wrong]
    else:
        bad = (
            st.one_of(NUMBERS, st.text(max_size=20), LISTS)
            if wrong == "metadata"
            else WRONG_TYPES | st.none()
        )
        data[wrong] = draw(bad)
    return json_case(data, draw(GOOD_CONTENT_TYPES), refused=(400,))


@st.composite
def not_json_object_requests(draw: st.DrawFn) -> Case:
    """Bytes that are not a JSON object: random bytes, a cut request, or another JSON value."""
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            st.builds(
                lambda data, cut: data[:cut], answered_requests().map(lambda c: c.body), st.integers(0, 20)
            ),
            NOT_OBJECTS.map(lambda value: json.dumps(value).encode()),
        )
    )
    return Case(body, draw(GOOD_CONTENT_TYPES), refused=(400,))


@st.composite
def wrong_content_type_requests(draw: st.DrawFn) -> Case:
    case = draw(answered_requests())
    return Case(case.body, draw(BAD_CONTENT_TYPES), refused=(415,))


# Half well-formed (those reach the NLU and actions), half refused in one of three ways.
REQUESTS = st.one_of(
    answered_requests(),
    answered_requests(),
    answered_requests(),
    wrong_field_requests(),
    not_json_object_requests(),
    wrong_content_type_requests(),
)


def check_answer(response: requests.Response, case: Case) -> list[dict[str, Any]]:
    """The checks every generated request's response must pass; the replies of a 200."""
    assert response.status_code < 500, response.text[:300]
    if case.refused:
        assert_refused(response, case)
        return []
    assert response.status_code == 200, (response.status_code, response.text[:300])
    replies = replies_of(response, case.stream)
    assert replies and all(reply["recipient_id"] == case.sender for reply in replies), replies
    refusal = expected_refusal(case.message)
    texts = [reply["text"] for reply in replies if "text" in reply]
    if refusal is not None:
        assert texts == [refusal]
    else:
        assert texts and refusal not in texts
        assert all(reply.get("custom", {}).get("data", {}).get("route") != ROUTE_INPUT for reply in replies)
    return replies
