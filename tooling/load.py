"""`make load`: a soak run, many conversations at once for minutes against a running bot.

A benchmark, not a timed test. ``conversations`` conversations run at once over the REST
channel for the whole run: each sends the message mix of `make bench` (bench/messages.yml)
in order, one message at a time, then starts over as a new patient (a fresh sender id),
until the deadline. The first seconds are a warm-up: their replies are shown but left out
of the latency figures, and the memory baseline is taken when the warm-up ends.

An error is a reply that is not HTTP 200, not a list of bot messages, an empty list (the
bot said nothing), or later than the timeout; the target is none, warm-up included.
Memory is the resident set (``VmRSS``) of each server process with its worker processes,
sampled every few seconds; the target is flat: after the warm-up, the servers together grow
by less than ``FLAT_SHARE`` of their size and less than ``FLAT_MB``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.settings import display_path
from tooling.bench import LoadResult, Reply, Target, converse, provenance, rest_target, verdict
from tooling.servers import ServerProcess

DEFAULT_CONVERSATIONS = 50
DEFAULT_SECONDS = 180.0
DEFAULT_WARMUP_SECONDS = 20.0
SAMPLE_EVERY_SECONDS = 5.0
TIMEOUT_SECONDS = 30.0
# Memory is flat when it grows, after the warm-up, by less than both of these.
FLAT_SHARE = 0.05
FLAT_MB = 50.0
FLAT_RULE = f"growth after the warm-up under {FLAT_SHARE:.0%} and under {FLAT_MB:.0f} MB"
MINUTE = 60.0


@dataclass(frozen=True)
class MemorySample:
    """Each server's memory at one moment, in MB; None for a server that is gone."""

    at: float  # seconds since the load began
    rss_mb: dict[str, float | None]
    peak_mb: dict[str, float | None]


@dataclass(frozen=True)
class LoadRun:
    """What a soak run saw: every reply (``at``: seconds since the load began) and memory sample."""

    conversations: int
    warmup: float
    seconds: float  # the whole run, warm-up included
    replies: tuple[Reply, ...]
    memory: tuple[MemorySample, ...]


def server_name(pid: int) -> str:
    """A server process's name for the report, from its command line."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        command = ""
    kind = "Rasa server" if "rasa_server" in command or "rasa run" in command else "process"
    if "rasa_sdk" in command:
        kind = "action server"
    return f"{kind} (pid {pid})"


def server_processes(pids: Iterable[int]) -> dict[str, int]:
    """The processes to sample, by name."""
    return {server_name(pid): pid for pid in pids}


def sample_memory(processes: Mapping[str, int], at: float) -> MemorySample:
    """Current and peak resident memory of each process with its children (its workers)."""
    servers = [ServerProcess(name, pid, 0.0) for name, pid in processes.items()]
    return MemorySample(at, {s.name: s.rss_mb() for s in servers}, {s.name: s.peak_rss_mb() for s in servers})


async def _sample_every(
    processes: Mapping[str, int], started: float, every: float, samples: list[MemorySample]
) -> None:
    while True:
        samples.append(sample_memory(processes, time.perf_counter() - started))
        await asyncio.sleep(every)


async def soak(
    target: Target,
    mix: Sequence[str],
    conversations: int,
    seconds: float,
    warmup: float,
    processes: Mapping[str, int],
    every: float = SAMPLE_EVERY_SECONDS,
    timeout: float = TIMEOUT_SECONDS,
) -> LoadRun:
    """``conversations`` conversations at once for ``warmup`` + ``seconds`` seconds, the memory
    of ``processes`` sampled every ``every`` seconds and once more at the end."""
    started = time.perf_counter()
    samples: list[MemorySample] = []
    sampler = asyncio.create_task(_sample_every(processes, started, every, samples))
    try:
        replies, _ = await converse(
            target, mix, conversations, conversations, timeout, until=started + warmup + seconds
        )
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    ended = time.perf_counter() - started
    samples.append(sample_memory(processes, ended))
    relative = tuple(replace(reply, at=reply.at - started) for reply in replies)
    return LoadRun(conversations, warmup, ended, relative, tuple(samples))


def soak_bot(
    rest_url: str, mix: Sequence[str], conversations: int, seconds: float, warmup: float, pids: Iterable[int]
) -> LoadRun:
    """A soak run against the bot's REST channel at ``rest_url``, sampling the processes ``pids``."""
    target = rest_target(rest_url, empty_ok=False)
    return asyncio.run(soak(target, mix, conversations, seconds, warmup, server_processes(pids)))


def use_fresh_data_dir(directory: Path) -> None:
    """Keep the conversations of a bot started for the run in ``directory`` (emptied first), not
    in the operator's ``BOT_DATA_DIR``."""
    shutil.rmtree(directory, ignore_errors=True)
    os.environ["BOT_DATA_DIR"] = str(directory)


def about(command: str, mix: Sequence[str], messages_file: Path) -> dict[str, Any]:
    """Where and how a run was made, for ``load_report``."""
    return {**provenance(command, mix), "messages_file": display_path(messages_file)}


