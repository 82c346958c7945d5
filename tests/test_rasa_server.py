"""The fixes `python -m bot.rasa_server` applies to Rasa before running it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.utils.common import all_subclasses

import bot.rasa_server as rasa_server
from bot.servers import free_port, serve
from bot.settings import PROJECT_DIR, READY_FILE_VARIABLE

SPEC = RemoteAction.action_response_format_spec()
GOOD = {"events": [{"event": "slot", "name": "topic", "value": "cost"}], "responses": [{"text": "hi"}]}
BAD = {"events": [{"name": "no event type"}], "responses": "not a list"}


def _error(validate: Any, instance: Any, schema: dict[str, Any]) -> str:
    with pytest.raises(jsonschema.ValidationError) as raised:
        validate(instance, schema)
    return str(raised.value)


def test_a_valid_action_answer_passes_and_a_bad_one_fails_as_before() -> None:
    rasa_server.cached_validate(GOOD, SPEC)
    jsonschema.validate(GOOD, SPEC)  # the original agrees
    assert _error(rasa_server.cached_validate, BAD, SPEC) == _error(jsonschema.validate, BAD, SPEC)


def test_the_schema_is_checked_and_its_validator_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    original = rasa_server.validator_for

    def counting(schema: dict[str, Any]) -> Any:
        built.append(schema)
        return original(schema)

    monkeypatch.setattr(rasa_server, "validator_for", counting)
    monkeypatch.setattr(rasa_server, "_validators", {})
    for _ in range(3):
        rasa_server.cached_validate(GOOD, RemoteAction.action_response_format_spec())  # a new dict each time
    with pytest.raises(jsonschema.ValidationError):
        rasa_server.cached_validate(BAD, SPEC)
    assert len(built) == 1
    other = {"type": "object", "required": ["text"]}
    rasa_server.cached_validate({"text": "x"}, other)
    assert len(built) == 2


def test_an_invalid_schema_is_still_refused() -> None:
    with pytest.raises(jsonschema.SchemaError):
        rasa_server.cached_validate({}, {"type": "no such type"})


def test_apply_installs_the_cached_lookups_where_rasa_looks_them_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonschema, "validate", rasa_server._ORIGINAL_VALIDATE)
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(rasa_server._ORIGINAL_RESOLVE_BY_TYPE))
    rasa_server.apply()
    from jsonschema import validate  # as rasa/core/actions/action.py does, at call time

    assert validate is rasa_server.cached_validate
    assert Event.resolve_by_type is rasa_server.cached_resolve_by_type


def test_event_classes_are_rasas_own_and_looked_up_once_per_name(monkeypatch: pytest.MonkeyPatch) -> None:
    names = sorted({cls.type_name for cls in all_subclasses(Event)})
    assert {"user", "bot", "action", "slot", "session_started"} <= set(names)
    lookups: list[str] = []
    original = rasa_server._ORIGINAL_RESOLVE_BY_TYPE

    def counting(type_name: str, default: Any = None) -> Any:
        lookups.append(type_name)
        return original(type_name, default)

    monkeypatch.setattr(rasa_server, "_ORIGINAL_RESOLVE_BY_TYPE", counting)
    monkeypatch.setattr(rasa_server, "_event_classes", {})
    for _ in range(3):
        assert [rasa_server.cached_resolve_by_type(n) for n in names] == [
            Event.resolve_by_type(n)
            for n in names  # Rasa's own (apply() is not installed here)
        ]
    assert sorted(lookups) == names  # each name looked up once
    assert rasa_server.cached_resolve_by_type("no such event", UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name"):
        rasa_server.cached_resolve_by_type("no such event")
    assert rasa_server.cached_resolve_by_type("topic") is None  # Rasa's backwards compatibility
    assert lookups.count("no such event") == 4  # unknown names are never remembered


SANIC_APP = """
import asyncio, os, sys
from sanic import Sanic, response
import bot.rasa_server
bot.rasa_server.apply()
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
import bot.rasa_server
bot.rasa_server.apply()
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
