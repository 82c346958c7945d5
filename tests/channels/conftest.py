"""Fixtures of the channel tests: the fake messaging-app API and the stand-in bot
(tests/channels/messaging_fakes.py), the widget's echo bot (tests/channels/widget_patients.py),
and Sanic's switch for several apps in one process."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.messaging_fakes import bot, fake_api, several_sanic_apps
from tests.channels.widget_patients import echo_server

__all__ = ["bot", "fake_api", "several_sanic_apps", "widget_echo"]


@pytest.fixture
def widget_echo(tmp_path: Path) -> Iterator[str]:
    """The URL of an echo bot behind this project's socket.io channel (channels/socketio.py)."""
    with echo_server("widget", tmp_path / "echo-server.log") as url:
        yield url
