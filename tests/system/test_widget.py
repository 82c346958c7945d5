"""The website chat widget (web/) as a patient uses it: a real Chromium, driven by Selenium,
on the real bot, and its own words (data/widget.yml) as the server serves them, also to a
clinic's own site. The channel's own tests are in tests/channels/test_socketio.py.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from bot.activity import conversation_key
from bot.aftercare import default_aftercare
from bot.answers import compose_answer, emergency_reply
from bot.clinic import default_clinic
from bot.knowledge import KnowledgeBase
from bot.settings import PROJECT_DIR, load_settings
from bot.widget_words import DEFAULT_LANGUAGE, default_widget_words
from channels.socketio import WIDGET_PATH, SessionSigner, session_secret, widget_url
from rasa_server import activity
from rasa_server.stores import ConversationStore, ConversationTable, conversations_url
from tooling.servers import (
    DEFAULT_MODEL,
    BotAddress,
    action_server,
    free_port,
    rasa_server,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = PROJECT_DIR / "results" / "widget.png"
ADMIN_SCREENSHOT = PROJECT_DIR / "results" / "admin.png"
ADMIN_TOKEN = secrets.token_urlsafe(24)
WAIT_SECONDS = 60  # an upper bound for a reply to arrive, never a measured time

# --- the widget in a real browser, on the real bot ---------------------------------------------

# A wording today's model leaves unsure and retrieval answers with "did you mean", even
# asked right after an answer: long enough not to be read as a follow-up of that answer.
DID_YOU_MEAN = "i keep seeing meso ads on instagram lately"
XSS = '<img src=x onerror="window.mesoXss=1"><b>bold</b>'


class ClinicSite(NamedTuple):
    """A web server on another origin, standing in for the clinic's website."""

    origin: str
    directory: Path  # what it serves
    requested: list[str]  # the paths asked for, in order


class _SiteHandler(SimpleHTTPRequestHandler):
    """Serves a directory quietly, noting each path asked for."""

    def __init__(self, *args: Any, requested: list[str], **kwargs: Any) -> None:
        self.requested = requested
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self.requested.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output stays the test's


@pytest.fixture(scope="module")
def clinic_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClinicSite]:
    directory = tmp_path_factory.mktemp("clinic-site")
    requested: list[str] = []
    handler = functools.partial(_SiteHandler, directory=str(directory), requested=requested)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ClinicSite(f"http://127.0.0.1:{server.server_address[1]}", directory, requested)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, clinic_site: ClinicSite) -> Iterator[BotAddress]:
    """Both servers, as a clinic runs them for its website (listed in WIDGET_ORIGINS)."""
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    log_dir = tmp_path_factory.mktemp("widget-logs")
    address = BotAddress(rasa_port=free_port(), action_port=free_port())
    site = {"WIDGET_ORIGINS": clinic_site.origin, "ADMIN_TOKEN": ADMIN_TOKEN}
    with action_server(address, log_dir), rasa_server(address, log_dir=log_dir, env=site):
        yield address


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    yield from _chromium(tmp_path)


