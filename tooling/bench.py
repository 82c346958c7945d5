"""The measurements of `make bench`: load over HTTP, in-process floors, training time, profiles.

Load: each conversation is its own sender and sends the message mix in order, one message
at a time, as a patient does; ``concurrency`` conversations run at once (with a deadline,
each starts over as a new sender until then: `make load`). Every reply is timed from
request to full response. A reply that is not HTTP 200 with the expected JSON shape, or
that takes longer than the timeout, counts as an error and is never timed as a success.
Systems compared in one run take turns round by round (the order flips each round), so
whatever else the machine does falls on all of them alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.settings import PROJECT_DIR

# The fixed message mix every benchmark conversation sends, in order.
MESSAGES_FILE = PROJECT_DIR / "bench" / "messages.yml"


class BenchError(RuntimeError):
    """A measurement could not be taken (a training failed, a tool is missing)."""


def verdict(met: bool) -> str:
    """How the reports (`make bench`, `make load`) mark a target: met, or **not met** in bold."""
    return "met" if met else "**not met**"


def provenance(command: str, mix: Sequence[str]) -> dict[str, Any]:
    """Where, when and how a measurement was made, and the message mix it sent."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": commit(),
        "command": command,
        "messages": list(mix),
    }


def read_mix(path: Path = MESSAGES_FILE) -> tuple[str, ...]:
    """The message mix in ``path`` (a YAML file with a list ``messages``)."""
    return tuple(str(text) for text in yaml.safe_load(path.read_text(encoding="utf-8"))["messages"])


@dataclass(frozen=True)
class Reply:
    """One message's outcome: when it ended (``time.perf_counter()``), how long it took, and
    what went wrong (None: a good reply)."""

    at: float
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    messages: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @classmethod
    def of(cls, concurrency: int, replies: Sequence[Reply], seconds: float) -> LoadResult:
        """The result of ``replies``: every one a message, the good ones timed."""
        timed = tuple(reply.latency_ms for reply in replies if reply.error is None)
        return cls(concurrency, len(replies), len(replies) - len(timed), seconds, timed)

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


def combine(results: Sequence[LoadResult]) -> LoadResult:
    """Several rounds at one concurrency as one result: all latencies, all the time spent."""
    if not results:
        raise ValueError("no results to combine")
    return LoadResult(
        results[0].concurrency,
        sum(r.messages for r in results),
        sum(r.errors for r in results),
        sum(r.seconds for r in results),
        tuple(latency for r in results for latency in r.latencies_ms),
    )


@dataclass(frozen=True)
class Target:
    """Where the load goes: the URL, the JSON body for (sender, text), the answer's JSON type,
    and whether an empty answer counts as a reply."""

    url: str
    body: Callable[[str, str], dict[str, Any]]
    answer_type: type
    empty_ok: bool = True


def rest_target(rest_url: str, empty_ok: bool = True) -> Target:
    """Rasa's REST channel: a list of bot messages per user message (with ``empty_ok`` false,
    an empty list is an error: the bot said nothing)."""
    return Target(rest_url, lambda sender, text: {"sender": sender, "message": text}, list, empty_ok)


def parse_target(rasa_url: str, token: str) -> Target:
    """Rasa's ``/model/parse`` (NLU alone: no tracker, no policy, no action)."""
    return Target(f"{rasa_url}/model/parse?token={token}", lambda _, text: {"text": text}, dict)


def _fault(target: Target, body: object) -> str | None:
    """What is wrong with an HTTP 200 answer's JSON, or None for a good reply."""
    if not isinstance(body, target.answer_type):
        return "unexpected answer"
    if not body and not target.empty_ok:
        return "empty reply"
    return None


