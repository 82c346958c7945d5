"""The soak run (`make load`): windows, memory verdict, report, and a short run against the
small local REST-like server of tests/tooling/test_bench.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tooling import test_bench
from tooling.bench import Reply, rest_target
from tooling.load import (
    FLAT_MB,
    LoadRun,
    MemorySample,
    error_kinds,
    is_flat,
    load_markdown,
    load_report,
    memory_growth,
    per_minute,
    sample_memory,
    soak,
    write_results,
)

fake_rest = test_bench.fake_rest  # answers "break" with HTTP 500, and [] on /other/webhook

ABOUT = {
    "date": "2024-01-01T00:00:00+00:00",
    "machine": {"cores": 2, "cpu": "test CPU", "memory_gb": 4.0},
    "commit": "abc1234",
    "command": "python -m tooling load",
    "messages_file": "bench/messages.yml",
    "messages": ["hello", "thanks"],
}


def _ok(at: float, latency_ms: float) -> Reply:
    return Reply(at, latency_ms)


def _failed(at: float, error: str = "HTTP 500") -> Reply:
    return Reply(at, 5.0, error)


def _memory(at: float, rasa: float | None, actions: float | None = 100.0) -> MemorySample:
    sizes = {"Rasa server": rasa, "action server": actions}
    return MemorySample(at, sizes, {name: size and size + 10 for name, size in sizes.items()})


def _run(replies: list[Reply], memory: list[MemorySample] | None = None, seconds: float = 160.0) -> LoadRun:
    return LoadRun(4, 10.0, seconds, tuple(replies), tuple(memory or []))


def test_each_minute_after_the_warm_up_has_its_own_percentiles() -> None:
    replies = [
        _ok(1.0, 5000.0),  # warm-up: slow, and not in the figures
        _ok(9.9, 4000.0),
        _ok(10.0, 10.0),  # the warm-up's end is minute 1's start
        _ok(30.0, 20.0),
        _failed(40.0),
        _ok(69.9, 30.0),
        _ok(70.0, 100.0),
        _ok(100.0, 200.0),
        _ok(159.0, 900.0),  # the last, short minute
    ]
    rows = per_minute(_run(replies))
    names = ["warm-up (not in the figures)", "minute 1", "minute 2", "minute 3"]
    assert [row["window"] for row in rows] == names
    assert [(row["from_s"], row["to_s"]) for row in rows] == [(0, 10), (10, 70), (70, 130), (130, 160)]
    assert [row["messages"] for row in rows] == [2, 4, 2, 1]
    assert [row["errors"] for row in rows] == [0, 1, 0, 0]
    assert (rows[1]["p50_ms"], rows[1]["p99_ms"], rows[1]["max_ms"]) == (20.0, 30.0, 30.0)
    assert (rows[2]["p50_ms"], rows[2]["max_ms"]) == (100.0, 200.0)
    assert rows[3]["max_ms"] == 900.0
    assert rows[1]["throughput_per_s"] == round(3 / 60, 2)


def test_the_replies_in_flight_at_the_deadline_join_the_last_minute() -> None:
    replies = [_ok(10.0, 10.0), _ok(69.0, 20.0), _ok(70.2, 30.0)]  # the deadline was at 70 s
    rows = per_minute(_run(replies, seconds=70.3))
    assert [(row["window"], row["from_s"], row["to_s"]) for row in rows] == [
        ("warm-up (not in the figures)", 0, 10),
        ("minute 1", 10, 70.3),
    ]
    assert rows[1]["messages"] == 3


def test_a_window_without_answers_has_no_figures_rather_than_nan() -> None:
    rows = per_minute(_run([_failed(20.0)], seconds=70.0))
    assert rows[1]["errors"] == 1
    assert rows[1]["p50_ms"] is None and rows[1]["max_ms"] is None
    json.dumps(rows, allow_nan=False)


def test_the_overall_figures_leave_the_warm_up_out() -> None:
    report = load_report(_run([_ok(2.0, 5000.0), _ok(20.0, 10.0), _ok(30.0, 30.0)]), ABOUT)
    assert report["load"]["messages"] == 2
    assert (report["load"]["p50_ms"], report["load"]["max_ms"]) == (10.0, 30.0)
    assert report["seconds"] == 150.0


def test_errors_are_counted_by_kind_warm_up_included() -> None:
    replies = [_failed(1.0, "timeout"), _failed(20.0), _failed(30.0), _failed(40.0, "empty reply")]
    replies.append(_ok(50.0, 9.0))
    assert list(error_kinds(replies).items()) == [("HTTP 500", 2), ("timeout", 1), ("empty reply", 1)]
    report = load_report(_run(replies), ABOUT)
    assert report["errors"] == {"count": 4, "kinds": {"HTTP 500": 2, "timeout": 1, "empty reply": 1}}
    assert report["targets"]["errors_met"] is False and report["targets"]["all_met"] is False


@pytest.mark.parametrize(
    ("start", "end", "flat"),
    [
        (1000.0, 1000.0, True),
        (1000.0, 900.0, True),  # shrinking is flat
        (2000.0, 2000.0 + FLAT_MB - 1, True),
        (2000.0, 2000.0 + FLAT_MB, False),  # under 5%, but 50 MB
        (500.0, 524.0, True),
        (500.0, 525.0, False),  # under 50 MB, but 5%
    ],
)
def test_memory_is_flat_below_both_thresholds(start: float, end: float, flat: bool) -> None:
    assert is_flat(start, end) is flat


def test_memory_growth_is_measured_from_the_end_of_the_warm_up() -> None:
    samples = [_memory(0.0, 300.0), _memory(5.0, 800.0), _memory(10.0, 900.0), _memory(70.0, 920.0)]
    memory = memory_growth(_run([], samples))
    assert memory["measured"] and (memory["from_s"], memory["to_s"]) == (10.0, 70.0)
    assert memory["servers"]["Rasa server"]["growth_mb"] == 20.0
    assert memory["servers"]["Rasa server"]["peak_mb"] == 930.0
    assert memory["servers"]["action server"]["growth_mb"] == 0.0
    total = memory["total"]
    assert (total["start_mb"], total["end_mb"], total["growth_mb"], total["mb_per_minute"]) == (
        1000.0,
        1020.0,
        20.0,
        20.0,
    )
    assert total["growth_share"] == 0.02
    assert memory["flat"] is True


def test_memory_that_grows_is_not_flat() -> None:
    memory = memory_growth(_run([], [_memory(10.0, 900.0), _memory(160.0, 1100.0)]))
    assert memory["total"]["growth_mb"] == 200.0 and memory["total"]["mb_per_minute"] == 80.0
    assert memory["flat"] is False


def test_a_server_gone_by_the_end_is_not_flat() -> None:
    memory = memory_growth(_run([], [_memory(10.0, 900.0), _memory(160.0, None)]))
    assert memory["servers"]["Rasa server"]["growth_mb"] is None
    assert memory["flat"] is False


def test_without_processes_memory_is_not_measured_and_not_a_failure() -> None:
    report = load_report(_run([_ok(20.0, 10.0)], [MemorySample(0.0, {}, {})]), ABOUT)
    assert report["memory"]["measured"] is False
    assert report["targets"] == {"errors": 0, "errors_met": True, "memory_flat": None, "all_met": True}
    assert "**Memory**: not measured" in load_markdown(report)


def test_the_markdown_shows_the_verdicts_the_minutes_and_the_memory() -> None:
    replies = [_ok(5.0, 50.0), _ok(20.0, 10.0), _failed(80.0), _ok(90.0, 40.0)]
    samples = [_memory(10.0, 900.0), _memory(160.0, 1100.0)]
    markdown = load_markdown(load_report(_run(replies, samples), ABOUT))
    assert "4 conversations at once over the REST channel for 150 s after a 10 s warm-up" in markdown
    assert "**Errors** (warm-up included): 1 (HTTP 500: 1); target none: **not met**." in markdown
    assert "| warm-up (not in the figures) | 0-10 | 1 | 0 |" in markdown
    assert "| minute 1 | 10-70 | 1 | 0 |" in markdown
    assert "| minute 2 | 70-130 | 2 | 1 |" in markdown
    assert "| **after the warm-up** | 10-160 | 3 | 1 |" in markdown
    assert "| Rasa server | 900.0 | 1100.0 | 200.0 | 80.0 | 1110.0 |" in markdown
    assert (
        "Memory growth: 200.0 MB (+20.0%), 80.0 MB/minute; flat (growth after the warm-up under 5% and "
        "under 50 MB): **not met**."
    ) in markdown
    assert markdown.endswith("Verdict: errors 1 (target none: **not met**); memory flat: **not met**.")


def test_the_results_are_written_as_json_and_markdown(tmp_path: Path) -> None:
    report = load_report(_run([_ok(20.0, 10.0)], [_memory(10.0, 900.0), _memory(160.0, 900.0)]), ABOUT)
    json_file, markdown_file = write_results(report, tmp_path / "results")
    assert json.loads(json_file.read_text(encoding="utf-8")) == report
    assert markdown_file.read_text(encoding="utf-8") == load_markdown(report) + "\n"
    assert "memory flat: met." in markdown_file.read_text(encoding="utf-8")


def test_a_short_soak_counts_every_message_and_reports_the_injected_errors(
    fake_rest: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = fake_rest
    mix = ["hello", "break", "how much is it?"]  # the fake answers "break" with HTTP 500
    run = asyncio.get_event_loop().run_until_complete(
        soak(rest_target(url, empty_ok=False), mix, 4, 2.0, 1.0, {"this test": os.getpid()}, every=0.5)
    )
    report = load_report(run, ABOUT)
    breaks = sum(payload["message"] == "break" for payload in seen)
    assert len(run.replies) == len(seen) > len(mix) * 4  # the conversations started over
    assert breaks > 0 and report["errors"] == {"count": breaks, "kinds": {"HTTP 500": breaks}}
    assert sum(row["messages"] for row in report["per_minute"]) == len(seen)
    assert report["load"]["messages"] + report["per_minute"][0]["messages"] == len(seen)
    assert report["targets"]["errors_met"] is False
    # Each pass through the mix is a new patient: every sender sends the mix in order (the
    # deadline may cut its last pass short), and there are more senders than conversations.
    by_sender: dict[str, list[str]] = {}
    for payload in seen:
        by_sender.setdefault(payload["sender"], []).append(payload["message"])
    assert len(by_sender) > 4
    assert all(messages == mix[: len(messages)] for messages in by_sender.values())
    # This test's own process was sampled, during the run and at its end.
    assert len(run.memory) >= 2 and report["memory"]["measured"]
    assert run.memory[-1].at >= max(reply.at for reply in run.replies)
    assert report["memory"]["servers"]["this test"]["end_mb"] > 0


def test_an_empty_reply_is_an_error_in_a_soak(fake_rest: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = fake_rest
    silent = rest_target(url.replace("/webhooks/rest/webhook", "/other/webhook"), empty_ok=False)
    run = asyncio.get_event_loop().run_until_complete(soak(silent, ["hi"], 2, 0.5, 0.0, {}))
    assert run.replies and error_kinds(run.replies) == {"empty reply": len(seen)}
    assert load_report(run, ABOUT)["memory"]["measured"] is False


# Touches 300 MB, frees it, says so, then waits.
SHRINKER = "x = b'x' * (300 * 2**20); del x; print('freed', flush=True); import time; time.sleep(30)"


def test_memory_samples_are_the_current_size_beside_the_peak() -> None:
    command = [sys.executable, "-c", SHRINKER]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:  # noqa: S603 (fixed)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "freed"
            sample = sample_memory({"child": child.pid}, 0.0)
        finally:
            child.kill()
    now, peak = sample.rss_mb["child"], sample.peak_mb["child"]
    assert now is not None and peak is not None and now < peak - 200
