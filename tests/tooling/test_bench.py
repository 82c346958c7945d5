"""The benchmark's measurements: load against a small local HTTP server that answers like
Rasa's REST channel and /model/parse, rounds, floors, training times and profiles."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tooling.bench import (
    BenchError,
    LoadResult,
    alternate,
    combine,
    parse_target,
    profile_shares,
    rest_target,
    run_load,
    time_calls,
    time_training,
)
from tooling.servers import free_port


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

    async def other(request: web.Request) -> web.Response:
        payload = await request.json()
        seen.append({**payload, "message": f"other:{payload['message']}"})
        return web.json_response([])

    async def parse(request: web.Request) -> web.Response:
        payload = await request.json()
        if request.query.get("token") != "secret":
            return web.json_response({"reason": "NotAuthenticated"}, status=401)
        seen.append({"sender": "parse", "message": payload["text"]})
        return web.json_response({"text": payload["text"], "intent": {"name": "faq_cost"}})

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/other/webhook", other)
    app.router.add_post("/model/parse", parse)
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
    # The server's own 10 ms delay is inside the timing (asyncio may wake a timer a little early).
    assert min(result.latencies_ms) >= 9
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


def _base(url: str) -> str:
    return url.removesuffix("/webhooks/rest/webhook")


def test_parse_floor_sends_text_with_the_token_and_expects_a_parse(
    fake_rest: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = fake_rest
    loop = asyncio.get_event_loop()
    good = loop.run_until_complete(run_load(parse_target(_base(url), "secret"), ["how much?"], 1, 2))
    assert (good.errors, len(good.latencies_ms)) == (0, 2)
    assert seen == [{"sender": "parse", "message": "how much?"}] * 2
    refused = loop.run_until_complete(run_load(parse_target(_base(url), "wrong"), ["how much?"], 1, 1))
    assert refused.errors == 1 and not refused.latencies_ms


def test_systems_take_turns_and_the_order_flips_each_round(
    fake_rest: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = fake_rest
    targets = {"bot": rest_target(url), "stock": rest_target(f"{_base(url)}/other/webhook")}
    results = asyncio.get_event_loop().run_until_complete(alternate(targets, ["hi"], 1, 1, rounds=3))
    order = ["stock" if p["message"].startswith("other:") else "bot" for p in seen]
    assert order == ["bot", "stock", "stock", "bot", "bot", "stock"]
    assert results["bot"].messages == results["stock"].messages == 3
    assert len(results["bot"].latencies_ms) == 3


def test_rounds_combine_into_one_result() -> None:
    first = LoadResult(10, 4, 1, 2.0, (10.0, 20.0, 30.0))
    second = LoadResult(10, 2, 0, 1.0, (40.0, 50.0))
    both = combine([first, second])
    assert (both.messages, both.errors, both.seconds) == (6, 1, 3.0)
    assert sorted(both.latencies_ms) == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert both.throughput == 5 / 3
    with pytest.raises(ValueError):
        combine([])


def test_an_in_process_floor_times_every_call() -> None:
    calls: list[str] = []
    result = time_calls(calls.append, ["a", "b"], repeats=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # one warm-up pass, not timed
    assert (result.messages, len(result.latencies_ms), result.errors) == (6, 6, 0)


TRAINER = """
import os, sys, pathlib
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
cache = pathlib.Path(os.environ["RASA_CACHE_DIRECTORY"])
out.mkdir(parents=True)
(out / "cache-was").write_text("warm" if (cache / "filled").exists() else "cold")
cache.mkdir(parents=True, exist_ok=True)
(cache / "filled").write_text("x")
sys.exit(int(os.environ.get("FAIL", "0")))
"""


def test_training_runs_cold_with_an_empty_cache_then_warm_with_it(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAINER)
    work = tmp_path / "work"
    timing = time_training([sys.executable, str(script)], tmp_path, dict(os.environ), work)
    assert (work / "cold" / "cache-was").read_text() == "cold"
    assert (work / "warm" / "cache-was").read_text() == "warm"
    assert timing.cold_seconds > 0 and timing.warm_seconds > 0


def test_a_failed_training_is_an_error_that_names_its_log(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAINER)
    with pytest.raises(BenchError, match=r"train-cold\.log"):
        time_training([sys.executable, str(script)], tmp_path, {**os.environ, "FAIL": "3"}, tmp_path / "w")


def test_profile_parts_count_every_sample_whose_stack_passes_through_them() -> None:
    raw = "\n".join(
        [
            "main (a.py:1);validate (jsonschema/validators.py:9) 6",
            "main (a.py:1);process (components/sentence_featurizer.py:3);encode (x.py:2) 3",
            "main (a.py:1);all_subclasses (rasa/shared/utils/common.py:5) 1",
            "main (a.py:1);join (multiprocessing/process.py:149);wait (popen_fork.py:43) 90",
            "garbage line",
        ]
    )
    samples, shares = profile_shares(
        raw,
        {
            "schema": r"\(jsonschema/",
            "embedding": r"\(components/sentence_featurizer\.py",
            "lookup": r"^all_subclasses \(",
            "nothing": r"\(nowhere/",
        },
    )
    assert samples == 10
    assert shares == {"schema": 0.6, "embedding": 0.3, "lookup": 0.1, "nothing": 0.0}


def test_each_concurrent_conversation_runs_several_conversations_per_round(tmp_path: Path) -> None:
    from tooling.bench_run import CONVERSATIONS_PER_SLOT, BenchOptions, conversations_per_round

    options = BenchOptions(
        mix=("hello",),
        levels=(1, 10, 50),
        conversations=20,
        rounds=3,
        model=tmp_path / "model.tar.gz",
        stock_venv=tmp_path / "stock-venv",
        stock_dir=tmp_path / "stock",
        work_dir=tmp_path / "work",
        training=False,
        profile=False,
        command="python -m tooling bench",
    )
    assert CONVERSATIONS_PER_SLOT > 1
    assert conversations_per_round(options, 1) == 20  # the operator's figure when it is more
    assert conversations_per_round(options, 10) == 10 * CONVERSATIONS_PER_SLOT
    assert conversations_per_round(options, 50) == 50 * CONVERSATIONS_PER_SLOT