def _plain(value: Any) -> Any:
    """NaN (no figure: nothing was answered) as None, so that the JSON stays JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


def latency_row(replies: Sequence[Reply], seconds: float, conversations: int) -> dict[str, Any]:
    """Messages, errors, throughput and p50/p95/p99/max latency of ``replies``."""
    result = LoadResult.of(conversations, replies, max(seconds, 0.0))
    row = {**result.summary(), "max_ms": round(result.percentile(1.0), 1)}
    return {name: _plain(value) for name, value in row.items()}


def _measured(run: LoadRun) -> list[Reply]:
    return [reply for reply in run.replies if reply.at >= run.warmup]


# A last piece shorter than this share of a minute (the replies still in flight at the
# deadline) joins the minute before it instead of making a window of its own.
SHORT_TAIL = 0.1


def _minutes(run: LoadRun) -> int:
    return max(1, math.ceil((run.seconds - run.warmup) / MINUTE - SHORT_TAIL))


def _window(run: LoadRun, number: int) -> tuple[str, float, float]:
    """Window ``number``'s name, start and end (seconds since the load began); -1 is the warm-up."""
    if number < 0:
        return "warm-up (not in the figures)", 0.0, run.warmup
    start = run.warmup + MINUTE * number
    last = number == _minutes(run) - 1
    return f"minute {number + 1}", start, run.seconds if last else start + MINUTE


