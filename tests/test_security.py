"""Security and privacy (docs/security.md), tested on real servers where it matters.

- Rasa's HTTP API: not served in the default run; with ``RASA_API_TOKEN`` every request
  without the token is refused, and with it the API works.
- The widget's socket.io channel: a session id is bound to the tab that was given it (a
  token), a connection writes only into its own session, only configured pages may
  connect; REST replies only to the message posted.
- Logs: patients' words and contact details stay out of both servers' logs.

The channel's finer points run against the small echo bot of tests/test_widget.py; the rest
against the real bot (``running_bot``, free ports, the trained model). Each status code
asserted is the one Rasa 3.6.21 answers; the tests say why.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from bot.knowledge import KnowledgeBase
from bot.log_redaction import REDACTED, RedactingFilter, redact
from bot.servers import (
    DEFAULT_MODEL,
    LOGGING_CONFIG,
    MIN_API_TOKEN_LENGTH,
    BotAddress,
    ServerError,
    free_port,
    port_in_use,
    rasa_server,
    running_bot,
)
from bot.settings import PROJECT_DIR, Settings, load_settings
from bot.stores import ConversationStore
from channels.socketio import (
    OriginCheck,
    SessionSigner,
    WidgetChannelError,
    WidgetSocketIOInput,
    session_secret,
    widget_origins,
)
from tests.socketio_echo_server import ECHO
from tests.test_widget import WAIT_SECONDS, Patient, echo_server

# What a patient might write: a sentence no server has any reason to log, a phone number
# and an e-mail address.
SENTENCE = "Zebra orchids whisper beside the mauve lanterns"
PHONE = "+44 7700 900123"
EMAIL = "anna.patient@example.org"
PRIVATE = f"{SENTENCE}; call me on {PHONE} or write to {EMAIL}"
NEVER_LOGGED = (
    SENTENCE,
    "Zebra orchids",
    "mauve lanterns",
    "7700 900123",
    "7700900123",
    EMAIL,
    "anna.patient",
)


def _settings(**values: Any) -> Settings:
    return Settings(**values)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Settings read again from the environment in each test (monkeypatched there)."""
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


# --- redaction, hermetic ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        (f"call {PHONE} or {EMAIL}", "call [phone] or [email]"),
        ("whatsapp:+447700900123 wrote", "whatsapp:[phone] wrote"),
        ("(020) 7946 0958 and 06.12.34.56.78", "[phone] and [phone]"),
        ("GET /conversations/x/tracker?token=abc123&include_events=ALL", f"?token={REDACTED}&include"),
        ("[SQL: INSERT INTO t]\n[parameters: ('s', '{\"text\": \"hi\"}')]", f"[parameters: {REDACTED}]"),
        (
            "io.py:100: UserWarning: Failed to parse arguments in line '/my son is 4'. Expected the intent "
            "to be one of [['greet']] but found my son is 4.Continuing with given line as user text.",
            f"Failed to parse arguments in line '{REDACTED}'",
        ),
        ("Parsed an entity 'my name' which is not defined in the domain.", f"entity '{REDACTED}' which"),
    ],
)
def test_contact_details_and_quoted_words_are_redacted(logged: str, expected: str) -> None:
    redacted = redact(logged)
    assert expected in redacted
    secrets_in_it = ("7700", "7946", "anna", "abc123", '"hi"', "son is", "my name")
    assert not any(secret in redacted for secret in secrets_in_it)


@pytest.mark.parametrize(
    "kept",
    [
        "Starting Rasa server on http://0.0.0.0:5005",
        "Loading model models/20261122-081010-calm-fox.tar.gz...",
        "on 2026-11-22 08:20:10, version 3.6.21, pid 12345, port 57417",
        "session 3f2a1234567890abcdef1234567890ab joined",
        "Refused a user_uttered event: it names a session other than the connection's.",
    ],
)
def test_ordinary_log_lines_are_kept(kept: str) -> None:
    assert redact(kept) == kept