@pytest.fixture
def spanish_browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A browser whose user prefers Spanish pages (its Accept-Language)."""
    yield from _chromium(tmp_path, accept_languages="es-ES,es")


def _chromium(tmp_path: Path, accept_languages: str | None = None) -> Iterator[webdriver.Chrome]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the widget's browser test needs Debian's Chromium, "
            "`apt-get install chromium chromium-driver` (.ci/run installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=760,1450",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    if accept_languages:
        options.add_experimental_option("prefs", {"intl.accept_languages": accept_languages})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _did_you_mean_buttons(bot: BotAddress) -> list[dict[str, str]]:
    """The buttons the bot offers for DID_YOU_MEAN, asked over REST."""
    reply = requests.post(
        bot.rest_url, json={"sender": f"probe-{uuid.uuid4()}", "message": DID_YOU_MEAN}, timeout=30
    ).json()
    offers = [m["buttons"] for m in reply if "buttons" in m]
    assert offers, f"today's model no longer answers {DID_YOU_MEAN!r} with 'did you mean': choose another"
    buttons: list[dict[str, str]] = offers[0]
    return buttons


class ChatPage:
    """The widget as a patient sees it (its elements live in a shadow root)."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver = driver
        self.url = url

    def open(self) -> None:
        self.driver.get(self.url)
        self.wait(lambda: self.panel().get_attribute("data-state") == "ready")

    def reload(self) -> None:
        self.driver.refresh()
        self.wait(lambda: self.panel().get_attribute("data-state") == "ready")

    def wait(self, condition: Callable[[], Any]) -> Any:
        def check(_: Any) -> Any:
            try:
                return condition()
            except (StaleElementReferenceException, WebDriverException):
                return False

        return WebDriverWait(self.driver, WAIT_SECONDS).until(check)

    def find(self, css: str) -> list[WebElement]:
        host = self.driver.find_element(By.CSS_SELECTOR, ".meso-chat-host")
        found: list[WebElement] = host.shadow_root.find_elements(By.CSS_SELECTOR, css)
        return found

    def panel(self) -> WebElement:
        return self.find(".meso-chat")[0]

    def messages(self) -> list[WebElement]:
        return self.find(".meso-msg:not(.meso-typing)")

    def texts(self) -> list[str]:
        return [text(message) for message in self.messages()]

    def stored_session(self) -> str:
        return self.stored("session")

    def stored(self, name: str) -> str:
        script = f"return JSON.parse(sessionStorage.getItem('mesochat.{name}'))"
        return str(self.driver.execute_script(script))

    def replies_with_metadata(self) -> list[WebElement]:
        return self.find(".meso-msg-bot[data-route]")

    def ask(self, message: str) -> WebElement:
        """Type and send ``message``; the bot's reply once its metadata has arrived."""
        before = len(self.replies_with_metadata())
        box = self.find(".meso-chat-input")[0]
        box.send_keys(message)
        self.find(".meso-chat-send")[0].click()
        reply: WebElement = self.wait(
            lambda: self.replies_with_metadata()[before:] and self.replies_with_metadata()[-1]
        )
        return reply

    def send(self, message: str) -> None:
        """Type and send ``message``; returns once any reply to it is shown."""
        before = len(self.find(".meso-msg-bot:not(.meso-typing)"))
        self.find(".meso-chat-input")[0].send_keys(message)
        self.find(".meso-chat-send")[0].click()
        self.wait(lambda: len(self.find(".meso-msg-bot:not(.meso-typing)")) > before)

    def placeholder(self) -> str:
        return str(self.find(".meso-chat-input")[0].get_attribute("placeholder"))

    def words_fetched(self) -> list[str]:
        """The language of each fetch of the widget's words since the page loaded."""
        script = (
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
            ".filter(function (name) { return name.indexOf('/words.json') >= 0; })"
            ".map(function (name) { return new URL(name).searchParams.get('lang'); });"
        )
        return [str(lang) for lang in self.driver.execute_script(script)]

    def assert_words(self, words: Mapping[str, str], lang: str) -> None:
        """The chat shows ``words`` (data/widget.yml) and says they are in ``lang``."""
        panel = self.panel()
        assert panel.get_attribute("lang") == lang
        assert text(self.find(".meso-chat-title")[0]) == panel.get_attribute("aria-label") == words["title"]
        box = self.find(".meso-chat-input")[0]
        assert box.get_attribute("placeholder") == box.get_attribute("aria-label") == words["placeholder"]
        assert text(self.find(".meso-chat-send")[0]) == words["sendLabel"]

    @staticmethod
    def assert_feedback(answer: WebElement, words: Mapping[str, str], lang: str) -> None:
        """The answer offers feedback in ``words``, marked as ``lang``."""
        group = _one(answer, ".meso-feedback")
        assert group.get_attribute("lang") == lang
        assert text(_one(group, ".meso-feedback-question")) == words["feedbackQuestion"]
        buttons = group.find_elements(By.CSS_SELECTOR, "button.meso-feedback-button")
        assert [text(b) for b in buttons] == [words["feedbackHelpful"], words["feedbackNotHelpful"]]

    def press(self, button: WebElement) -> WebElement:
        before = len(self.replies_with_metadata())
        button.click()
        reply: WebElement = self.wait(
            lambda: self.replies_with_metadata()[before:] and self.replies_with_metadata()[-1]
        )
        return reply


