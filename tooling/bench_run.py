"""`make bench`: this bot beside the stock `rasa init` bot, measured in one run.

Starts every server it measures on free ports (so start-up time and memory are its own)
and stops them at the end: this bot's action server and Rasa server (with Rasa's HTTP API
on behind a one-off token, for the ``/model/parse`` floor), and the stock bot's Rasa
server from its own virtual environment (`pip install rasa==3.6.21`, nothing tuned).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_DIR
from tooling.bench import (
    BenchError,
    LoadResult,
    Target,
    alternate,
    parse_target,
    provenance,
    rest_target,
    run_load,
    sampled,
    time_calls,
    time_training,
)
from tooling.servers import (
    ONE_THREAD,
    BotAddress,
    ServerProcess,
    action_server,
    free_port,
    rasa_server,
    serve,
)

BOT = "this bot"
STOCK = "stock rasa init bot"
PARSE_FLOOR = "Rasa /model/parse alone (this bot's NLU)"
SEARCH_FLOOR = "embedding + search alone (in process)"
TARGET_SPEED_UP = 2.5
TARGET_SINGLE_USER_P95_MS = 50.0
TRAIN_COMMAND = (
    "train",
    "--data",
    "data/nlu",
    "data/rules",
    "--domain",
    "domain.yml",
    "--config",
    "config.yml",
    "--fixed-model-name",
    "meso",
)


@dataclass(frozen=True)
class BenchOptions:
    mix: tuple[str, ...]
    levels: tuple[int, ...]
    conversations: int
    rounds: int
    model: Path
    stock_venv: Path
    stock_dir: Path
    work_dir: Path
    training: bool
    profile: bool
    command: str


def _rasa_bin(venv: Path) -> str:
    return str(venv / "bin" / "rasa")


def stock_model(options: BenchOptions) -> Path:
    """The bot `rasa init` makes (and trains), created once in ``stock_dir``."""
    rasa = _rasa_bin(options.stock_venv)
    if not Path(rasa).exists():
        raise BenchError(f"no stock Rasa at {rasa}: `make bench` creates its virtual environment")
    models = options.stock_dir / "models"
    if not sorted(models.glob("*.tar.gz")):
        options.stock_dir.mkdir(parents=True, exist_ok=True)
        print(f"Creating the stock bot with `rasa init` in {options.stock_dir}...", flush=True)
        code = subprocess.call(  # noqa: S603 (fixed argument list)
            [rasa, "init", "--no-prompt", "--init-dir", "."], cwd=options.stock_dir, env=_stock_env()
        )
        if code != 0:
            raise BenchError(f"`rasa init` in {options.stock_dir} failed with code {code}")
    return sorted(models.glob("*.tar.gz"))[-1]


def _stock_env() -> dict[str, str]:
    """The operator's environment without this project's thread settings: the stock defaults."""
    env = {name: value for name, value in os.environ.items() if name not in ONE_THREAD}
    env["RASA_TELEMETRY_ENABLED"] = "false"
    return env


@contextmanager
def stock_server(options: BenchOptions, model: Path, port: int, log_dir: Path) -> Iterator[ServerProcess]:
    command = [_rasa_bin(options.stock_venv), "run", "--model", str(model), "--port", str(port)]
    with serve(
        "the stock bot's Rasa server",
        command,
        f"http://localhost:{port}/",
        _stock_env(),
        log_dir / "stock-rasa-server.log",
        cwd=options.stock_dir,
    ) as process:
        yield process


# Conversations each of a level's concurrent slots runs one after another in a round. With
# one each, a round is all ramp-up and tail (some slots done, the others still busy), and
# the throughput at 10 conversations moved by 15% from run to run (2.46x to 2.87x the
# stock bot on the same commit); with four, the tail is a quarter of a round at most.
CONVERSATIONS_PER_SLOT = 4


def conversations_per_round(options: BenchOptions, level: int) -> int:
    """``--conversations``, or more: ``CONVERSATIONS_PER_SLOT`` for each concurrent slot."""
    return max(options.conversations, CONVERSATIONS_PER_SLOT * level)


def _search_floor(mix: Sequence[str]) -> LoadResult:
    """Embedding plus search in this process, on one math thread like the servers."""
    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
    from bot.knowledge import default_knowledge_base
    from bot.retrieval import build_retriever
    from bot.settings import load_settings

    retriever = build_retriever(default_knowledge_base(), load_settings())
    return time_calls(retriever.match, mix, repeats=25)


def _training(options: BenchOptions, stock_dir: Path) -> dict[str, dict[str, float]]:
    print("Timing training, cold and warm (this bot takes several minutes)...", flush=True)
    work = options.work_dir / "training"
    shutil.rmtree(work, ignore_errors=True)
    ours = time_training(
        [str(Path(sys.executable).parent / "rasa"), *TRAIN_COMMAND],
        PROJECT_DIR,
        dict(os.environ),
        work / "bot",
    )
    stock = time_training([_rasa_bin(options.stock_venv), "train"], stock_dir, _stock_env(), work / "stock")
    shutil.rmtree(work, ignore_errors=True)
    return {BOT: asdict(ours), STOCK: asdict(stock)}


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Every measurement of the benchmark, as one JSON-able report."""
    model = stock_model(options)
    report: dict[str, Any] = {
        **provenance(options.command, options.mix),
        "rounds": options.rounds,
        "training": _training(options, options.stock_dir) if options.training else None,
    }
    log_dir = options.work_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    address = BotAddress(rasa_port=free_port(), action_port=free_port())
    token = secrets.token_urlsafe(24)
    data = options.work_dir / "data"  # this run's conversations, not the operator's
    shutil.rmtree(data, ignore_errors=True)
    os.environ["BOT_DATA_DIR"] = str(data)
    with ExitStack() as stack:
        print("Starting this bot and the stock bot...", flush=True)
        actions = stack.enter_context(action_server(address, log_dir))
        rasa = stack.enter_context(rasa_server(address, options.model, log_dir, api_token=token))
        stock_port = free_port()
        stock = stack.enter_context(stock_server(options, model, stock_port, log_dir))
        servers = {BOT: rasa, STOCK: stock}
        targets = {
            BOT: rest_target(address.rest_url),
            STOCK: rest_target(f"http://localhost:{stock_port}/webhooks/rest/webhook"),
        }
        report["rest"], report["floors"] = asyncio.run(_load(options, targets, address.rasa_url, token))
        report["floors"].append({"system": SEARCH_FLOOR, **_search_floor(options.mix).summary()})
        report["profile"] = _profiles(options, targets, servers) if options.profile else None
        report["servers"] = [
            {
                "name": f"{name}: {process.name}",
                "startup_s": round(process.startup_seconds, 1),
                "peak_rss_mb": _rounded(process.peak_rss_mb()),
                "pss_mb": _rounded(process.pss_mb()),
            }
            for name, process in ((BOT, actions), (BOT, rasa), (STOCK, stock))
        ]
    report["targets"] = targets_met(report["rest"])
    return report