async def _send(session: aiohttp.ClientSession, target: Target, sender: str, text: str) -> Reply:
    """One message, timed from request to full response."""
    started = time.perf_counter()
    error: str | None
    try:
        async with session.post(target.url, json=target.body(sender, text)) as response:
            if response.status != 200:
                await response.read()
                error = f"HTTP {response.status}"
            else:
                error = _fault(target, await response.json(content_type=None))
    except asyncio.TimeoutError:
        error = "timeout"
    except ValueError:
        error = "not JSON"
    except aiohttp.ClientError as failure:
        error = type(failure).__name__
    ended = time.perf_counter()
    return Reply(ended, (ended - started) * 1000, error)


async def _conversation(
    session: aiohttp.ClientSession,
    target: Target,
    mix: Sequence[str],
    replies: list[Reply],
    until: float | None = None,
) -> None:
    """The mix in order as one sender; with ``until`` (a ``time.perf_counter()`` deadline), the
    mix again and again, each time as a new sender, and no message sent after the deadline."""
    while True:
        sender = f"bench-{uuid.uuid4()}"
        for text in mix:
            if until is not None and time.perf_counter() >= until:
                return
            replies.append(await _send(session, target, sender, text))
        if until is None or not mix:
            return


async def converse(
    target: Target,
    mix: Sequence[str],
    concurrency: int,
    conversations: int,
    timeout: float = 30.0,
    until: float | None = None,
) -> tuple[list[Reply], float]:
    """``conversations`` conversations of ``mix``, at most ``concurrency`` at once, each to
    ``until`` if given: every reply, and the seconds it all took."""
    replies: list[Reply] = []
    limit = asyncio.Semaphore(concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=client_timeout, connector=connector) as session:

        async def one() -> None:
            async with limit:
                await _conversation(session, target, mix, replies, until)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conversations)))
        seconds = time.perf_counter() - started
    return replies, seconds


async def run_load(
    target: Target | str, mix: Sequence[str], concurrency: int, conversations: int, timeout: float = 30.0
) -> LoadResult:
    """``conversations`` conversations of ``mix``, at most ``concurrency`` at once.

    A plain URL is taken as a REST channel webhook.
    """
    target = rest_target(target) if isinstance(target, str) else target
    replies, seconds = await converse(target, mix, concurrency, conversations, timeout)
    return LoadResult.of(concurrency, replies, seconds)


async def alternate(
    targets: Mapping[str, Target], mix: Sequence[str], concurrency: int, conversations: int, rounds: int
) -> dict[str, LoadResult]:
    """``rounds`` rounds per system at one concurrency, taking turns, the order flipped each round."""
    names = list(targets)
    results: dict[str, list[LoadResult]] = {name: [] for name in names}
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            results[name].append(await run_load(targets[name], mix, concurrency, conversations))
    return {name: combine(rounds_of) for name, rounds_of in results.items()}


def time_calls(function: Callable[[str], object], texts: Sequence[str], repeats: int) -> LoadResult:
    """A floor measured in this process: ``function`` on each text, one call at a time."""
    for text in texts:  # warm-up, not timed
        function(text)
    latencies = []
    started = time.perf_counter()
    for _ in range(repeats):
        for text in texts:
            call_started = time.perf_counter()
            function(text)
            latencies.append((time.perf_counter() - call_started) * 1000)
    seconds = time.perf_counter() - started
    return LoadResult(1, len(latencies), 0, seconds, tuple(latencies))


@dataclass(frozen=True)
class TrainingTime:
    """Cold: an empty training cache. Warm: the same data again, with the cold run's cache."""

    cold_seconds: float
    warm_seconds: float


