"""Sanic 21.12's worker start-up, as the Rasa server runs it (installed by ``patches.apply``).

- **Every worker process listens on its own socket (SO_REUSEPORT).** With ``SANIC_WORKERS``
  above 1, Sanic 21.12 binds one socket and lets every worker accept from it; asyncio accepts
  every waiting connection at once, so under a burst one worker took all of them and the
  others idled (measured: all of a 10-conversation run's CPU time in one of two workers).
  With a socket per worker the kernel spreads new connections across the workers.
- **It says when every worker is up.** Each worker loads the model before it listens, and
  the first to finish answers the health check while the others are still loading. Once
  every worker has started listening, the server logs so and, if ``BOT_READY_FILE`` names a
  file, writes it (and removes it on the way out): ``tooling/servers.py`` waits for it, so a
  bot it has started answers with all its workers, and a deployment can use the file as
  its readiness check.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import sanic.server.runners
from sanic.log import logger
from sanic.server import serve as sanic_serve
from sanic.server.events import trigger_events

from bot.settings import load_settings

_ORIGINAL_SERVE_MULTIPLE = sanic.server.runners.serve_multiple
_ORIGINAL_SERVE_SINGLE = sanic.server.runners.serve_single
log = logging.getLogger("rasa_server")  # not __main__ when run with -m


def _announce_up(workers: int) -> None:
    # Rasa keeps Sanic's own loggers at LOG_LEVEL_LIBRARIES (ERROR by default): this one is ours.
    log.info("All %s worker process%s listening.", workers, "es are" if workers > 1 else " is")
    ready = load_settings().ready_file
    if ready is not None:
        written = ready.with_name(f".{ready.name}.{os.getpid()}")
        written.write_text(f"{workers}\n", encoding="ascii")
        written.replace(ready)  # whole or not at all


def _withdraw_up() -> None:
    ready = load_settings().ready_file
    if ready is not None:
        ready.unlink(missing_ok=True)


async def _report_up(writer: multiprocessing.connection.Connection, *_: Any) -> None:
    """A worker's ``after_server_start`` listener: tell the main process it listens."""
    writer.send(os.getpid())


async def _announce_single_up(*_: Any) -> None:
    _announce_up(1)


def serve_single_announcing(server_settings: dict[str, Any]) -> None:
    """Sanic 21.12's ``serve_single``, announcing when its one worker listens."""
    server_settings["app"].register_listener(_announce_single_up, "after_server_start")
    try:
        _ORIGINAL_SERVE_SINGLE(server_settings)
    finally:
        _withdraw_up()


def serve_multiple_reuse_port(server_settings: dict[str, Any], workers: int) -> None:
    """Sanic 21.12's ``serve_multiple``, but each worker binds its own SO_REUSEPORT socket,
    and the server announces when every one of them listens."""
    if server_settings.get("sock") is not None or server_settings.get("unix"):
        _ORIGINAL_SERVE_MULTIPLE(server_settings, workers)
        return
    settings = {**server_settings, "reuse_port": True, "run_multiple": True}
    main_start = settings.pop("main_start", None)
    main_stop = settings.pop("main_stop", None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    trigger_events(main_start, loop)
    processes: list[multiprocessing.process.BaseProcess] = []
    stopping = False

    def stop(signum: int, _: Any) -> None:
        nonlocal stopping
        stopping = True
        logger.info("Received signal %s. Shutting down.", signal.Signals(signum).name)
        for worker in processes:
            if worker.pid:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    settings["app"].register_listener(partial(_report_up, writer), "after_server_start")
    for _ in range(workers):
        process = context.Process(target=sanic_serve, kwargs=settings, daemon=True)
        process.start()
        processes.append(process)
    writer.close()  # the workers hold their own copies
    try:
        failed = _wait_for(processes, lambda: stopping, reader)
    finally:
        _withdraw_up()
    trigger_events(main_stop, loop)
    loop.close()
    if failed:
        sys.exit(1)


def _wait_for(
    processes: list[multiprocessing.process.BaseProcess],
    stopping: Callable[[], bool],
    reports: multiprocessing.connection.Connection,
) -> bool:
    """Wait until every worker has exited, announcing when all of them listen (each sends
    its process id on ``reports`` once it does). A worker that fails (say, while loading the
    model) stops the others, so the server does not go on with fewer workers without anyone
    knowing; returns whether that happened."""
    remaining = list(processes)
    listening: set[int] = set()
    waiting_for: list[Any] = [reports]
    failed = False
    while remaining:
        ready = multiprocessing.connection.wait([worker.sentinel for worker in remaining] + waiting_for)
        if reports in ready:
            try:
                listening.add(reports.recv())
            except EOFError:  # every worker has gone
                waiting_for = []
            else:
                if len(listening) == len(processes) and not failed and not stopping():
                    _announce_up(len(processes))
        for worker in [w for w in remaining if w.exitcode is not None]:
            remaining.remove(worker)
            if worker.exitcode != 0 and not stopping() and not failed:
                logger.error(
                    "Worker process %s exited with code %s: stopping the server.", worker.pid, worker.exitcode
                )
                failed = True
                _withdraw_up()
                for other in remaining:
                    other.terminate()
                for other in remaining:
                    other.join(timeout=10)
                    if other.exitcode is None:
                        other.kill()
    return failed
