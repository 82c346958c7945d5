"""The environment the servers start with."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bot.servers import ONE_THREAD, BotAddress, ServerError, free_port, port_in_use, serve, server_environment


def test_servers_get_their_ports_and_one_math_thread_each(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ONE_THREAD:
        monkeypatch.delenv(name, raising=False)
    env = server_environment(BotAddress(rasa_port=6005, action_port=6055))
    assert (env["RASA_PORT"], env["ACTION_PORT"]) == ("6005", "6055")
    assert {name: env[name] for name in ONE_THREAD} == dict.fromkeys(ONE_THREAD, "1")


def test_an_operators_thread_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    env = server_environment(BotAddress(rasa_port=6005, action_port=6055))
    assert env["OMP_NUM_THREADS"] == "4"


def test_a_served_process_reports_its_start_up_and_memory_and_is_stopped(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    with serve("a web server", command, url, dict(os.environ), cwd=tmp_path) as process:
        assert process.startup_seconds > 0
        assert port_in_use(port)
        memory = process.peak_rss_mb()
        assert memory is not None and 1 < memory < 2000
    assert not port_in_use(port)
    assert process.peak_rss_mb() is None  # gone


def test_a_server_that_exits_while_starting_is_an_error(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "raise SystemExit(4)"]
    url = f"http://127.0.0.1:{free_port()}/"
    with (
        pytest.raises(ServerError, match="exited with code 4"),
        serve("broken", command, url, dict(os.environ)),
    ):
        pass
