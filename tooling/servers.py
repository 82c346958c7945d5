"""Starts and stops the action server and the Rasa server as child processes.

Used by ``make run`` and ``make shell`` (through the command line) and by tests, and
later by evaluation and benchmarks, so that every caller starts the bot the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import PROJECT_DIR, READY_FILE_VARIABLE, load_settings

DEFAULT_MODEL = PROJECT_DIR / "models" / "meso.tar.gz"
# The channels the Rasa server listens on.
DEFAULT_CREDENTIALS = PROJECT_DIR / "credentials.yml"
# Both servers' logging: patients' words and contact details redacted (bot/log_redaction.py).
LOGGING_CONFIG = PROJECT_DIR / "logging.yml"
# Rasa's HTTP API reads and replaces conversations and the model: a token of at least this
# many characters, or no API (docs/security.md).
MIN_API_TOKEN_LENGTH = 32
START_TIMEOUT_SECONDS = 180.0


class ServerError(RuntimeError):
    """A server did not start, or stopped while it was needed."""


@dataclass(frozen=True)
class BotAddress:
    rasa_port: int
    action_port: int
    host: str = "localhost"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}/webhooks/rest/webhook"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _wait_until_up(
    process: subprocess.Popen[bytes], url: str, name: str, log: Path | None, ready_file: Path | None
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            where = f"; its log is {log}" if log else ""
            raise ServerError(f"{name} exited with code {process.returncode} while starting{where}")
        if (ready_file is None or ready_file.exists()) and _answers(url):
            return
        time.sleep(0.2)
    waited_for = f"answer at {url}" + (f" and write {ready_file}" if ready_file else "")
    raise ServerError(f"{name} did not {waited_for} within {START_TIMEOUT_SECONDS:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass(frozen=True)
class ServerProcess:
    """A running server: its process id and how long it took to answer its health check."""

    name: str
    pid: int
    startup_seconds: float
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)

    def exit_code(self) -> int | None:
        """The server's exit code once it has exited by itself, else None."""
        return None if self.process is None else self.process.poll()

    def peak_rss_mb(self) -> float | None:
        """Peak resident memory so far (Linux ``VmHWM``) of the process and its children
        (a server's worker processes), summed; None if the process is gone."""
        return self._summed_mb(_peak_rss_kb)

    def rss_mb(self) -> float | None:
        """Resident memory now (Linux ``VmRSS``) of the process and its children, summed; None
        if the process is gone."""
        return self._summed_mb(_rss_kb)

    def pss_mb(self) -> float | None:
        """Memory in use now, each shared page split among the processes that share it
        (Linux ``Pss``), of the process and its children, summed: the memory a server really
        takes when its workers share pages with it (rasa_server/preload.py), which summed
        resident sizes count once per process. None if the process is gone."""
        return self._summed_mb(_pss_kb)

    def _summed_mb(self, read_kb: Callable[[int], int | None]) -> float | None:
        sizes = [read_kb(pid) for pid in [self.pid, *_descendants(self.pid)]]
        if sizes[0] is None:
            return None
        return sum(size or 0 for size in sizes) / 1024


def _proc_kb(pid: int, file: str, field: str) -> int | None:
    """A size in kB from ``/proc/<pid>/<file>`` (``status``: ``VmHWM``, ``VmRSS``;
    ``smaps_rollup``: ``Pss``); None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/{file}").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def _pss_kb(pid: int) -> int | None:
    return _proc_kb(pid, "smaps_rollup", "Pss")


def _peak_rss_kb(pid: int) -> int | None:
    return _proc_kb(pid, "status", "VmHWM")


def _rss_kb(pid: int) -> int | None:
    return _proc_kb(pid, "status", "VmRSS")


def children(pid: int) -> list[int]:
    """The process ids of ``pid``'s own child processes (not theirs)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text(encoding="ascii").split()]
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    direct = children(pid)
    return [*direct, *(grandchild for child in direct for grandchild in _descendants(child))]


@contextmanager
def serve(
    name: str,
    command: list[str],
    health_url: str,
    env: dict[str, str],
    log_path: Path | None = None,
    cwd: Path = PROJECT_DIR,
    ready_file: Path | None = None,
) -> Iterator[ServerProcess]:
    """Run ``command`` in its own process group until the block ends; stop it on the way out.
    It is up when ``health_url`` answers and, if given, ``ready_file`` exists."""
    # Appended to: a server stopped and started again (the fault tests) keeps one log.
    with log_path.open("ab") if log_path else _no_log() as log:
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 (fixed argument list)
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            start_new_session=True,
        )
        try:
            _wait_until_up(process, health_url, name, log_path, ready_file)
            yield ServerProcess(name, process.pid, time.monotonic() - started, process)
        finally:
            _stop(process)