def per_minute(run: LoadRun) -> list[dict[str, Any]]:
    """The latency figures of the warm-up, then of each minute after it (the last may be short)."""
    count = _minutes(run)
    windows: dict[int, list[Reply]] = {number: [] for number in range(-1 if run.warmup else 0, count)}
    for reply in run.replies:
        number = -1 if reply.at < run.warmup else min(int((reply.at - run.warmup) // MINUTE), count - 1)
        windows[number].append(reply)
    rows = []
    for number, replies in windows.items():
        name, start, end = _window(run, number)
        rows.append(
            {"window": name, "from_s": round(start, 1), "to_s": round(end, 1)}
            | latency_row(replies, end - start, run.conversations)
        )
    return rows


def error_kinds(replies: Iterable[Reply]) -> dict[str, int]:
    """How many errors of each kind, the most frequent first."""
    return dict(Counter(reply.error for reply in replies if reply.error).most_common())


def is_flat(start_mb: float, end_mb: float) -> bool:
    """Whether memory that was ``start_mb`` after the warm-up and ``end_mb`` at the end is flat."""
    growth = end_mb - start_mb
    return growth < FLAT_MB and growth < FLAT_SHARE * start_mb


def _growth(start: float | None, end: float | None, peak: float | None, minutes: float) -> dict[str, Any]:
    growth = end - start if start is not None and end is not None else None
    return {
        "start_mb": _round(start),
        "end_mb": _round(end),
        "growth_mb": _round(growth),
        "growth_share": round(growth / start, 4) if growth is not None and start else None,
        "mb_per_minute": _round(growth / minutes if growth is not None and minutes > 0 else None),
        "peak_mb": _round(peak),
    }


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _total(sizes: Iterable[float | None]) -> float | None:
    values = list(sizes)
    return None if any(value is None for value in values) else sum(value or 0.0 for value in values)


def memory_growth(run: LoadRun) -> dict[str, Any]:
    """Each server's memory when the warm-up ended and at the end, the growth, and the verdict.

    A server gone by the end (it crashed) makes the memory not flat.
    """
    if not run.memory or not run.memory[-1].rss_mb:
        return {"measured": False, "rule": FLAT_RULE}
    start = next((sample for sample in run.memory if sample.at >= run.warmup), run.memory[-1])
    end = run.memory[-1]
    minutes = (end.at - start.at) / MINUTE
    servers = {
        name: _growth(start.rss_mb[name], end.rss_mb.get(name), end.peak_mb.get(name), minutes)
        for name in start.rss_mb
    }
    total_start, total_end = _total(start.rss_mb.values()), _total(end.rss_mb.values())
    total = _growth(total_start, total_end, _total(end.peak_mb.values()), minutes)
    flat = total_start is not None and total_end is not None and is_flat(total_start, total_end)
    return {
        "measured": True,
        "rule": FLAT_RULE,
        "from_s": round(start.at, 1),
        "to_s": round(end.at, 1),
        "servers": servers,
        "total": total,
        "flat": flat,
    }


def _sample_row(sample: MemorySample) -> dict[str, Any]:
    return {
        "at_s": round(sample.at, 1),
        "rss_mb": {name: _round(size) for name, size in sample.rss_mb.items()},
        "peak_mb": {name: _round(size) for name, size in sample.peak_mb.items()},
    }


def load_report(run: LoadRun, about: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure of a soak run as one JSON-able report; ``about`` (see ``about``) says where
    and how it ran."""
    errors = error_kinds(run.replies)
    memory = memory_growth(run)
    count = sum(errors.values())
    return {
        **about,
        "conversations": run.conversations,
        "warmup_s": run.warmup,
        "seconds": round(run.seconds - run.warmup, 1),
        "load": latency_row(_measured(run), run.seconds - run.warmup, run.conversations),
        "errors": {"count": count, "kinds": errors},
        "per_minute": per_minute(run),
        "memory": memory,
        "samples": [_sample_row(sample) for sample in run.memory],
        "targets": {
            "errors": count,
            "errors_met": count == 0,
            "memory_flat": memory["flat"] if memory["measured"] else None,
            "all_met": count == 0 and memory.get("flat", True),
        },
    }


def _figure(value: Any, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


WINDOW_COLUMNS = (
    "| window | seconds | messages | errors | messages/s | p50 ms | p95 ms | p99 ms | max ms |",
    "|---|---|---|---|---|---|---|---|---|",
)


def _window_line(row: Mapping[str, Any]) -> str:
    figures = " | ".join(
        _figure(row[name])
        for name in ("messages", "errors", "throughput_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms")
    )
    return f"| {row['window']} | {row['from_s']:g}-{row['to_s']:g} | {figures} |"


def _errors_line(report: Mapping[str, Any]) -> str:
    errors = report["errors"]
    kinds = ", ".join(f"{kind}: {count}" for kind, count in errors["kinds"].items())
    return (
        f"**Errors** (warm-up included): {errors['count']}{f' ({kinds})' if kinds else ''}; "
        f"target none: {verdict(errors['count'] == 0)}."
    )


def _latency_line(load: Mapping[str, Any]) -> str:
    percentiles = ", ".join(
        f"{name} {_figure(load[f'{name}_ms'])} ms" for name in ("p50", "p95", "p99", "max")
    )
    return (
        f"**Latency** after the warm-up: {load['messages']} messages, "
        f"{_figure(load['throughput_per_s'])} answered per second; {percentiles}. Per minute:"
    )


def _memory_lines(memory: Mapping[str, Any]) -> list[str]:
    if not memory["measured"]:
        return [
            "**Memory**: not measured (no server process to sample: the bot was already running; "
            "name its processes with `--pid`)."
        ]
    columns = ("start_mb", "end_mb", "growth_mb", "mb_per_minute", "peak_mb")
    rows = [*memory["servers"].items(), ("all servers", memory["total"])]
    total = memory["total"]
    share = f" ({total['growth_share']:+.1%})" if total["growth_share"] is not None else ""
    return [
        f"**Memory**: resident (`VmRSS`) of each server with its worker processes, from the end of "
        f"the warm-up ({memory['from_s']:g} s) to the end ({memory['to_s']:g} s); peak is `VmHWM`. Summed "
        "over the processes, so pages they share count once for each.",
        "",
        "| server | after warm-up MB | at end MB | growth MB | MB/minute | peak MB |",
        "|---|---|---|---|---|---|",
        *[f"| {name} | {' | '.join(_figure(row[c]) for c in columns)} |" for name, row in rows],
        "",
        f"Memory growth: {_figure(total['growth_mb'], ' MB')}{share}, "
        f"{_figure(total['mb_per_minute'], ' MB/minute')}; "
        f"flat ({memory['rule']}): {verdict(memory['flat'])}.",
    ]


def load_markdown(report: Mapping[str, Any]) -> str:
    """The report as markdown: how it ran, errors, latency per minute, memory, the verdicts."""
    machine = report["machine"]
    load = report["load"]
    targets = report["targets"]
    overall = {**load, "window": "**after the warm-up**", "from_s": report["warmup_s"]}
    overall["to_s"] = report["warmup_s"] + report["seconds"]
    return "\n".join(
        [
            f"Measured {report['date']} on {machine['cores']} cores ({machine['cpu'] or 'CPU unknown'}), "
            f"{machine['memory_gb']} GB, commit {report['commit']}, with `{report['command']}`.",
            f"{report['conversations']} conversations at once over the REST channel for "
            f"{report['seconds']:g} s after a {report['warmup_s']:g} s warm-up; each sends the "
            f"{len(report['messages'])} messages of `{report['messages_file']}` in order, then starts "
            "over as a new patient (a fresh sender id).",
            "",
            _errors_line(report),
            "",
            _latency_line(load),
            "",
            *WINDOW_COLUMNS,
            *[_window_line(row) for row in report["per_minute"]],
            _window_line(overall),
            "",
            *_memory_lines(report["memory"]),
            "",
            f"Verdict: errors {targets['errors']} (target none: {verdict(targets['errors_met'])}); memory "
            + (
                "not measured"
                if targets["memory_flat"] is None
                else f"flat: {verdict(targets['memory_flat'])}"
            )
            + ".",
        ]
    )


def write_results(report: Mapping[str, Any], out: Path) -> tuple[Path, Path]:
    """``load.json`` and ``load.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = out / "load.json", out / "load.md"
    written[0].write_text(json.dumps(report, indent=2), encoding="utf-8")
    written[1].write_text(load_markdown(report) + "\n", encoding="utf-8")
    return written
