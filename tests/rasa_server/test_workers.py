"""The Rasa server's workers (rasa_server/workers.py): a socket each, ready once every worker
listens, and a worker that fails stops the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from bot.settings import PROJECT_DIR, READY_FILE_VARIABLE
from tooling.servers import free_port, serve

SANIC_APP = """
import asyncio, os, sys
from sanic import Sanic, response
from rasa_server.patches import apply
apply()
app = Sanic("reuse_port_test")
marker = sys.argv[3]

@app.listener("before_server_start")
async def load(app, loop):  # the second worker takes its time, as a worker loading a model can
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        await asyncio.sleep(3)

@app.get("/")
async def pid(request):
    return response.text(str(os.getpid()))

app.run(host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]), access_log=False)
"""


def _listening_sockets(port: int) -> int:
    """LISTEN entries for ``port`` in /proc/net/tcp (one per socket, however many processes share it)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A")


def _workers(port: int, workers: int, tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    ready = tmp_path / "ready"
    command = [sys.executable, "-c", SANIC_APP, str(port), str(workers), str(tmp_path / "first")]
    return command, {**os.environ, READY_FILE_VARIABLE: str(ready)}, ready


def test_each_worker_listens_on_its_own_socket_and_the_server_is_up_once_all_do(tmp_path: Path) -> None:
    port = free_port()
    command, env, ready = _workers(port, 2, tmp_path)
    with serve("two Sanic workers", command, f"http://127.0.0.1:{port}/", env, ready_file=ready):
        assert _listening_sockets(port) == 2  # the slow one too, without waiting for it here
        assert ready.read_text() == "2\n"
        answered_by = {requests.get(f"http://127.0.0.1:{port}/", timeout=5).text for _ in range(40)}
        assert len(answered_by) == 2
    assert not ready.exists()  # a stopped server is not ready


def test_one_worker_announces_itself_too(tmp_path: Path) -> None:
    port = free_port()
    command, env, ready = _workers(port, 1, tmp_path)
    with serve("one Sanic worker", command, f"http://127.0.0.1:{port}/", env, ready_file=ready):
        assert ready.read_text() == "1\n"
    assert not ready.exists()


FAILING_WORKER_APP = """
import os, sys
from sanic import Sanic, response
from rasa_server.patches import apply
apply()
app = Sanic("failing_worker_test")
marker = sys.argv[2]

@app.listener("before_server_start")
async def load(app, loop):
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # the first worker to get here
    except FileExistsError:
        raise RuntimeError("this worker cannot load its model")

@app.get("/")
async def ok(request):
    return response.text("ok")

app.run(host="127.0.0.1", port=int(sys.argv[1]), workers=2, access_log=False)
"""


def test_a_worker_that_fails_to_start_stops_the_whole_server(tmp_path: Path) -> None:
    command = [sys.executable, "-c", FAILING_WORKER_APP, str(free_port()), str(tmp_path / "first")]
    env = {**os.environ, READY_FILE_VARIABLE: str(tmp_path / "ready")}
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert result.returncode == 1
    assert not (tmp_path / "ready").exists()
    assert "this worker cannot load its model" in result.stderr
    assert "stopping the server" in result.stdout + result.stderr
