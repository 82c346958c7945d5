"""The load generator against a small local HTTP server that answers like the REST channel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

from bot.bench import LoadResult, run_load
from bot.servers import free_port


@pytest.fixture
def fake_rest() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A REST-like endpoint: answers every message, but 500 for "break" and a dict for "odd"."""
    seen: list[dict[str, str]] = []
    loop = asyncio.new_event_loop()

    async def webhook(request: web.Request) -> web.Response:
        payload = await request.json()
        seen.append(payload)
        await asyncio.sleep(0.01)
        if payload["message"] == "break":
            return web.json_response({"error": "boom"}, status=500)
        if payload["message"] == "odd":
            return web.json_response({"not": "a list"})
        return web.json_response([{"recipient_id": payload["sender"], "text": "ok"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    port = free_port()
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    asyncio.set_event_loop(loop)
    yield f"http://127.0.0.1:{port}/webhooks/rest/webhook", seen
    loop.run_until_complete(runner.cleanup())
    loop.close()


def _load(url: str, mix: list[str], concurrency: int, conversations: int) -> LoadResult:
    return asyncio.get_event_loop().run_until_complete(run_load(url, mix, concurrency, conversations))


def test_every_message_of_every_conversation_is_sent_and_timed(
    fake_rest: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = fake_rest
    result = _load(url, ["hello", "how much is it?", "thanks"], concurrency=4, conversations=10)
    assert result.messages == 30 and result.errors == 0 and len(result.latencies_ms) == 30
    assert len(seen) == 30
    # One sender per conversation, each sending the mix in order.
    by_sender: dict[str, list[str]] = {}
    for payload in seen:
        by_sender.setdefault(payload["sender"], []).append(payload["message"])
    assert len(by_sender) == 10
    assert all(messages == ["hello", "how much is it?", "thanks"] for messages in by_sender.values())
    assert min(result.latencies_ms) >= 10  # the server's own delay is inside the timing
    assert result.percentile(0.5) <= result.percentile(0.95) <= result.percentile(0.99)
    assert result.throughput > 0


def test_failed_replies_are_errors_not_latencies(fake_rest: tuple[str, list[dict[str, str]]]) -> None:
    url, _ = fake_rest
    result = _load(url, ["hello", "break", "odd"], concurrency=2, conversations=3)
    assert result.errors == 6
    assert len(result.latencies_ms) == 3


def test_percentiles_use_the_nearest_rank() -> None:
    result = LoadResult(1, 4, 0, 2.0, (10.0, 20.0, 30.0, 40.0))
    assert (result.percentile(0.5), result.percentile(0.95), result.percentile(0.99)) == (20.0, 40.0, 40.0)
    assert result.throughput == 2.0
    assert result.summary()["p50_ms"] == 20.0