def time_training(command: Sequence[str], cwd: Path, env: Mapping[str, str], work: Path) -> TrainingTime:
    """``command`` (a ``rasa train`` without ``--out``) run cold, then warm, in ``work``."""
    environment = {**env, "RASA_CACHE_DIRECTORY": str(work / "cache")}

    def train(name: str) -> float:
        log = work / f"train-{name}.log"
        started = time.monotonic()
        with log.open("wb") as output:
            code = subprocess.call(  # noqa: S603 (fixed argument list)
                [*command, "--out", str(work / name)],
                cwd=cwd,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        if code != 0:
            raise BenchError(f"training ({name}) failed with code {code}; its log is {log}")
        return time.monotonic() - started

    work.mkdir(parents=True, exist_ok=True)
    return TrainingTime(cold_seconds=train("cold"), warm_seconds=train("warm"))


# Where a Rasa server's time goes, by the code a sample was in (inclusive: a sample in
# MiniLM inside the topic reader counts for the embedding and for the reader). Patterns
# match py-spy frames, "function (path/to/file.py:line)".
PROFILE_PARTS: dict[str, str] = {
    "JSON-schema validation (jsonschema)": r"\(jsonschema/",
    "sentence embedding (bot/embedding.py: MiniLM and e5)": r"\(bot/embedding\.py",
    "topic reader (components/topic_reader.py, all of it)": r"\(components/topic_reader\.py",
    "intent classifier (bot/classifier.py; DIET in the stock bot)": (
        r"\((bot/classifier|rasa/nlu/classifiers/diet_classifier)\.py"
    ),
    "tokenizer and sparse featurizers": r"\(rasa/nlu/(tokenizers|featurizers/sparse_featurizer)/",
    "dialogue policies": r"\(rasa/core/policies/",
    "tracker store (tracker (de)serialisation)": r"\(rasa/core/tracker_store\.py",
    "event class lookup (all_subclasses)": r"^all_subclasses \(",
    "call to the action server (HTTP client)": r"\(rasa/utils/endpoints\.py",
    "red-flag screen (components/safety_screen.py)": r"\(components/safety_screen\.py",
}


@dataclass(frozen=True)
class Profile:
    samples: int
    seconds: float
    rate: int
    shares: dict[str, float]

    @property
    def busy_share(self) -> float:
        """How many cores' worth of time the server's processes used while sampled."""
        return self.samples / (self.seconds * self.rate) if self.seconds else math.nan


# A server's parent process waiting for its worker processes: not work, left out.
WAITING_FOR_WORKERS = r"^join \(multiprocessing/process\.py"


def profile_shares(
    raw: str, parts: Mapping[str, str] = PROFILE_PARTS, ignore: str = WAITING_FOR_WORKERS
) -> tuple[int, dict[str, float]]:
    """Busy samples in py-spy's raw format ("frame;frame;... count"), and each part's share.

    Stacks with a frame matching ``ignore`` are not counted at all.
    """
    patterns = {name: re.compile(pattern) for name, pattern in parts.items()}
    skip = re.compile(ignore)
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(skip.search(frame) for frame in frames):
            continue
        total += int(count)
        for name, pattern in patterns.items():
            if any(pattern.search(frame) for frame in frames):
                counts[name] += int(count)
    return total, {name: counts[name] / total if total else 0.0 for name in parts}


@contextmanager
def sampled(py_spy: str, pid: int, seconds: float, rate: int, output: Path) -> Iterator[list[Profile]]:
    """Sample process ``pid`` and its children (a server's workers) with py-spy while the block
    runs; the profile is appended at the end."""
    process = subprocess.Popen(  # noqa: S603 (fixed argument list)
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--duration",
            str(math.ceil(seconds)),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
            "--subprocesses",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    profiles: list[Profile] = []
    started = time.monotonic()
    try:
        yield profiles
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        _, stderr = process.communicate(timeout=60)
    elapsed = min(time.monotonic() - started, math.ceil(seconds))
    if not output.exists():
        raise BenchError(f"py-spy wrote no profile: {stderr.decode(errors='replace').strip()[-300:]}")
    samples, shares = profile_shares(output.read_text(encoding="utf-8", errors="replace"))
    profiles.append(Profile(samples, elapsed, rate, shares))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"cores": os.cpu_count(), "cpu": model, "memory_gb": round(memory_gb, 1)}


GIT = shutil.which("git") or "/usr/bin/git"


def _git(*arguments: str) -> str:
    return subprocess.run(  # noqa: S603 (fixed command)
        [GIT, *arguments], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"