def text(element: WebElement) -> str:
    """What the element holds as text (textContent: not styled, never parsed as HTML)."""
    return str(element.get_property("textContent"))


def _one(element: WebElement, css: str) -> WebElement:
    [found] = element.find_elements(By.CSS_SELECTOR, css)
    return found


@pytest.mark.e2e
def test_a_patient_chats_in_the_widget(
    bot: BotAddress, browser: webdriver.Chrome, knowledge: KnowledgeBase
) -> None:
    page = ChatPage(browser, widget_url(bot.rasa_url))
    page.open()
    asked: list[str] = []

    # A question: the answer, its sources and, set apart, the caveat.
    topic = knowledge.topic("pain")
    answer = page.ask(topic.question)
    asked.append(topic.question)
    assert answer.get_attribute("data-topic") == topic.id
    assert text(_one(answer, ".meso-answer")) == topic.full_answer
    sources = text(_one(answer, ".meso-sources"))
    assert all(f"{sid} {knowledge.sources[sid].name}" in sources for sid in topic.sources)
    caveat = _one(answer, "aside.meso-caveat")
    assert text(caveat) == knowledge.caveat and caveat.get_attribute("role") == "note"
    assert knowledge.caveat not in text(_one(answer, ".meso-answer"))
    feedback = _one(answer, ".meso-feedback")
    assert text(answer) == compose_answer(knowledge, topic).text.replace("\n", "") + text(feedback)

    # "Did you mean": a button per topic; pressing one sends its payload.
    buttons = _did_you_mean_buttons(bot)
    offer = page.ask(DID_YOU_MEAN)
    asked.append(DID_YOU_MEAN)
    assert text(_one(offer, "p")) == knowledge.replies.did_you_mean
    choices = offer.find_elements(By.CSS_SELECTOR, "button.meso-choice")
    assert [(text(c), c.get_attribute("data-payload")) for c in choices] == [
        (b["title"], b["payload"]) for b in buttons
    ]
    chosen = knowledge.topic_for_intent(buttons[0]["payload"].lstrip("/"))
    assert chosen is not None
    answer = page.press(choices[0])
    asked.append(buttons[0]["payload"])
    assert answer.get_attribute("data-topic") == chosen.id
    assert text(_one(answer, "aside.meso-caveat")) == knowledge.caveat
    assert text(page.messages()[-2]) == buttons[0]["title"]  # the patient's side shows the title

    # A red flag: the urgent reply, unmistakable, announced, and without an answer or caveat.
    red_flag = "my lips are swelling up and I can't breathe properly"
    urgent = page.ask(red_flag)
    asked.append(red_flag)
    assert "meso-msg-urgent" in str(urgent.get_attribute("class")) and urgent.get_attribute("role") == "alert"
    said = " ".join(text(p) for p in urgent.find_elements(By.CSS_SELECTOR, "p"))
    assert said == emergency_reply(knowledge, default_clinic(), []).text
    assert not urgent.find_elements(By.CSS_SELECTOR, ".meso-caveat")
    background = "background-color"
    assert urgent.value_of_css_property(background) != answer.value_of_css_property(background)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    # Text is never HTML, whoever wrote it.
    page.send(XSS)
    asked.append(XSS)
    assert text(page.find(".meso-msg-patient")[-1]) == XSS
    assert page.find("img, b") == [] and browser.execute_script("return window.mesoXss") is None

    # A reload: the same conversation, shown again and continued, because the tab presents
    # the session's token the server gave it (channels/socketio.py); nothing in localStorage.
    shown = page.texts()
    session_id = page.stored_session()
    signer = SessionSigner(session_secret(load_settings()))  # the servers' secret, in BOT_DATA_DIR
    assert page.stored("sessionToken") == signer.token(session_id)
    page.reload()
    assert page.texts() == shown and page.stored_session() == session_id
    again = knowledge.topic("cost")
    assert page.ask(again.question).get_attribute("data-topic") == again.id
    asked.append(again.question)
    assert browser.execute_script("return window.localStorage.length") == 0

    store = ConversationStore(Domain.empty())  # the database the servers share (BOT_DATA_DIR)
    tracker = asyncio.run(store.retrieve(session_id))
    assert tracker is not None
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == asked


