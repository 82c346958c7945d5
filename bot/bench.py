"""Load generation for `make bench`: concurrent patient conversations over the REST channel.

Each conversation is its own sender and sends the message mix in order, one message at a
time, as a patient does; ``concurrency`` conversations run at once. Every reply is timed
from request to full response. A reply that is not HTTP 200 with a JSON list, or that
takes longer than the timeout, counts as an error and is never timed as a success.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    messages: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def throughput(self) -> float:
        """Messages answered per second (errors excluded)."""
        return len(self.latencies_ms) / self.seconds if self.seconds else math.nan

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile of the successful latencies, in milliseconds."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    def summary(self) -> dict[str, float | int]:
        return {
            "concurrency": self.concurrency,
            "messages": self.messages,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "throughput_per_s": round(self.throughput, 2),
            "p50_ms": round(self.percentile(0.50), 1),
            "p95_ms": round(self.percentile(0.95), 1),
            "p99_ms": round(self.percentile(0.99), 1),
        }


async def _conversation(
    session: aiohttp.ClientSession,
    url: str,
    mix: Sequence[str],
    latencies: list[float],
    errors: list[str],
) -> None:
    sender = f"bench-{uuid.uuid4()}"
    for text in mix:
        started = time.perf_counter()
        try:
            async with session.post(url, json={"sender": sender, "message": text}) as response:
                body = await response.json(content_type=None)
                if response.status != 200 or not isinstance(body, list):
                    errors.append(f"HTTP {response.status}")
                    continue
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            errors.append(type(error).__name__)
            continue
        latencies.append((time.perf_counter() - started) * 1000)


async def run_load(
    url: str, mix: Sequence[str], concurrency: int, conversations: int, timeout: float = 30.0
) -> LoadResult:
    """``conversations`` conversations of ``mix``, at most ``concurrency`` at once."""
    latencies: list[float] = []
    errors: list[str] = []
    limit = asyncio.Semaphore(concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=client_timeout, connector=connector) as session:

        async def one() -> None:
            async with limit:
                await _conversation(session, url, mix, latencies, errors)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conversations)))
        seconds = time.perf_counter() - started
    return LoadResult(concurrency, conversations * len(mix), len(errors), seconds, tuple(latencies))
