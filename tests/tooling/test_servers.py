"""The environment the servers start with."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import load_settings
from tests.services import outside_address, reachable
from tooling.servers import (
    ONE_THREAD,
    BotAddress,
    RestartPolicy,
    ServerError,
    ServerProcess,
    Supervised,
    SupervisedBot,
    _descendants,
    _peak_rss_kb,
    action_server,
    free_port,
    port_in_use,
    serve,
    server_environment,
)


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
        in_use = process.pss_mb()
        assert in_use is not None and 1 < in_use <= memory
    assert not port_in_use(port)
    assert process.peak_rss_mb() is None and process.pss_mb() is None  # gone


def test_a_server_that_exits_while_starting_is_an_error(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "raise SystemExit(4)"]
    url = f"http://127.0.0.1:{free_port()}/"
    with (
        pytest.raises(ServerError, match="exited with code 4"),
        serve("broken", command, url, dict(os.environ)),
    ):
        pass


def test_the_rasa_server_gets_one_worker_per_core_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANIC_WORKERS", raising=False)
    assert server_environment(BotAddress(6005, 6055))["SANIC_WORKERS"] == str(os.cpu_count())
    monkeypatch.setenv("SANIC_WORKERS", "1")
    assert server_environment(BotAddress(6005, 6055))["SANIC_WORKERS"] == "1"


def test_a_servers_memory_counts_its_worker_processes() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            assert child.pid in _descendants(os.getpid())
            alone = _peak_rss_kb(os.getpid())
            with_child = ServerProcess("this test", os.getpid(), 0.0).peak_rss_mb()
            assert alone is not None and with_child is not None and with_child * 1024 > alone
        finally:
            child.kill()


@pytest.mark.parametrize(("setting", "outside_too"), [(None, False), ("0.0.0.0", True)])  # noqa: S104
def test_bind_address_decides_whether_other_machines_can_connect(
    setting: str | None, outside_too: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outside = outside_address()
    if setting is None:
        monkeypatch.delenv("BIND_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("BIND_ADDRESS", setting)
    load_settings.cache_clear()
    try:
        address = BotAddress(rasa_port=free_port(), action_port=free_port())
        with action_server(address, tmp_path):
            assert reachable("127.0.0.1", address.action_port)
            assert reachable(outside, address.action_port) is outside_too
    finally:
        load_settings.cache_clear()


# --- SupervisedBot: servers kept running ---------------------------------------------------


def _web_server(port: int, tmp_path: Path) -> Supervised:
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    return Supervised(
        "a web server", lambda: serve("a web server", command, url, dict(os.environ), cwd=tmp_path)
    )


class Recorder:
    def __init__(self) -> None:
        self.said: list[str] = []
        self.slept: list[float] = []
        self.now = 1000.0

    def say(self, text: str) -> None:
        self.said.append(text)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def _killed(server: Supervised) -> None:
    assert server.server is not None and server.server.process is not None
    os.kill(server.server.pid, signal.SIGKILL)
    server.server.process.wait()


def test_a_server_that_exits_is_started_again_and_said_so(tmp_path: Path) -> None:
    port, record = free_port(), Recorder()
    server = _web_server(port, tmp_path)
    with SupervisedBot([server], RestartPolicy(limit=3), record.say, record.clock, record.sleep) as bot:
        first = server.server
        bot.check()
        assert server.server is first and record.said == []  # running: nothing to do
        _killed(server)
        bot.check()
        assert server.server is not None and first is not None and server.server.pid != first.pid
        assert port_in_use(port) and record.slept == [1.0]
        assert "a web server exited with code -9; starting it again in 1 s" in record.said[0]
        assert "a web server is running again." in record.said[1]
    assert not port_in_use(port)  # stopped on the way out


def test_a_server_that_keeps_failing_stops_the_bot_with_an_error(tmp_path: Path) -> None:
    port, record = free_port(), Recorder()
    server = _web_server(port, tmp_path)
    with SupervisedBot([server], RestartPolicy(limit=2), record.say, record.clock, record.sleep) as bot:
        for _ in range(2):
            _killed(server)
            bot.check()
        assert record.slept == [1.0, 2.0]  # backing off
        _killed(server)
        with pytest.raises(ServerError, match="a web server failed 3 times within 300 s"):
            bot.check()
    assert not port_in_use(port)


def test_failures_long_ago_do_not_count(tmp_path: Path) -> None:
    record = Recorder()
    server = _web_server(free_port(), tmp_path)
    with SupervisedBot([server], RestartPolicy(limit=1), record.say, record.clock, record.sleep) as bot:
        for _ in range(3):
            _killed(server)
            bot.check()
            record.now += 301  # outside the window before the next failure
        assert record.slept == [1.0, 1.0, 1.0]


def test_a_server_that_cannot_start_again_counts_as_failing_again(tmp_path: Path) -> None:
    port, record = free_port(), Recorder()
    server = _web_server(port, tmp_path)
    with SupervisedBot([server], RestartPolicy(limit=2), record.say, record.clock, record.sleep) as bot:
        _killed(server)
        with socket.socket() as squatter:  # the port taken before the server is back
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            with pytest.raises(ServerError, match="failed 3 times"):
                bot.check()
        assert any("did not start again" in line for line in record.said)


def test_restart_delays_double_up_to_the_most() -> None:
    policy = RestartPolicy(first_delay=1, max_delay=30)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