@pytest.mark.e2e
def test_feedback_in_the_widget_is_answered_stored_and_shown_on_the_operator_page(
    bot: BotAddress, browser: webdriver.Chrome, knowledge: KnowledgeBase
) -> None:
    page = ChatPage(browser, widget_url(bot.rasa_url))
    page.open()
    words = default_widget_words().widget_words(DEFAULT_LANGUAGE)
    answer = page.ask(knowledge.topic("sessions").question)
    group = _one(answer, ".meso-feedback")
    assert text(_one(group, ".meso-feedback-question")) == words["feedbackQuestion"]
    buttons = group.find_elements(By.CSS_SELECTOR, "button.meso-feedback-button")
    assert [text(b) for b in buttons] == [words["feedbackHelpful"], words["feedbackNotHelpful"]]
    sorry = page.press(buttons[1])
    assert text(sorry).startswith(knowledge.replies.feedback_sorry.split("{")[0].strip())
    assert text(page.messages()[-2]) == words["feedbackNotHelpful"]  # the patient's side: the title
    answered = page.messages()[-3]
    assert answered.get_attribute("data-topic") == "sessions"
    assert answered.find_elements(By.CSS_SELECTOR, ".meso-feedback") == []  # one answer, one feedback
    page.reload()
    assert page.messages()[-3].find_elements(By.CSS_SELECTOR, ".meso-feedback") == []

    key = conversation_key(page.stored_session())
    table = ConversationTable(conversations_url())  # the database the servers share (BOT_DATA_DIR)
    with table.engine.connect() as connection:
        stored = connection.execute(
            sa.select(
                activity.FEEDBACK.c.helpful, activity.FEEDBACK.c.topic, activity.FEEDBACK.c.channel
            ).where(activity.FEEDBACK.c.conversation == key)
        ).all()
    assert [tuple(row) for row in stored] == [(False, "sessions", "socketio")]

    # The operator page shows it: the report with the widget's feedback counted.
    browser.get(f"{bot.rasa_url}/admin/?token={ADMIN_TOKEN}")
    shown = browser.find_element(By.TAG_NAME, "body").text
    assert "Not helpful, by topic" in shown and knowledge.topic("sessions").title in shown
    figures = requests.get(
        f"{bot.rasa_url}/admin/report.json", params={"token": ADMIN_TOKEN}, timeout=30
    ).json()
    assert figures["feedback"]["by_topic"]["sessions"]["not_helpful"] >= 1
    assert figures["by_channel"]["socketio"] >= 2
    ADMIN_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ADMIN_SCREENSHOT))
    browser.get(f"{bot.rasa_url}/admin/")
    assert "ADMIN_TOKEN" in browser.find_element(By.TAG_NAME, "body").text  # 401, with the reason
    # A patient's session token never opens it.
    session_token = page.stored("sessionToken")
    refused = requests.get(f"{bot.rasa_url}/admin/", params={"token": session_token}, timeout=30)
    assert refused.status_code == 401


