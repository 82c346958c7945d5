"""The environment the servers start with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.servers import (
    DEFAULT_MODEL,
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


@pytest.mark.e2e
def test_sigterm_to_make_run_stops_both_servers_it_started(tmp_path: Path) -> None:
    """As a service manager stops `make run` (python -m bot serve): SIGTERM to that process only."""
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    address = BotAddress(rasa_port=free_port(), action_port=free_port())
    env = {**os.environ, "RASA_PORT": str(address.rasa_port), "ACTION_PORT": str(address.action_port)}
    command = [sys.executable, "-m", "bot", "serve", "--log-dir", str(tmp_path)]
    bot = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
    servers: list[int] = []
    try:
        assert bot.stdout is not None
        printed: list[str] = []
        while not printed or printed[-1] not in ("", "Press Ctrl-C to stop.\n"):  # "": it exited
            printed.append(bot.stdout.readline())
        assert "The bot is running.\n" in printed, "".join(printed)
        servers = _descendants(bot.pid)
        assert len(servers) >= 3  # the action server, the Rasa server and its workers
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=60) == 0
        assert not port_in_use(address.rasa_port) and not port_in_use(address.action_port)
        assert [pid for pid in servers if _running(pid)] == []
    finally:  # a failed test leaves nothing running
        for pid in [bot.pid, *servers]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        bot.wait()


def _running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has: only its parent has not reaped it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status
