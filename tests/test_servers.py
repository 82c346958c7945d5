"""The environment the servers start with."""

from __future__ import annotations

import pytest

from bot.servers import ONE_THREAD, BotAddress, server_environment


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
