"""The environment the servers start with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.servers import (
    ONE_THREAD,
    BotAddress,
    ServerError,
    ServerProcess,
    _descendants,
    _peak_rss_kb,
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