# The servers answer many conversations at once; math libraries that each start a thread
# per core then fight over the cores. One thread each, unless the operator sets otherwise
# (`python -m tooling bench` on 2 cores: 7.0 -> 17.3 messages/s at 10 conversations).
ONE_THREAD = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def server_environment(address: BotAddress, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the servers' settings; ``overrides`` last."""
    env = dict(os.environ)
    env.update(
        RASA_PORT=str(address.rasa_port),
        ACTION_PORT=str(address.action_port),
        ACTION_ENDPOINT_HOST=env.get("ACTION_ENDPOINT_HOST", "localhost"),
    )
    for name in ONE_THREAD:
        env.setdefault(name, "1")
    # Rasa's structured events as JSON even in a terminal, so their personal fields can be
    # redacted (bot/log_redaction.py); its console renderer prints tracebacks' variables.
    env.setdefault("FORCE_JSON_LOGGING", "1")
    # No usage events or crash reports (tracebacks) sent to Rasa's servers (the Makefile
    # sets the same; here for every other way the servers are started).
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # One Rasa worker process per core; they share conversations through rasa_server/stores.py.
    env.setdefault("SANIC_WORKERS", str(max(1, os.cpu_count() or 1)))
    return {**env, **(overrides or {})}


def _log_file(log_dir: Path | None, name: str) -> Path | None:
    return log_dir / name if log_dir else None


@contextmanager
def action_server(
    address: BotAddress, log_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Run the Rasa SDK action server with this project's actions until the block ends
    (``env`` adds to or overrides its environment)."""
    command = [_bin("python"), "-m", "rasa_sdk", "--actions", "actions", "--port", str(address.action_port)]
    command += ["--logging-config_file", str(LOGGING_CONFIG)]  # the Rasa SDK spells it so
    # The Rasa SDK takes its address from SANIC_HOST only (default: every interface).
    bind = {"SANIC_HOST": load_settings().bind_address, **(env or {})}
    with serve(
        "the action server",
        command,
        f"{address.action_url}/health",
        server_environment(address, bind),
        _log_file(log_dir, "action-server.log"),
    ) as process:
        yield process


def checked_api_token(api_token: str | None = None) -> str | None:
    """``api_token``, else ``RASA_API_TOKEN``, or None (the API off); a short one is an error."""
    api_token = api_token or load_settings().rasa_api_token
    if api_token and len(api_token) < MIN_API_TOKEN_LENGTH:
        raise ServerError(
            f"The API token (RASA_API_TOKEN) is too short: use at least {MIN_API_TOKEN_LENGTH} random "
            "characters (`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or unset "
            "it to keep Rasa's HTTP API off"
        )
    return api_token


@contextmanager
def rasa_server(
    address: BotAddress,
    model: Path = DEFAULT_MODEL,
    log_dir: Path | None = None,
    api_token: str | None = None,
    credentials: Path = DEFAULT_CREDENTIALS,
    env: Mapping[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """Run the Rasa server (REST and socket.io channels) until the block ends.

    ``credentials`` names the channels it listens on (tests name their own connectors);
    ``env`` adds to or overrides the environment it gets (``server_environment``).

    Rasa's HTTP API (``/model/parse`` and the rest) stays off unless ``api_token`` is
    given, or else ``RASA_API_TOKEN`` is set; then it is on and every request must carry
    that token.
    """
    if not model.exists():
        raise ServerError(f"no trained model at {model}: run `make train` first")
    api_token = checked_api_token(api_token)
    command = [
        _bin("python"),
        "-m",
        "rasa_server",  # `rasa run` with this project's patches (rasa_server/patches.py)
        "run",
        "--model",
        str(model),
        "--port",
        str(address.rasa_port),
        "--interface",
        load_settings().bind_address,
        "--credentials",
        str(credentials),
        "--endpoints",
        "endpoints.yml",
        "--logging-config-file",
        str(LOGGING_CONFIG),
    ]
    if api_token:
        command += ["--enable-api", "--auth-token", api_token]
    # The first worker to load the model answers the health check; the file says they all listen.
    with tempfile.TemporaryDirectory(prefix="rasa-server-") as scratch:
        ready_file = load_settings().ready_file or Path(scratch) / "ready"
        ready_file.unlink(missing_ok=True)  # left by a server that was killed
        with serve(
            "the Rasa server",
            command,
            f"{address.rasa_url}/",
            {**server_environment(address, env), READY_FILE_VARIABLE: str(ready_file)},
            _log_file(log_dir, "rasa-server.log"),
            ready_file=ready_file,
        ) as process:
            yield process


@contextmanager
def _no_log() -> Iterator[None]:
    yield None


@contextmanager
def running_bot(
    address: BotAddress, model: Path = DEFAULT_MODEL, log_dir: Path | None = None
) -> Iterator[BotAddress]:
    """Both servers, started in order and stopped in reverse order."""
    checked_api_token()  # before anything starts
    with action_server(address, log_dir), rasa_server(address, model, log_dir):
        yield address


# --- keeping the servers running (`make run`) ----------------------------------------------


ServerStarter = Callable[[], AbstractContextManager[ServerProcess]]


@dataclass(frozen=True)
class RestartPolicy:
    """How ``SupervisedBot`` restarts a server that exits: after ``first_delay`` seconds,
    doubling up to ``max_delay``; more than ``limit`` restarts of one server within
    ``window_seconds`` mean it keeps failing, and the bot stops."""

    limit: int = 5
    window_seconds: float = 300.0
    first_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, restarts_in_window: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, restarts_in_window - 1)))


class Supervised:
    """One server, started by ``start`` (a context manager), that can be started again."""

    def __init__(self, name: str, start: ServerStarter) -> None:
        self.name = name
        self._start = start
        self._stack = ExitStack()
        self.server: ServerProcess | None = None
        self.restarts: list[float] = []  # when each restart was decided (monotonic)

    def run(self) -> ServerProcess:
        self.server = self._stack.enter_context(self._start())
        return self.server

    def exit_code(self) -> int | None:
        return self.server.exit_code() if self.server is not None else -1

    def stop(self) -> None:
        self._stack.close()
        self.server = None


class SupervisedBot:
    """Servers started in order and kept running: one that exits is started again, with
    back-off (``RestartPolicy``), each restart said through ``say``; one that keeps failing
    stops them all with ``ServerError``, so that ``make run`` exits non-zero and a service
    manager sees it. Stopped in reverse order on the way out."""

    def __init__(
        self,
        servers: list[Supervised],
        policy: RestartPolicy | None = None,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.servers = servers
        self.policy = policy or RestartPolicy()
        self.say = say
        self.clock = clock
        self.sleep = sleep

    def __enter__(self) -> SupervisedBot:
        started: list[Supervised] = []
        try:
            for server in self.servers:
                server.run()
                started.append(server)
        except BaseException:
            for server in reversed(started):
                server.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for server in reversed(self.servers):
            server.stop()

    def check(self) -> None:
        """Start again every server that has exited since the last check."""
        for server in self.servers:
            code = server.exit_code()
            while code is not None:
                self._restart(server, code)
                code = server.exit_code()

    def _restart(self, server: Supervised, code: int) -> None:
        server.stop()
        now = self.clock()
        server.restarts = [t for t in server.restarts if now - t < self.policy.window_seconds] + [now]
        count = len(server.restarts)
        if count > self.policy.limit:
            raise ServerError(
                f"{server.name} failed {count} times within {self.policy.window_seconds:.0f} s "
                f"(last exit code {code}); stopping the bot"
            )
        delay = self.policy.delay(count)
        self.say(
            f"{time.strftime('%H:%M:%S')} {server.name} exited with code {code}; starting it again in "
            f"{delay:g} s (restart {count} of at most {self.policy.limit} within "
            f"{self.policy.window_seconds:.0f} s)"
        )
        self.sleep(delay)
        try:
            server.run()
        except ServerError as error:
            self.say(f"{time.strftime('%H:%M:%S')} {server.name} did not start again: {error}")
            return  # exit_code() is -1: the next round of check() counts another failure
        self.say(f"{time.strftime('%H:%M:%S')} {server.name} is running again.")

    def watch(self, interval: float = 1.0) -> None:
        """Check the servers every ``interval`` seconds until interrupted (Ctrl-C, SIGTERM)."""
        while True:
            self.sleep(interval)
            self.check()


def supervised_bot(
    address: BotAddress,
    model: Path = DEFAULT_MODEL,
    log_dir: Path | None = None,
    policy: RestartPolicy | None = None,
) -> SupervisedBot:
    """Both servers as ``running_bot`` starts them, kept running by a ``SupervisedBot``."""
    checked_api_token()  # before anything starts
    return SupervisedBot(
        [
            Supervised("the action server", lambda: action_server(address, log_dir)),
            Supervised("the Rasa server", lambda: rasa_server(address, model, log_dir)),
        ],
        policy,
    )
