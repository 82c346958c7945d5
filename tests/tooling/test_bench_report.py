"""The benchmark's verdict on its targets, its markdown report and its chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tooling.bench_report import bench_chart, bench_markdown
from tooling.bench_run import BOT, PARSE_FLOOR, STOCK, targets_met


def _row(system: str, level: int, throughput: float, p95: float, errors: int = 0) -> dict[str, Any]:
    return {
        "system": system,
        "concurrency": level,
        "messages": 80,
        "errors": errors,
        "seconds": 2.0,
        "throughput_per_s": throughput,
        "p50_ms": p95 / 2,
        "p95_ms": p95,
        "p99_ms": p95 * 1.5,
    }


def _report(rest: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "date": "2026-11-22T05:00:00+00:00",
        "machine": {"cores": 2, "cpu": "Test CPU", "memory_gb": 24.0},
        "commit": "abc1234",
        "command": "python -m tooling bench",
        "messages": ["a", "b"],
        "rounds": 3,
        "rest": rest,
        "floors": [_row(PARSE_FLOOR, 1, 90.0, 12.0)],
        "servers": [
            {"name": "this bot: the Rasa server", "startup_s": 20.5, "peak_rss_mb": 1500, "pss_mb": 1200}
        ],
        "training": {BOT: {"cold_seconds": 500.0, "warm_seconds": 40.0}},
        "profile": {
            BOT: {
                "samples": 900,
                "busy_cores": 0.9,
                "shares": {"schema": 0.08, "embedding": 0.5},
            },
            STOCK: {
                "samples": 950,
                "busy_cores": 1.95,
                "shares": {"schema": 0.4, "embedding": 0.0},
            },
        },
        "targets": targets_met(rest),
    }


def test_targets_are_judged_on_the_runs_own_figures() -> None:
    fast = [_row(BOT, 1, 30.0, 45.0), _row(BOT, 10, 75.0, 200.0), _row(STOCK, 10, 25.0, 500.0)]
    verdict = targets_met(fast)
    assert verdict["throughput_ratio_at_10"] == 3.0 and verdict["throughput_met"]
    assert verdict["single_user_p95_ms"] == 45.0 and verdict["p95_met"]
    assert verdict["all_met"]

    slow = [_row(BOT, 1, 15.0, 90.0), _row(BOT, 10, 40.0, 700.0, errors=2), _row(STOCK, 10, 20.0, 500.0)]
    verdict = targets_met(slow)
    assert verdict["throughput_ratio_at_10"] == 2.0 and not verdict["throughput_met"]
    assert not verdict["p95_met"] and verdict["errors"] == 2 and not verdict["all_met"]


def test_without_the_stock_bot_at_ten_there_is_no_ratio_and_no_pass() -> None:
    verdict = targets_met([_row(BOT, 1, 30.0, 45.0), _row(BOT, 10, 75.0, 200.0)])
    assert verdict["throughput_ratio_at_10"] is None and not verdict["all_met"]


def test_the_markdown_shows_every_figure_and_the_verdict() -> None:
    rest = [
        _row(BOT, 1, 15.0, 90.0),
        _row(BOT, 10, 40.0, 700.0),
        _row(STOCK, 1, 19.0, 60.0),
        _row(STOCK, 10, 20.0, 500.0),
    ]
    text = bench_markdown(_report(rest))
    assert "| this bot | 10 | 80 | 0 | 40.0 | 350.0 | 700.0 | 1050.0 |" in text
    assert "| stock rasa init bot | 10 | 80 | 0 | 20.0 | 250.0 | 500.0 | 750.0 |" in text
    assert "throughput at 10 conversations 2.0x the stock bot's (target 2.5x: **not met**)" in text
    assert "single-user p95 90.0 ms (target 50 ms: **not met**)" in text
    assert "| this bot: the Rasa server | 20.5 | 1500 | 1200 |" in text
    assert "| this bot | 500 | 40 |" in text
    assert "| schema | 8% | 40% |" in text and "| busy, in cores (all its processes) | 0.90 | 1.95 |" in text
    assert "2 cores (Test CPU), 24.0 GB, commit abc1234" in text


def test_a_level_the_run_left_out_is_reported_unmeasured_not_failed() -> None:
    text = bench_markdown(_report([_row(BOT, 10, 40.0, 700.0), _row(STOCK, 10, 10.0, 500.0)]))
    assert "throughput at 10 conversations 4.0x the stock bot's (target 2.5x: met)" in text
    assert "single-user p95 not measured in this run (target 50 ms)" in text


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    rest = [_row(s, level, 20.0, 100.0 * level) for s in (BOT, STOCK) for level in (1, 10, 50)]
    path = tmp_path / "out" / "bench.png"
    bench_chart(_report(rest), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