def test_rasas_structured_events_lose_personal_fields_wherever_they_are() -> None:
    event = (
        '{"text": "' + PRIVATE + '", "event": "rest.message.received.failure", "level": "error", '
        '"exception": [{"exc_type": "TypeError", "exc_value": "no ' + EMAIL + '", '
        '"frames": [{"name": "receive", "locals": {"sender_id": "s1", "text": "' + SENTENCE + '"}}]}]}'
    )
    redacted = redact(event)
    assert not any(secret in redacted for secret in NEVER_LOGGED)
    assert '"event": "rest.message.received.failure"' in redacted and '"exc_type": "TypeError"' in redacted
    assert f'"text": "{REDACTED}"' in redacted and f'"locals": "{REDACTED}"' in redacted


def test_the_filter_redacts_a_records_arguments_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.security.filter")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"unknown address {EMAIL}")
        except ValueError:
            logger.exception("could not reach %s", PHONE)
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "could not reach [phone]" in written and "ValueError: unknown address [email]" in written
    assert "7700" not in written and EMAIL not in written


def test_logging_yml_installs_the_redaction_for_every_logger_and_warning() -> None:
    # A process of its own: the redaction, once installed, stays for the whole process.
    script = (
        "import logging, logging.config, warnings, yaml\n"
        f"logging.config.dictConfig(yaml.safe_load(open({str(LOGGING_CONFIG)!r})))\n"
        "logging.basicConfig(format='%(name)s %(message)s')\n"  # a handler added afterwards
        f"logging.getLogger('rasa.core.channels.rest').error('from %s', {PHONE!r})\n"
        f"warnings.warn('write to {EMAIL}')\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    assert "rasa.core.channels.rest from [phone]" in done.stderr and "write to [email]" in done.stderr
    assert "7700" not in done.stderr and EMAIL not in done.stderr
    assert yaml.safe_load(LOGGING_CONFIG.read_text(encoding="utf-8"))["disable_existing_loggers"] is False


# --- sessions, origins and settings, hermetic -------------------------------------------------


def test_a_token_is_valid_only_for_its_own_session_id() -> None:
    signer = SessionSigner(b"s" * 32)
    first, second = signer.new_session(), signer.new_session()
    assert first != second
    assert signer.is_valid(first, signer.token(first))
    assert not signer.is_valid(first, signer.token(second))
    assert not signer.is_valid(first, None) and not signer.is_valid(first, "")
    assert not SessionSigner(b"t" * 32).is_valid(first, signer.token(first))  # another secret
    assert not signer.is_valid("patient-1", signer.token("patient-1".ljust(32, "0")))
    assert not signer.is_valid(None, signer.token(first))


def test_the_default_secret_is_made_once_and_kept_for_the_owner_only(tmp_path: Path) -> None:
    first = session_secret(_settings(session_secret=None), tmp_path)
    assert session_secret(_settings(session_secret=None), tmp_path) == first  # a restart, another worker
    assert session_secret(_settings(session_secret=None), tmp_path / "elsewhere") != first
    kept = tmp_path / "session-secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and len(first) >= 32
    assert sorted(path.name for path in tmp_path.iterdir()) == ["elsewhere", "session-secret"]  # no drafts


def test_a_configured_secret_is_used_and_a_short_one_refused(tmp_path: Path) -> None:
    configured = secrets.token_hex(32)
    assert session_secret(_settings(session_secret=configured), tmp_path) == configured.encode()
    assert not (tmp_path / "session-secret").exists()
    with pytest.raises(WidgetChannelError, match="SESSION_SECRET is too short"):
        session_secret(_settings(session_secret="short"), tmp_path)  # noqa: S106


def test_the_channel_refuses_to_start_with_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_SECRET", "too-short")
    with pytest.raises(WidgetChannelError, match="SESSION_SECRET"):
        WidgetSocketIOInput(session_persistence=True)
    monkeypatch.delenv("SESSION_SECRET")
    monkeypatch.setenv("WIDGET_ORIGINS", "https://www.clinic.example, clinic.example")
    load_settings.cache_clear()
    with pytest.raises(WidgetChannelError, match=r"'clinic\.example' is not an origin"):
        WidgetSocketIOInput(session_persistence=True)


@pytest.mark.parametrize("bad", ["clinic.example", "https://clinic.example/chat", "ftp://clinic.example", ""])
def test_an_origin_is_a_scheme_and_a_host(bad: str) -> None:
    with pytest.raises(WidgetChannelError):
        widget_origins([bad])


def test_the_origin_check_allows_the_server_itself_and_the_configured_pages() -> None:
    check = OriginCheck(widget_origins(["https://www.clinic.example/", "http://localhost:8080"]))
    direct = {"HTTP_HOST": "bot.clinic.example", "wsgi.url_scheme": "http"}
    proxied = {"HTTP_HOST": "bot.clinic.example", "wsgi.url_scheme": "https"}  # X-Forwarded-Proto
    assert check("http://bot.clinic.example", direct) and check("https://bot.clinic.example", proxied)
    assert check("https://www.clinic.example", direct) and check("http://localhost:8080", direct)
    assert not check("https://bot.clinic.example", direct)  # the scheme is part of the origin
    for other in ("https://evil.example", "https://www.clinic.example.evil.example", "http://localhost:8081"):
        assert not check(other, direct)
    assert OriginCheck(widget_origins(["*"]))("https://evil.example", direct)


# --- the socket.io channel, against the echo bot ----------------------------------------------


@pytest.fixture
def widget_echo(tmp_path: Path) -> Iterator[str]:
    with echo_server("widget", tmp_path / "echo-server.log") as url:
        yield url


def _next_reply(patient: Patient) -> dict[str, Any]:
    return patient.replies.get(timeout=WAIT_SECONDS)


def test_a_session_id_without_its_own_token_gets_a_new_session(widget_echo: str) -> None:
    with Patient(widget_echo) as owner, Patient(widget_echo) as other:
        session = owner.start_session()
        elsewhere = other.start_session()
        assert session.token and len(session.token) == 64
        for token in (None, "", "0" * 64, elsewhere.token, session.token.upper()):
            offered = other.start_session(session.id, token)
            assert offered.id != session.id and offered.id != elsewhere.id
        assert other.resume(session) == session  # the id with its token: the same session


def test_someone_with_a_patients_session_id_gets_none_of_the_replies(widget_echo: str) -> None:
    with Patient(widget_echo) as patient, Patient(widget_echo) as intruder:
        session = patient.start_session()
        own = intruder.start_session(session.id)  # learned the id (a log, a screenshot), not the token
        assert own.id != session.id
        assert session.id not in intruder.rooms(widget_echo)
        patient.say("my private question", session.id)
        assert _next_reply(patient) == {"text": ECHO + "my private question"}
        # The intruder's first reply is the one to its own message: nothing of the patient's came before.
        intruder.say("anything?", own.id)
        assert _next_reply(intruder) == {"text": ECHO + "anything?"}


def test_a_connection_writes_only_into_its_own_session(widget_echo: str) -> None:
    with Patient(widget_echo) as patient, Patient(widget_echo) as intruder:
        session = patient.start_session()
        intruder.say("sent before asking for a session", session.id)
        own = intruder.start_session()
        intruder.say("written into the patient's conversation", session.id)  # Rasa's channel takes it
        intruder.say("written into its own", own.id)
        assert _next_reply(intruder) == {"text": ECHO + "written into its own"}
        patient.say("hello", session.id)
        assert _next_reply(patient) == {"text": ECHO + "hello"}  # the intruder's two never arrived
        intruder.client.emit("user_uttered", {"message": "no session named"})  # the connection's own
        assert _next_reply(intruder) == {"text": ECHO + "no session named"}


def test_a_connection_that_starts_another_session_leaves_the_old_ones_room(widget_echo: str) -> None:
    with Patient(widget_echo) as patient:
        first = patient.start_session()
        second = patient.start_session()
        rooms = patient.rooms(widget_echo)
        assert second.id in rooms and first.id not in rooms


def test_a_session_continues_on_another_server_process_with_the_same_secret(tmp_path: Path) -> None:
    shared = {"BOT_DATA_DIR": str(tmp_path / "shared")}
    with (
        echo_server("widget", tmp_path / "first.log", shared) as first,
        echo_server("widget", tmp_path / "second.log", shared) as second,
        echo_server("widget", tmp_path / "other.log", {"BOT_DATA_DIR": str(tmp_path / "other")}) as other,
    ):
        with Patient(first) as patient:
            session = patient.start_session()
        # Another worker, or the server after a restart: the secret kept in BOT_DATA_DIR.
        with Patient(second) as reconnected:
            assert reconnected.resume(session) == session
        # A server with another secret (another machine without a shared SESSION_SECRET).
        with Patient(other) as elsewhere:
            assert elsewhere.resume(session).id != session.id


def _connects(url: str, origin: str | None) -> bool:
    try:
        patient = Patient(url, origin)
    except socketio.exceptions.ConnectionError:
        return False
    with patient:
        return bool(patient.start_session().id)


@pytest.mark.parametrize(
    ("channel", "configured", "accepted", "refused"),
    [
        # Rasa's own channel: every page on every site may connect.
        ("rasa", "", ["own", "https://www.clinic.example", "https://evil.example"], []),
        # This one, by default: the server's own pages only (the widget at /webchat/).
        ("widget", "", ["own"], ["https://www.clinic.example", "https://evil.example"]),
        (
            "widget",
            "https://www.clinic.example",
            ["own", "https://www.clinic.example"],
            ["https://evil.example", "http://www.clinic.example", "https://clinic.example"],
        ),
    ],
)
def test_only_configured_pages_complete_the_websocket_handshake(
    channel: str, configured: str, accepted: list[str], refused: list[str], tmp_path: Path
) -> None:
    env = {"WIDGET_ORIGINS": configured}
    with echo_server(channel, tmp_path / "echo-server.log", env) as url:
        origin = {"own": url}
        assert [o for o in accepted if not _connects(url, origin.get(o, o))] == []
        assert [o for o in refused if _connects(url, origin.get(o, o))] == []
        assert _connects(url, None)  # no Origin header at all: not a browser, nothing to check


# --- helpers for the real bot ----------------------------------------------------------------


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


# --- the logs of both servers ------------------------------------------------------------------
# Before the real bot's module fixtures below: its own servers never run beside theirs.


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
            assert _next_reply(patient)
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


# --- the real bot ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotAddress]:
    """The bot as `make run` starts it, without RASA_API_TOKEN or WIDGET_ORIGINS."""
    _model()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("RASA_API_TOKEN", "WIDGET_ORIGINS"):
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
    assert not _connects(bot.rasa_url, "https://evil.example")
    with Patient(bot.rasa_url) as patient, Patient(bot.rasa_url) as intruder:
        session = patient.start_session()
        cost = knowledge.topic("cost").question
        assert intruder.start_session(session.id).id != session.id
        intruder.say(cost, session.id)  # refused: not the intruder's session
        patient.say("hello", session.id)
        assert _next_reply(patient)["text"] == _texts(_rest(bot, f"fresh-{uuid.uuid4().hex}", "hello"))[0]
    store = ConversationStore(Domain.empty())  # the database the servers share (BOT_DATA_DIR)
    tracker = asyncio.run(store.retrieve(session.id))
    assert tracker is not None
    assert [event.text for event in tracker.events if isinstance(event, UserUttered)] == ["hello"]
