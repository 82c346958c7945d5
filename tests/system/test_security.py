"""Security of the running bot (docs/security.md): both servers' logs, Rasa's HTTP API, REST
and the widget on the real servers.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from bot.knowledge import KnowledgeBase
from bot.log_redaction import REDACTED
from bot.settings import load_settings
from rasa_server.stores import ConversationStore
from tests.channels.widget_patients import Patient, connects, next_reply
from tests.private_words import EMAIL, NEVER_LOGGED, PHONE, PRIVATE
from tooling.servers import (
    DEFAULT_MODEL,
    MIN_API_TOKEN_LENGTH,
    BotAddress,
    ServerError,
    free_port,
    port_in_use,
    rasa_server,
    running_bot,
)

pytestmark = pytest.mark.usefixtures("fresh_settings")


def _model() -> Path:
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    return DEFAULT_MODEL


def _rest(bot: BotAddress, sender: str, message: str, **params: str) -> list[dict[str, Any]]:
    body = {"sender": sender, "message": message}
    response = requests.post(bot.rest_url, json=body, params=params, timeout=60)
    response.raise_for_status()
    if params.get("stream"):  # one JSON message a line
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]
    replies: list[dict[str, Any]] = response.json()
    return replies


def _texts(replies: list[dict[str, Any]]) -> list[str]:
    return [reply["text"] for reply in replies if "text" in reply]


@pytest.mark.e2e
def test_patients_words_and_contact_details_stay_out_of_both_servers_logs(tmp_path: Path) -> None:
    _model()
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    with running_bot(BotAddress(rasa_port=free_port(), action_port=free_port()), log_dir=log_dir) as bot:
        # REST, as a patient would write; a messaging app's sender id is a phone number.
        assert _rest(bot, f"patient-{uuid.uuid4().hex}", PRIVATE)
        assert _rest(bot, f"whatsapp:{PHONE}", PRIVATE)
        # Typed with a leading "/": Rasa reads it as an intent and, at the default level,
        # warns with the whole message (the test's proof that the redaction is on).
        assert _rest(bot, f"patient-{uuid.uuid4().hex}", f"/{PRIVATE}")
        # Malformed REST input: Rasa's own REST channel logged the message with its error
        # (channels/rest.py now refuses these first).
        for body in ({"message": [PRIVATE]}, {"message": PRIVATE, "metadata": PRIVATE}):
            requests.post(bot.rest_url, json={"sender": f"patient-{uuid.uuid4().hex}", **body}, timeout=60)
        # The widget: a message, and one refused for naming another session.
        with Patient(bot.rasa_url) as patient:
            session = patient.start_session()
            patient.client.emit("user_uttered", {"message": PRIVATE, "session_id": uuid.uuid4().hex})
            patient.say(PRIVATE, session.id)
            assert next_reply(patient)
        # The action server logs an unknown action's name, which here carries contact details.
        call = {"next_action": f"{PHONE} {EMAIL}"}
        unknown = requests.post(f"{bot.action_url}/webhook", json=call, timeout=30)
        assert unknown.status_code == 404
    # Read once both servers have stopped: everything they wrote is in the files.
    logs = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in log_dir.iterdir()}
    assert sorted(logs) == ["action-server.log", "rasa-server.log"]
    leaks = {name: [s for s in NEVER_LOGGED if s in text] for name, text in logs.items()}
    assert leaks == {name: [] for name in logs}
    rasa, actions = logs["rasa-server.log"], logs["action-server.log"]
    # The servers still log their work, and the records that carried patient data are there, redacted.
    assert "Rasa server is up and running" in rasa and "Action endpoint is up and running" in actions
    assert f"Failed to parse arguments in line '{REDACTED}'" in rasa
    assert "Refused a user_uttered event: it names a session other than the connection's." in rasa
    assert "No registered action found for name '[phone] [email]'" in actions


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotAddress]:
    """The bot as `make run` starts it, without RASA_API_TOKEN, WIDGET_ORIGINS or ADMIN_TOKEN."""
    _model()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("RASA_API_TOKEN", "WIDGET_ORIGINS", "ADMIN_TOKEN"):
            patch.delenv(name, raising=False)
        load_settings.cache_clear()
        address = BotAddress(rasa_port=free_port(), action_port=free_port())
        with running_bot(address, log_dir=tmp_path_factory.mktemp("security-logs")):
            yield address


TOKEN = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Rasa server started with RASA_API_TOKEN set (one worker: it replaces its model)."""
    _model()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RASA_API_TOKEN", TOKEN)
        patch.setenv("SANIC_WORKERS", "1")
        load_settings.cache_clear()
        address = BotAddress(rasa_port=free_port(), action_port=free_port())
        with rasa_server(address, log_dir=tmp_path_factory.mktemp("api-logs")):
            yield address.rasa_url


# Rasa's HTTP API: reading a conversation, writing into one, parsing, replacing the model.
API_REQUESTS = [
    ("GET", "/conversations/{id}/tracker", None),
    ("POST", "/conversations/{id}/messages", {"text": "hello", "sender": "user"}),
    ("POST", "/model/parse", {"text": "hello"}),
    ("PUT", "/model", {"model_file": str(DEFAULT_MODEL)}),
]


def _call(url: str, method: str, path: str, body: Any, **params: str) -> requests.Response:
    target = url + path.format(id=f"patient-{uuid.uuid4().hex}")
    return requests.request(method, target, json=body, params=params, timeout=120)