@pytest.mark.e2e
def test_a_spanish_conversation_in_the_widget_is_answered_and_labelled_in_spanish(
    bot: BotAddress, browser: webdriver.Chrome, knowledge: KnowledgeBase
) -> None:
    """The page is in English; the patient writes in Spanish: the answer is in Spanish and
    the widget's own words follow the language the reply says (data/widget.yml's `es:`),
    fetched once; after a reload they are Spanish at once; an English question brings the
    English words back."""
    spanish = knowledge.in_language("es")
    words = default_widget_words().languages
    english_words, spanish_words = words[DEFAULT_LANGUAGE], words["es"]
    page = ChatPage(browser, widget_url(bot.rasa_url))
    page.open()
    assert page.placeholder() == english_words["placeholder"] and page.panel().get_attribute("lang") == "en"

    # A question in Spanish: the answer, its sources ("Fuentes") and the caveat, in Spanish.
    cost = spanish.topic("cost")
    answer = page.ask(cost.question)
    assert answer.get_attribute("data-topic") == cost.id and answer.get_attribute("lang") == "es"
    assert text(_one(answer, ".meso-answer")) == cost.full_answer
    layout_lines = compose_answer(spanish, cost).text.split("\n")
    sources = text(_one(answer, ".meso-sources"))
    sources_label = spanish.layout.split("\n")[1].split("{sources}")[0]  # "Fuentes: " in caveat.yml
    assert sources == layout_lines[-2] and sources.startswith(sources_label) and sources_label.strip()
    assert text(_one(answer, "aside.meso-caveat")) == spanish.caveat != knowledge.caveat

    # The widget's words switch to Spanish, on everything it shows, the answer's feedback too.
    page.wait(lambda: page.placeholder() == spanish_words["placeholder"])
    page.assert_words(spanish_words, "es")
    answer = page.messages()[-1]
    page.assert_feedback(answer, spanish_words, "es")
    assert page.words_fetched() == [DEFAULT_LANGUAGE, "es"]

    # Another Spanish answer: the same words, not fetched again.
    pain = spanish.topic("pain")
    again = page.ask(pain.question)
    assert again.get_attribute("data-topic") == pain.id
    assert text(_one(again, "aside.meso-caveat")) == spanish.caveat
    page.assert_feedback(again, spanish_words, "es")
    page.assert_words(spanish_words, "es")
    assert page.words_fetched() == [DEFAULT_LANGUAGE, "es"]

    # A reload: the conversation, in Spanish words from the start (the tab keeps the language).
    shown = page.texts()
    page.reload()
    assert page.texts() == shown
    page.assert_words(spanish_words, "es")
    assert page.words_fetched() == ["es"]

    # An English question: an English answer, and the English words back on everything,
    # the Spanish answers' feedback still offered included.
    sessions = knowledge.topic("sessions")
    english = page.ask(sessions.question)
    assert english.get_attribute("data-topic") == sessions.id and english.get_attribute("lang") == "en"
    assert text(_one(english, "aside.meso-caveat")) == knowledge.caveat
    page.wait(lambda: page.placeholder() == english_words["placeholder"])
    page.assert_words(english_words, DEFAULT_LANGUAGE)
    for offered in page.find(".meso-msg-answer"):
        page.assert_feedback(offered, english_words, DEFAULT_LANGUAGE)
    assert page.words_fetched() == ["es", DEFAULT_LANGUAGE]

    # Each message told the bot the patient's language as the reply before it said it.
    store = ConversationStore(Domain.empty())  # the database the servers share (BOT_DATA_DIR)
    tracker = asyncio.run(store.retrieve(page.stored_session()))
    assert tracker is not None
    hints = [(e.text, e.metadata.get("lang")) for e in tracker.events if isinstance(e, UserUttered)]
    assert hints == [(cost.question, "en"), (pain.question, "es"), (sessions.question, "es")]


# --- the widget's own words (data/widget.yml) --------------------------------------------------


@pytest.mark.e2e
def test_the_widget_words_are_served_from_data_widget_yml(bot: BotAddress, clinic_site: ClinicSite) -> None:
    words = default_widget_words()
    english: dict[str, Any] = {"lang": DEFAULT_LANGUAGE, "words": words.widget_words(DEFAULT_LANGUAGE)}
    url = f"{bot.rasa_url}{WIDGET_PATH}/words.json"
    for asked in (None, "en", "EN-gb", "xx", "tlh-Latn", "../clinic"):  # English, asked or not
        served = requests.get(url, params={"lang": asked} if asked else None, timeout=10)
        assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/json")
        assert served.json() == english, asked
        assert "max-age=" in served.headers["Cache-Control"]

    # A page on the clinic's site (WIDGET_ORIGINS) may read them; a page on another may not.
    for origin, allowed in ((clinic_site.origin, clinic_site.origin), ("https://evil.example", None)):
        served = requests.get(url, headers={"Origin": origin}, timeout=10)
        assert served.headers.get("Access-Control-Allow-Origin") == allowed
        assert served.json() == english

    # The chat page's title comes from there too, however the page is asked for.
    title = f"<title>{html.escape(words.languages[DEFAULT_LANGUAGE]['pageTitle'])}</title>"
    for path in ("/", "/index.html"):
        page = requests.get(f"{bot.rasa_url}{WIDGET_PATH}{path}", timeout=10)
        assert page.status_code == 200 and title in page.text and "<title></title>" not in page.text


