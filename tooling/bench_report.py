"""The benchmark report (`make bench`) as markdown and as a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tooling.bench import verdict
from tooling.bench_run import BOT, STOCK, TARGET_SINGLE_USER_P95_MS, TARGET_SPEED_UP

LOAD_COLUMNS = (
    "| system | concurrent conversations | messages | errors | messages/s | p50 ms | p95 ms | p99 ms |"
)


def _load_rows(rows: list[dict[str, Any]]) -> list[str]:
    return [
        f"| {r['system']} | {r['concurrency']} | {r['messages']} | {r['errors']} | {r['throughput_per_s']} "
        f"| {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |"
        for r in rows
    ]


def _judged(figure: float | None, unit: str, target: str, met: bool) -> str:
    """A figure against its target; a level this run left out is said to be unmeasured."""
    if figure is None:
        return f"not measured in this run (target {target})"
    return f"{figure}{unit} (target {target}: {verdict(met)})"


def bench_markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    targets = report["targets"]
    lines = [
        f"Measured {report['date']} on {machine['cores']} cores ({machine['cpu'] or 'CPU unknown'}), "
        f"{machine['memory_gb']} GB, commit {report['commit']}, with `{report['command']}`. "
        f"Each conversation sends the {len(report['messages'])} messages of `bench/messages.yml` in order; "
        f"{report['rounds']} rounds per system at each level, taking turns.",
        "",
        "**Over the REST channel**, this bot beside the stock bot (`pip install rasa==3.6.21`, "
        "`rasa init`, served from its own virtual environment in the same run):",
        "",
        LOAD_COLUMNS,
        "|---|---|---|---|---|---|---|---|",
        *_load_rows(report["rest"]),
        "",
        "Targets: throughput at 10 conversations "
        + _judged(
            targets["throughput_ratio_at_10"],
            "x the stock bot's",
            f"{TARGET_SPEED_UP}x",
            targets["throughput_met"],
        )
        + "; single-user p95 "
        + _judged(
            targets["single_user_p95_ms"], " ms", f"{TARGET_SINGLE_USER_P95_MS:.0f} ms", targets["p95_met"]
        )
        + f"; {targets['errors']} errors.",
        "",
        "**Floors** (same run): Rasa's `/model/parse` on this bot's server (NLU only: no tracker, "
        "policy or action), and embedding plus search alone in one process (one call at a time):",
        "",
        LOAD_COLUMNS,
        "|---|---|---|---|---|---|---|---|",
        *_load_rows(report["floors"]),
        "",
        "**Servers**: start-up (process start to answering its health check; this bot's Rasa server: "
        "until all its workers listen too), peak resident memory (`VmHWM`, summed over a server's "
        "processes, so a page its workers share counts once per process) and the memory in use "
        "after the run with shared pages split among the processes that share them (`Pss`):",
        "",
        "| server | start-up s | peak RSS MB | in use (PSS) MB |",
        "|---|---|---|---|",
        *[
            f"| {s['name']} | {s['startup_s']} | {s['peak_rss_mb']} | {s.get('pss_mb', '-')} |"
            for s in report["servers"]
        ],
    ]
    if report.get("training"):
        lines += [
            "",
            "**Training** (`rasa train`; cold: an empty cache; warm: the same data again with the "
            "cold run's cache):",
            "",
            "| bot | cold s | warm s |",
            "|---|---|---|",
            *[
                f"| {name} | {t['cold_seconds']:.0f} | {t['warm_seconds']:.0f} |"
                for name, t in report["training"].items()
            ],
        ]
    if report.get("profile"):
        parts = list(next(iter(report["profile"].values()))["shares"])
        names = list(report["profile"])
        lines += [
            "",
            "**Where the Rasa server's busy time goes** (py-spy, 100 samples/s, one extra round at "
            "10 conversations; a sample counts for every part on its stack):",
            "",
            f"| part | {' | '.join(names)} |",
            "|---|" + "---|" * len(names),
            *[
                f"| {part} | "
                + " | ".join(f"{report['profile'][n]['shares'][part]:.0%}" for n in names)
                + " |"
                for part in parts
            ],
            "| busy, in cores (all its processes) | "
            + " | ".join(f"{report['profile'][n]['busy_cores']:.2f}" for n in names)
            + " |",
        ]
    return "\n".join(lines)


def bench_chart(report: dict[str, Any], path: Path) -> None:
    """Latency percentiles per concurrency level (log scale) and throughput, bot beside stock."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = [BOT, STOCK]
    levels = sorted({r["concurrency"] for r in report["rest"]})
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / (len(systems) * 3)
    for s, system in enumerate(systems):
        rows = {r["concurrency"]: r for r in report["rest"] if r["system"] == system}
        for p, percentile in enumerate(("p50_ms", "p95_ms", "p99_ms")):
            offset = (s * 3 + p) * width - 0.4 + width / 2
            latency.bar(
                [i + offset for i in range(len(levels))],
                [rows[level][percentile] for level in levels],
                width,
                label=f"{system} {percentile.split('_')[0]}",
                color=("tab:blue", "tab:orange")[s],
                alpha=(1.0, 0.65, 0.35)[p],
            )
        throughput.plot(
            levels, [rows[level]["throughput_per_s"] for level in levels], marker="o", label=system
        )
    latency.set_xticks(range(len(levels)), [str(level) for level in levels])
    latency.set_yscale("log")
    latency.set_xlabel("concurrent conversations")
    latency.set_ylabel("latency, ms (log scale)")
    latency.set_title("REST latency p50 / p95 / p99")
    latency.legend(fontsize=7, ncol=2)
    throughput.set_xscale("log")
    throughput.set_xticks(levels, [str(level) for level in levels])
    throughput.set_xlabel("concurrent conversations")
    throughput.set_ylabel("messages answered per second")
    throughput.set_title("Throughput")
    throughput.legend()
    figure.suptitle(f"make bench, {report['date']}, {report['machine']['cores']} cores, {report['commit']}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