def test_a_short_api_token_stops_the_servers_before_they_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_API_TOKEN", "x" * (MIN_API_TOKEN_LENGTH - 1))
    address = BotAddress(free_port(), free_port())
    for servers in (rasa_server(address, model=_model()), running_bot(address)):
        with pytest.raises(ServerError, match=r"The API token \(RASA_API_TOKEN\) is too short"), servers:
            pass
        assert not port_in_use(address.action_port) and not port_in_use(address.rasa_port)


@pytest.mark.e2e
def test_by_default_rasas_api_is_not_served(bot: BotAddress) -> None:
    # Without --enable-api Rasa mounts none of these routes: 404, as for any unknown path.
    statuses = {
        path: _call(bot.rasa_url, method, path, body).status_code for method, path, body in API_REQUESTS
    }
    assert statuses == dict.fromkeys(statuses, 404)


@pytest.mark.e2e
def test_without_an_admin_token_there_is_no_operator_page(bot: BotAddress) -> None:
    for path in ("/admin/", "/admin/report.json", "/admin/review.yml"):
        assert (
            requests.get(f"{bot.rasa_url}{path}", params={"token": "x" * 32}, timeout=10).status_code == 404
        )


@pytest.mark.e2e
def test_with_a_token_the_api_refuses_requests_without_it(api_server: str) -> None:
    # Rasa answers 401 NotAuthenticated both without a token and with a wrong one; its 403
    # is for JWT users whose role does not allow the request, and no JWT is configured.
    for method, path, body in API_REQUESTS:
        for params in ({}, {"token": secrets.token_urlsafe(32)}, {"token": TOKEN[:-1]}):
            response = _call(api_server, method, path, body, **params)
            assert (path, response.status_code) == (path, 401)
            assert response.json()["reason"] == "NotAuthenticated"


@pytest.mark.e2e
def test_with_the_token_the_api_works(api_server: str) -> None:
    sender = f"operator-check-{uuid.uuid4().hex}"
    written = requests.post(
        f"{api_server}/conversations/{sender}/messages",
        params={"token": TOKEN},
        json={"text": "hello", "sender": "user"},
        timeout=60,
    )
    assert written.status_code == 200
    with_token = {"token": TOKEN}
    tracker = requests.get(f"{api_server}/conversations/{sender}/tracker", params=with_token, timeout=60)
    assert tracker.status_code == 200 and tracker.json()["latest_message"]["text"] == "hello"
    parsed = requests.post(f"{api_server}/model/parse", params=with_token, json={"text": "hello"}, timeout=60)
    assert parsed.status_code == 200 and parsed.json()["intent"]["name"]
    replaced = requests.put(
        f"{api_server}/model", params={"token": TOKEN}, json={"model_file": str(DEFAULT_MODEL)}, timeout=300
    )
    assert replaced.status_code == 204


@pytest.mark.e2e
def test_rest_answers_only_the_message_posted_never_the_conversation(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    patient = f"patient-{uuid.uuid4().hex}"
    question = knowledge.topic("washing_hair").question
    answer = _texts(_rest(bot, patient, question))
    assert answer and knowledge.caveat in answer[-1]
    # Someone who knows the sender id posts into that conversation: the reply is only the
    # one to their own message, the same as in a new conversation; nothing of the patient's.
    fresh = _texts(_rest(bot, f"fresh-{uuid.uuid4().hex}", "hello"))
    for params in ({}, {"stream": "true"}):
        intruding = _rest(bot, patient, "hello", **params)
        assert _texts(intruding) == fresh
        assert not any(question in str(reply) or text in str(reply) for reply in intruding for text in answer)
    # REST has no route that reads: only POST /webhook (and GET / for health).
    assert requests.get(bot.rest_url, params={"sender": patient}, timeout=10).status_code == 405


@pytest.mark.e2e
def test_no_web_page_on_another_origin_may_read_rest_replies(bot: BotAddress) -> None:
    # The widget needs no cross-origin HTTP (its socket.io connection is a websocket), so
    # the Rasa server is started without --cors: no CORS headers, for any origin.
    for origin in ("https://evil.example", "https://www.clinic.example"):
        asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        preflight = requests.options(bot.rest_url, headers={"Origin": origin, **asks}, timeout=10)
        body = {"sender": f"patient-{uuid.uuid4().hex}", "message": "hello"}
        posted = requests.post(bot.rest_url, json=body, headers={"Origin": origin}, timeout=60)
        assert posted.status_code == 200
        assert [r.headers.get("Access-Control-Allow-Origin") for r in (preflight, posted)] == [None, None]


@pytest.mark.e2e
def test_the_real_servers_widget_channel_binds_sessions_and_checks_origins(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    assert not connects(bot.rasa_url, "https://evil.example")
    with Patient(bot.rasa_url) as patient, Patient(bot.rasa_url) as intruder:
        session = patient.start_session()
        cost = knowledge.topic("cost").question
        assert intruder.start_session(session.id).id != session.id
        intruder.say(cost, session.id)  # refused: not the intruder's session
        patient.say("hello", session.id)
        assert next_reply(patient)["text"] == _texts(_rest(bot, f"fresh-{uuid.uuid4().hex}", "hello"))[0]
    store = ConversationStore(Domain.empty())  # the database the servers share (BOT_DATA_DIR)
    tracker = asyncio.run(store.retrieve(session.id))
    assert tracker is not None
    assert [event.text for event in tracker.events if isinstance(event, UserUttered)] == ["hello"]
