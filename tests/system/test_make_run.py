"""`make run` (python -m tooling serve) as an operator or a service manager meets it: the
servers it starts are kept running, one that keeps failing stops it with a non-zero exit,
and SIGTERM stops everything it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from bot.knowledge import KnowledgeBase
from bot.settings import PROJECT_DIR
from tooling.servers import DEFAULT_MODEL, BotAddress, _descendants, free_port, port_in_use

pytestmark = pytest.mark.e2e
WAIT_SECONDS = 240  # an upper bound for the servers to start, never a measured time


@dataclass
class MakeRun:
    """`python -m tooling serve` in the background, its output read line by line."""

    process: subprocess.Popen[str]
    address: BotAddress
    printed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.lock:
                self.printed.append(line)

    def wait_for(self, text: str, after: int = 0) -> int:
        """The index of the first printed line from ``after`` on containing ``text``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            with self.lock:
                for index in range(after, len(self.printed)):
                    if text in self.printed[index]:
                        return index
            if self.process.poll() is not None and not self.reader_alive():
                break
            time.sleep(0.2)
        pytest.fail(f"`make run` never printed {text!r}:\n{''.join(self.printed)}")

    def reader_alive(self) -> bool:
        return any(t.name == f"make-run-{self.process.pid}" for t in threading.enumerate())

    def action_server_pid(self) -> int:
        for pid in _descendants(self.process.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"rasa_sdk" in command:
                return pid
        pytest.fail("no action server among `make run`'s processes")


@contextmanager
def make_run(tmp_path: Path, **env: str) -> Iterator[MakeRun]:
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    address = BotAddress(rasa_port=free_port(), action_port=free_port())
    environment = {
        **os.environ,
        "RASA_PORT": str(address.rasa_port),
        "ACTION_PORT": str(address.action_port),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    command = [sys.executable, "-m", "tooling", "serve", "--log-dir", str(tmp_path)]
    process = subprocess.Popen(  # noqa: S603 (fixed command)
        command, cwd=PROJECT_DIR, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    run = MakeRun(process, address)
    reader = threading.Thread(target=run.read, name=f"make-run-{process.pid}", daemon=True)
    reader.start()
    servers: list[int] = []
    try:
        run.wait_for("The bot is running.")
        servers = _descendants(process.pid)
        yield run
    finally:  # a failed test leaves nothing running
        for pid in [process.pid, *servers, *_descendants(process.pid)]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait()


def _running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has: only its parent has not reaped it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _ask(address: BotAddress, text: str) -> list[dict[str, object]]:
    reply = requests.post(
        address.rest_url, json={"sender": "patient-after-restart", "message": text}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    messages: list[dict[str, object]] = reply.json()
    return messages


def test_sigterm_to_make_run_stops_both_servers_it_started(tmp_path: Path) -> None:
    """As a service manager stops `make run`: SIGTERM to that process only."""
    with make_run(tmp_path) as run:
        servers = _descendants(run.process.pid)
        assert len(servers) >= 3  # the action server, the Rasa server and its workers
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=60) == 0
        assert not port_in_use(run.address.rasa_port) and not port_in_use(run.address.action_port)
        assert [pid for pid in servers if _running(pid)] == []


def test_a_killed_action_server_is_started_again_and_the_next_patient_is_answered(
    tmp_path: Path, knowledge: KnowledgeBase
) -> None:
    cost = knowledge.topic("cost")
    with make_run(tmp_path) as run:
        killed = run.action_server_pid()
        os.kill(killed, signal.SIGKILL)
        exited = run.wait_for("the action server exited with code -9; starting it again")
        run.wait_for("the action server is running again.", after=exited)
        assert run.action_server_pid() != killed
        messages = _ask(run.address, cost.question)
        assert str(messages[0]["text"]).startswith(cost.answer)
        assert run.process.poll() is None  # still running


def test_a_server_that_keeps_failing_stops_make_run_with_a_non_zero_exit(tmp_path: Path) -> None:
    with make_run(tmp_path, RESTART_LIMIT="1") as run:
        port = run.address.action_port
        os.kill(run.action_server_pid(), signal.SIGKILL)
        with socket.socket() as squatter:  # something else takes the port: every restart fails
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deadline = time.monotonic() + 10
            while True:
                try:
                    squatter.bind(("127.0.0.1", port))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            squatter.listen()
            assert run.process.wait(timeout=WAIT_SECONDS) == 1
        run.wait_for("the action server failed 2 times within 300 s")
        assert not port_in_use(run.address.rasa_port)  # the Rasa server was stopped too