@pytest.mark.e2e
def test_a_browser_in_spanish_gets_the_page_and_the_widget_in_spanish_from_the_start(
    bot: BotAddress, spanish_browser: webdriver.Chrome, knowledge: KnowledgeBase
) -> None:
    spanish_words = default_widget_words().languages["es"]
    page = ChatPage(spanish_browser, widget_url(bot.rasa_url))
    page.open()
    assert spanish_browser.title == spanish_words["pageTitle"]
    page.wait(lambda: page.placeholder() == spanish_words["placeholder"])
    page.assert_words(spanish_words, "es")
    assert page.words_fetched() == ["es"]  # never the English words first
    cost = knowledge.in_language("es").topic("cost")
    answer = page.ask(cost.question)
    assert answer.get_attribute("data-topic") == cost.id and answer.get_attribute("lang") == "es"


# What the clinic's page sets instead of the served title (a page setting beats the YAML).
OWN_TITLE = "Ask our nurses"


@pytest.mark.e2e
def test_the_widget_shows_the_words_of_data_widget_yml(
    bot: BotAddress, browser: webdriver.Chrome, clinic_site: ClinicSite
) -> None:
    words = default_widget_words().languages[DEFAULT_LANGUAGE]
    page = ChatPage(browser, widget_url(bot.rasa_url))
    page.open()
    assert browser.title == words["pageTitle"]
    assert text(page.find(".meso-chat-title")[0]) == words["title"]
    assert page.panel().get_attribute("aria-label") == words["title"]
    assert page.panel().get_attribute("lang") == DEFAULT_LANGUAGE
    box = page.find(".meso-chat-input")[0]
    assert box.get_attribute("placeholder") == box.get_attribute("aria-label") == words["placeholder"]
    assert text(page.find(".meso-chat-send")[0]) == words["sendLabel"]

    # Embedded on the clinic's own site, with one word of its own: that word wins, the
    # others still come from the YAML, fetched from the bot's server.
    snippet = json.dumps({"title": OWN_TITLE})
    (clinic_site.directory / "clinic.html").write_text(
        '<!doctype html>\n<html lang="en-GB"><head><meta charset="utf-8"><title>Clinic</title></head>\n'
        f"<body><script>window.MesoChat = {snippet};</script>\n"
        f'<script src="{widget_url(bot.rasa_url)}widget.js" async></script></body></html>\n',
        encoding="utf-8",
    )
    clinic = ChatPage(browser, f"{clinic_site.origin}/clinic.html")
    clinic.open()  # connected: the socket.io server accepts the clinic's origin
    assert text(clinic.find(".meso-chat-title")[0]) == OWN_TITLE
    assert clinic.panel().get_attribute("aria-label") == OWN_TITLE
    assert clinic.find(".meso-chat-input")[0].get_attribute("placeholder") == words["placeholder"]
    launcher = clinic.find(".meso-chat-launcher")[0]
    assert text(launcher) == words["openLabel"] and launcher.get_attribute("lang") == DEFAULT_LANGUAGE
    assert clinic.find(".meso-chat-close")[0].get_attribute("aria-label") == words["closeLabel"]


def test_the_widget_waits_for_its_words_and_shows_nothing_else(
    browser: webdriver.Chrome, clinic_site: ClinicSite
) -> None:
    """Served from where its words are missing at first, the widget shows nothing (no word
    of its own to fall back on) and asks again until they are there."""
    served_from = clinic_site.directory / "late"
    served_from.mkdir()
    (served_from / "widget.js").write_bytes((PROJECT_DIR / "web" / "widget.js").read_bytes())
    (served_from / "page.html").write_text(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Clinic</title></head>\n'
        '<body><script src="widget.js" async></script></body></html>\n',
        encoding="utf-8",
    )
    browser.get(f"{clinic_site.origin}/late/page.html")
    page = ChatPage(browser, browser.current_url)
    asked = "/late/words.json?lang=en"
    page.wait(lambda: clinic_site.requested.count(asked) >= 2)  # asked, and asked again
    assert browser.find_elements(By.CSS_SELECTOR, ".meso-chat-host") == []
    assert browser.execute_script("return document.body.textContent").strip() == ""

    words = default_widget_words().widget_words(DEFAULT_LANGUAGE)
    served = {"lang": DEFAULT_LANGUAGE, "words": words}
    (served_from / "words.json").write_text(json.dumps(served), encoding="utf-8")
    title = page.wait(lambda: page.find(".meso-chat-title"))[0]
    assert text(title) == words["title"]