async def _load(
    options: BenchOptions, targets: dict[str, Target], rasa_url: str, token: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    for target in targets.values():
        await run_load(target, options.mix, 1, 2)  # warm-up, not reported
    rest: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    for level in options.levels:
        print(f"{level} concurrent conversations, {options.rounds} rounds each...", flush=True)
        results = await alternate(
            targets, options.mix, level, conversations_per_round(options, level), options.rounds
        )
        for name, result in results.items():
            rest.append({"system": name, **result.summary()})
            print(f"  {name}: {result.summary()}", flush=True)
        parsed = await run_load(
            parse_target(rasa_url, token), options.mix, level, conversations_per_round(options, level)
        )
        floors.append({"system": PARSE_FLOOR, **parsed.summary()})
    return rest, floors


def _profiles(
    options: BenchOptions, targets: dict[str, Target], servers: dict[str, ServerProcess]
) -> dict[str, Any]:
    """One extra round per server at 10 conversations, sampled by py-spy with its worker
    processes (not in the figures)."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise BenchError(f"no py-spy at {py_spy}: `make venv` installs it (or pass --no-profile)")
    profiles = {}
    for name, process in servers.items():
        output = options.work_dir / f"profile-{name.replace(' ', '-')}.txt"
        print(f"Profiling {name}...", flush=True)
        with sampled(str(py_spy), process.pid, seconds=120, rate=100, output=output) as taken:
            asyncio.run(run_load(targets[name], options.mix, 10, 30))
        profile = taken[0]
        profiles[name] = {
            "samples": profile.samples,
            "busy_cores": round(profile.busy_share, 3),
            "shares": {part: round(share, 3) for part, share in profile.shares.items()},
        }
    return profiles


def targets_met(rest: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Issue 5's targets, judged on this run's figures."""

    def row(system: str, level: int) -> dict[str, Any] | None:
        return next((r for r in rest if r["system"] == system and r["concurrency"] == level), None)

    at_ten = (row(BOT, 10), row(STOCK, 10))
    ratio = (
        at_ten[0]["throughput_per_s"] / at_ten[1]["throughput_per_s"]
        if at_ten[0] and at_ten[1] and at_ten[1]["throughput_per_s"]
        else None
    )
    single = row(BOT, 1)
    p95 = single["p95_ms"] if single else None
    errors = sum(r["errors"] for r in rest if r["system"] == BOT)
    return {
        "throughput_ratio_at_10": round(ratio, 2) if ratio is not None else None,
        "throughput_met": ratio is not None and ratio >= TARGET_SPEED_UP,
        "single_user_p95_ms": p95,
        "p95_met": p95 is not None and p95 <= TARGET_SINGLE_USER_P95_MS,
        "errors": errors,
        "all_met": bool(
            ratio
            and ratio >= TARGET_SPEED_UP
            and p95 is not None
            and p95 <= TARGET_SINGLE_USER_P95_MS
            and errors == 0
        ),
    }


def _rounded(value: float | None) -> float | None:
    return round(value) if value is not None else None
