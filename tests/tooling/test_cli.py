"""The command line (tooling/cli.py): what each command does and says, and its exit codes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain

from bot.knowledge import default_knowledge_base
from bot.settings import load_settings
from rasa_server.stores import ConversationStore
from tests.services import save_conversation_at
from tooling import cli
from tooling.servers import free_port


def test_purge_deletes_what_is_past_retention(
    embedded_database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ConversationStore(Domain.empty())
    save_conversation_at(store, "old", time.time() - 31 * 86400)
    save_conversation_at(store, "recent", time.time())
    assert cli.main(["purge"]) == 0
    assert sorted(store.store) == ["recent"]
    assert "Deleted 1 conversation(s) with no message in the last 30 days" in capsys.readouterr().out


def test_validate_checks_every_data_file_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate"]) == 0
    out = capsys.readouterr()
    for line in (
        "Knowledge base OK:",
        "Safety rules OK:",
        "Aftercare rules OK:",
        "Clinic details OK:",
        "Widget words OK:",
    ):
        assert line in out.out
    assert "EXAMPLE contact details" in out.err  # the shipped clinic file is the example


def test_a_broken_data_file_is_named_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "clinic.yml"
    broken.write_text("clinic_name: [\n", encoding="utf-8")
    monkeypatch.setenv("CLINIC_FILE", str(broken))
    load_settings.cache_clear()
    try:
        assert cli.main(["validate"]) == 1
    finally:
        load_settings.cache_clear()
    err = capsys.readouterr().err
    assert "clinic details are invalid" in err and str(broken) in err and "Traceback" not in err


def test_answer_prints_a_topic_as_a_patient_reads_it(capsys: pytest.CaptureFixture[str]) -> None:
    knowledge = default_knowledge_base()
    assert cli.main(["answer", "cost"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(knowledge.topic("cost").answer) and knowledge.caveat in printed


def test_an_unknown_topic_is_refused_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["answer", "astrology"]) == 2
    assert "unknown topic 'astrology'" in capsys.readouterr().err


def test_topics_lists_every_topic(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["topics"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(default_knowledge_base().topics)


def test_serve_refuses_ports_in_use_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("RASA_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("ACTION_PORT", str(free_port()))
        assert cli.main(["serve"]) == 1
    assert "is already in use" in capsys.readouterr().err
