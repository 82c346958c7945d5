"""The widget's socket.io channel (channels/socketio.py): signed sessions, checked origins,
settings; against a stand-in echo bot (tests/socketio_echo_server.py).
"""

from __future__ import annotations

import html
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.settings import PROJECT_DIR, Settings, load_settings
from bot.widget_words import default_widget_words
from channels.socketio import (
    LANGUAGE_SLOT,
    TITLE_SLOT,
    WIDGET_PATH,
    OriginCheck,
    SessionSigner,
    WidgetChannelError,
    WidgetSocketIOInput,
    session_secret,
    widget_origins,
    widget_pages,
    widget_url,
)
from tests.channels.widget_patients import WAIT_SECONDS, Patient, connects, echo_server, next_reply
from tests.socketio_echo_server import ECHO

pytestmark = pytest.mark.usefixtures("fresh_settings")


def _settings(**values: Any) -> Settings:
    return Settings(**values)


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
        assert next_reply(patient) == {"text": ECHO + "my private question"}
        # The intruder's first reply is the one to its own message: nothing of the patient's came before.
        intruder.say("anything?", own.id)
        assert next_reply(intruder) == {"text": ECHO + "anything?"}


def test_a_connection_writes_only_into_its_own_session(widget_echo: str) -> None:
    with Patient(widget_echo) as patient, Patient(widget_echo) as intruder:
        session = patient.start_session()
        intruder.say("sent before asking for a session", session.id)
        own = intruder.start_session()
        intruder.say("written into the patient's conversation", session.id)  # Rasa's channel takes it
        intruder.say("written into its own", own.id)
        assert next_reply(intruder) == {"text": ECHO + "written into its own"}
        patient.say("hello", session.id)
        assert next_reply(patient) == {"text": ECHO + "hello"}  # the intruder's two never arrived
        intruder.client.emit("user_uttered", {"message": "no session named"})  # the connection's own
        assert next_reply(intruder) == {"text": ECHO + "no session named"}


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
        assert [o for o in accepted if not connects(url, origin.get(o, o))] == []
        assert [o for o in refused if connects(url, origin.get(o, o))] == []
        assert connects(url, None)  # no Origin header at all: not a browser, nothing to check


# --- sessions and replies, against the echo bot ------------------------------------------------


@pytest.mark.parametrize(("channel", "joins"), [("rasa", False), ("widget", True)])
def test_only_the_fixed_channel_joins_the_sessions_room(channel: str, joins: bool, tmp_path: Path) -> None:
    with echo_server(channel, tmp_path / "echo-server.log") as url, Patient(url) as patient:
        session = patient.start_session()
        rooms = patient.rooms(url)
    # Rasa 3.6.21 calls the coroutine sio.enter_room without awaiting it (python-socketio
    # >= 5.10), so replies, sent to the session's room, reach no one. If this fails for
    # "rasa", Rasa was fixed (channels/socketio.py still binds sessions to their tab).
    assert (session.id in rooms) is joins


def test_replies_arrive_with_session_persistence_and_after_a_reload(widget_echo: str) -> None:
    url = widget_echo
    with Patient(url) as first:
        session = first.start_session()
        first.say("hello", session.id)
        assert first.replies.get(timeout=WAIT_SECONDS) == {"text": ECHO + "hello"}

    # A page reload: a new connection, the session id and token from storage.
    with Patient(url) as reloaded:
        assert reloaded.resume(session) == session
        reloaded.say("still there?", session.id)
        assert reloaded.replies.get(timeout=WAIT_SECONDS) == {"text": ECHO + "still there?"}


def test_a_session_id_the_server_did_not_make_is_replaced(widget_echo: str) -> None:
    url = widget_echo
    with Patient(url) as patient:
        made = patient.start_session()
        for chosen in ("patient-1", "", None, "A" * 32):
            session = patient.start_session(chosen, made.token)
            assert session.id != chosen and len(session.id) == 32 and int(session.id, 16) >= 0
        assert patient.resume(made) == made


def test_the_chat_page_comes_in_each_language_of_the_widgets_words() -> None:
    words = default_widget_words()
    template = (PROJECT_DIR / "web" / "index.html").read_text(encoding="utf-8")
    pages = widget_pages(template, words)
    assert set(pages) == set(words.languages) >= {"en", "es"}
    for language, page in pages.items():
        title = html.escape(words.languages[language]["pageTitle"])
        assert f'<html lang="{language}">' in page and f"<title>{title}</title>" in page
    for broken in (template.replace(TITLE_SLOT, ""), template.replace(LANGUAGE_SLOT, "<html>")):
        with pytest.raises(WidgetChannelError):
            widget_pages(broken, words)


def test_the_widget_files_are_served_and_nothing_else(widget_echo: str) -> None:
    url = widget_echo
    page = requests.get(widget_url(url), timeout=10)
    assert page.status_code == 200 and 'src="widget.js"' in page.text
    assert page.headers["Vary"] == "Accept-Language"
    in_spanish = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
    spanish = requests.get(widget_url(url), headers=in_spanish, timeout=10)
    title = html.escape(default_widget_words().languages["es"]["pageTitle"])
    assert '<html lang="es">' in spanish.text and f"<title>{title}</title>" in spanish.text
    bare = requests.get(f"{url}{WIDGET_PATH}", timeout=10, allow_redirects=False)
    assert bare.status_code in (301, 302) and bare.headers["Location"] == f"{WIDGET_PATH}/"
    for name in ("widget.js", "widget.css", "vendor/socket.io.min.js"):
        served = requests.get(f"{url}{WIDGET_PATH}/{name}", timeout=10)
        assert served.status_code == 200
        assert served.content == (PROJECT_DIR / "web" / name).read_bytes()
    for outside in ("../credentials.yml", "..%2fcredentials.yml", "%2e%2e/credentials.yml"):
        escaped = requests.get(f"{url}{WIDGET_PATH}/{outside}", timeout=10)
        assert escaped.status_code >= 400 and "socketio" not in escaped.text
