"""Runs Rasa's own command line with this project's fixes to Rasa 3.6.21 applied first.

``python -m bot.rasa_server run --model ...`` is ``rasa run --model ...`` plus:

- **JSON-schema validators are built once per schema.** Rasa checks every action server
  answer (and every NLG answer, and events posted to its API) with ``jsonschema.validate``,
  which first checks the *schema* against the JSON-schema meta-schema, then builds a new
  validator, on every call. The schemas are constants in Rasa's code, so the check and the
  build are done once per distinct schema and the validator kept; the message is still
  validated in full every time, and a bad one raises the same ``ValidationError``. Under
  load this was 11% of the Rasa server's busy time with jsonschema 3.2 (`make bench`,
  profile), and about 40% with 4.17.
- **Every worker process listens on its own socket (SO_REUSEPORT).** With ``SANIC_WORKERS``
  above 1, Sanic 21.12 binds one socket and lets every worker accept from it; asyncio accepts
  every waiting connection at once, so under a burst one worker took all of them and the
  others idled (measured: all of a 10-conversation run's CPU time in one of two workers).
  With a socket per worker the kernel spreads new connections across the workers.
- **Event classes are looked up by name once.** Rasa finds the class of every event it reads
  (each event of a stored conversation, every event an action returns) by walking all of
  ``Event``'s subclasses, recursively, each time: about 0.03 ms per event, nine tenths of the
  time it took to read back a stored conversation of 35 events. The class found for a name
  is kept; names Rasa does not know still go through its own lookup every time.
- **It says when every worker is up.** Each worker loads the model before it listens, and
  the first to finish answers the health check while the others are still loading. Once
  every worker has started listening, the server logs so and, if ``BOT_READY_FILE`` names a
  file, writes it (and removes it on the way out): ``bot/servers.py`` waits for it, so a
  bot it has started answers with all its workers, and a deployment can use the file as
  its readiness check.
- **A failing part gets a reply, not silence** (``bot/faults.py``): the action server down
  or too slow, the conversation database or lock store unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import jsonschema
import sanic.app
import sanic.server.runners
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.shared.core.events import Event
from sanic.log import logger
from sanic.server import serve as sanic_serve
from sanic.server.events import trigger_events

from bot.settings import load_settings

_ORIGINAL_VALIDATE = jsonschema.validate
_ORIGINAL_SERVE_MULTIPLE = sanic.server.runners.serve_multiple
_ORIGINAL_SERVE_SINGLE = sanic.server.runners.serve_single
_validators: dict[str, Any] = {}
_ORIGINAL_RESOLVE_BY_TYPE = Event.resolve_by_type
_event_classes: dict[str, type[Event]] = {}
log = logging.getLogger("bot.rasa_server")  # not __main__ when run with -m


def cached_validate(instance: Any, schema: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate`` with the schema checked and its validator built once."""
    if args or kwargs:  # a caller choosing its own validator class or options: no cache
        _ORIGINAL_VALIDATE(instance, schema, *args, **kwargs)
        return
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _validators.get(key)
    if validator is None:
        cls = validator_for(schema)
        cls.check_schema(schema)
        validator = _validators[key] = cls(schema)
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def cached_resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """``Event.resolve_by_type`` remembering the class found for each name."""
    found = _event_classes.get(type_name)
    if found is not None:
        return found
    try:
        found = cast("type[Event] | None", _ORIGINAL_RESOLVE_BY_TYPE(type_name))
    except ValueError:  # not an event name: Rasa's answer (the default, or the error)
        return cast("type[Event] | None", _ORIGINAL_RESOLVE_BY_TYPE(type_name, default))
    if found is not None:
        _event_classes[type_name] = found
    return found


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


def apply() -> None:
    """Install the fixes in this process (idempotent)."""
    from bot import faults  # imports Rasa's agent: only the server needs it

    faults.install()
    jsonschema.validate = cached_validate
    Event.resolve_by_type = staticmethod(cached_resolve_by_type)
    sanic.app.serve_multiple = serve_multiple_reuse_port
    sanic.app.serve_single = serve_single_announcing


def main() -> None:
    apply()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
