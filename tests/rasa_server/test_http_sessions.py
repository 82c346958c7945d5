"""Rasa's calls out on kept-alive connections (rasa_server/http_sessions.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import rasa.core.run
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from rasa_server import http_sessions, patches

SESSION = patches._ORIGINAL_SESSION


async def _serve(ports: list[int], port: int = 0, reply: str = "echo") -> tuple[web.AppRunner, str]:
    """An action server stand-in on ``port`` (0: a free one) that records each caller's port
    (one per connection) and answers ``{reply: what it was sent}``."""

    async def webhook(request: web.Request) -> web.Response:
        ports.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        return web.json_response({reply: await request.json()})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"


async def _calls(count: int, session: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[int]]:
    monkeypatch.setattr(EndpointConfig, "session", session)
    ports: list[int] = []
    runner, url = await _serve(ports)
    endpoint = EndpointConfig(url, headers={"X-Test": "1"})
    try:
        answers = [await endpoint.request(json={"n": n}) for n in range(count)]
    finally:
        await http_sessions.close_sessions()
        await runner.cleanup()
    return answers, ports


def test_rasas_own_session_opens_a_connection_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    answers, ports = asyncio.run(_calls(3, SESSION, monkeypatch))
    assert answers == [{"echo": {"n": n}} for n in range(3)]
    assert len(set(ports)) == 3


def test_the_kept_session_reuses_one_connection_and_answers_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    answers, ports = asyncio.run(_calls(3, http_sessions.kept_session, monkeypatch))
    assert answers == [{"echo": {"n": n}} for n in range(3)]
    assert len(ports) == 3 and len(set(ports)) == 1


def test_a_restarted_server_is_called_on_a_new_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EndpointConfig, "session", http_sessions.kept_session)

    async def scenario() -> list[Any]:
        ports: list[int] = []
        runner, url = await _serve(ports)
        endpoint = EndpointConfig(url)
        first = await endpoint.request(json={"n": 1})
        await runner.cleanup()  # the action server stops: its connections close
        with pytest.raises(aiohttp.ClientError):
            await endpoint.request(json={"n": 2})
        # ... and comes back on the same port
        again_ports: list[int] = []
        restarted, again_url = await _serve(again_ports, int(url.split(":")[2].split("/")[0]), "again")
        assert again_url == url
        try:
            return [first, await endpoint.request(json={"n": 3}), again_ports]
        finally:
            await http_sessions.close_sessions()
            await restarted.cleanup()

    first, second, called = asyncio.run(scenario())
    assert first == {"echo": {"n": 1}}
    assert second == {"again": {"n": 3}} and len(called) == 1


def test_each_endpoint_setting_and_each_loop_has_its_own_session_closed_at_stop() -> None:
    async def sessions() -> tuple[Any, Any, Any]:
        one = http_sessions.kept_session(EndpointConfig("http://a/webhook")).session
        same = http_sessions.kept_session(EndpointConfig("http://b/webhook")).session
        other = http_sessions.kept_session(EndpointConfig("http://a/webhook", headers={"k": "v"})).session
        closed: list[bool] = []

        async def rasas_close(app: Any, loop: Any) -> None:
            closed.append(one.closed)

        await http_sessions.closing_sessions(rasas_close)(None, None)
        return (one is same, one is not other, (closed, one.closed, other.closed))

    first = asyncio.run(sessions())
    assert first == (True, True, ([False], True, True))


def test_apply_installs_the_kept_session_and_closes_it_with_rasas_resources() -> None:
    patches.apply()
    assert EndpointConfig.session is http_sessions.kept_session
    assert rasa.core.run.close_resources.__wrapped__ is patches._ORIGINAL_CLOSE_RESOURCES
