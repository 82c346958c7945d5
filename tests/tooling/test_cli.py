"""The command line (tooling/cli.py): what each command does and says, and its exit codes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain

from rasa_server.stores import ConversationStore
from tests.services import save_conversation_at
from tooling import cli


def test_purge_deletes_what_is_past_retention(
    embedded_database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ConversationStore(Domain.empty())
    save_conversation_at(store, "old", time.time() - 31 * 86400)
    save_conversation_at(store, "recent", time.time())
    assert cli.main(["purge"]) == 0
    assert sorted(store.store) == ["recent"]
    assert "Deleted 1 conversation(s) with no message in the last 30 days" in capsys.readouterr().out