@pytest.mark.e2e
def test_the_widget_keeps_its_words_when_the_patients_language_cannot_be_fetched(
    bot: BotAddress, browser: webdriver.Chrome, clinic_site: ClinicSite, knowledge: KnowledgeBase
) -> None:
    """Served from where the words of the reply's language are missing (a static copy of
    the widget on the clinic's site, talking to the real bot): the words shown stay, nothing
    tells the patient, and the next reply in that language asks again."""
    served_from = clinic_site.directory / "words-gone"
    (served_from / "vendor").mkdir(parents=True)
    for name in ("widget.js", "widget.css", "vendor/socket.io.min.js"):
        (served_from / name).write_bytes((PROJECT_DIR / "web" / name).read_bytes())
    words = default_widget_words()
    served = served_from / "words.json"  # the same file for every ?lang=
    served.write_text(json.dumps({"lang": "en", "words": words.widget_words("en")}), encoding="utf-8")
    settings = json.dumps({"server": bot.rasa_url, "container": "#chat"})
    (served_from / "page.html").write_text(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Clinic</title></head>\n'
        f'<body><main id="chat" style="height: 600px"></main><script>window.MesoChat = {settings};</script>\n'
        '<script src="widget.js" async></script></body></html>\n',
        encoding="utf-8",
    )
    page = ChatPage(browser, f"{clinic_site.origin}/words-gone/page.html")
    page.open()
    english = words.languages[DEFAULT_LANGUAGE]
    served.unlink()

    spanish = knowledge.in_language("es")
    answer = page.ask(spanish.topic("cost").question)
    assert text(_one(answer, "aside.meso-caveat")) == spanish.caveat
    page.wait(lambda: page.words_fetched() == [DEFAULT_LANGUAGE, "es"])  # and not found
    page.assert_words(english, DEFAULT_LANGUAGE)
    page.assert_feedback(answer, english, DEFAULT_LANGUAGE)
    assert page.find(".meso-chat-status")[0].get_attribute("hidden") is not None
    assert len(page.messages()) == 2  # the question and its answer: no word of an error

    served.write_text(json.dumps({"lang": "es", "words": words.widget_words("es")}), encoding="utf-8")
    page.ask(spanish.topic("pain").question)
    page.wait(lambda: page.placeholder() == words.languages["es"]["placeholder"])
    page.assert_words(words.languages["es"], "es")
    assert page.words_fetched() == [DEFAULT_LANGUAGE, "es", "es"]


def test_the_widget_sends_the_browsers_time_zone_for_aftercare_times(
    bot: BotAddress, browser: webdriver.Chrome
) -> None:
    """A patient in Tokyo: the end of the waiting time is given in Tokyo's time."""
    zone = ZoneInfo("Asia/Tokyo")
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": zone.key})
    page = ChatPage(browser, widget_url(bot.rasa_url))
    page.open()
    assert browser.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone") == zone.key
    rules = default_aftercare()
    before = datetime.now(zone)
    answer = page.ask("I had it 3 hours ago, can I wash my hair now?")
    after = datetime.now(zone)
    assert answer.get_attribute("data-topic") == "washing_hair"
    expected = {
        rules.says["not_passed"].format(
            hours="24", activity="washing your hair", ends=rules.format_time(now + timedelta(hours=21), now)
        )
        for now in (before, after)
    }
    shown = text(_one(answer, ".meso-answer"))
    assert any(shown.startswith(sentence) for sentence in expected), (shown[:200], expected)
