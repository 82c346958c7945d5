"""Real PostgreSQL, Redis and nginx servers for the tests, on loopback, started and stopped by
the test (Debian's packages: postgresql, redis-server, nginx; .ci/run installs them), and
what the servers stored of a conversation.

Each runs in its own temporary directory on a free port, in the foreground as a child
process, and can be stopped and started again on the same data and port (the fault tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import PROJECT_DIR
from rasa_server.stores import ConversationStore
from tooling.servers import free_port

NGINX_TEMPLATE = PROJECT_DIR / "deploy" / "nginx.conf"
START_SECONDS = 60.0


def require(program: str, package: str) -> str:
    """The program's path; a missing one fails the test, naming the package to install."""
    found = shutil.which(program) or next(iter(sorted(glob.glob(program))), None)
    if not found:
        pytest.fail(f"{program} is not installed: apt-get install {package} (.ci/run does)")
    return found


def stored_messages(sender: str) -> list[tuple[str, str | None]]:
    """The conversation the servers stored for ``sender`` (in ``CONVERSATIONS_DB_URL`` or
    ``BOT_DATA_DIR``): (``"patient"`` or ``"bot"``, text) of every message, in order, all
    sessions."""
    tracker = asyncio.run(ConversationStore(Domain.empty()).retrieve_full_tracker(sender))
    assert tracker is not None, f"{sender} was not stored"
    return [
        ("patient" if isinstance(event, UserUttered) else "bot", event.text)
        for event in tracker.events
        if isinstance(event, (UserUttered, BotUttered))
    ]


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {START_SECONDS:.0f} s")


class Service:
    """A server process that can be stopped and started again."""

    name = "service"

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()
        self.log = directory / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (fixed arguments)
                list(self.command()), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for_port(self.port, self.process, self.name, self.log)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    @contextlib.contextmanager
    def running(self) -> Iterator[Service]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
            self.remove()

    def remove(self) -> None:
        """Delete what the service kept outside its directory (nothing, unless it says)."""


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Postgres(Service):
    name = "postgres"
    user = "meso"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.bin = Path(require("/usr/lib/postgresql/*/bin/postgres", "postgresql")).parent
        # Its own directory under /tmp: the postgres user cannot enter pytest's (mode 700).
        self.home = Path(tempfile.mkdtemp(prefix="meso-postgres-"))
        self.data = self.home / "data"
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres")
        subprocess.run(  # noqa: S603
            [
                *_as_postgres_user(),
                *(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user),
                *("-A", "trust", "--no-sync", "-E", "UTF8"),
            ],
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def command(self) -> Sequence[str]:
        return [
            *_as_postgres_user(),
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.home),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ]

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def start(self) -> None:
        super().start()
        # Listening is not yet accepting queries: wait for pg_isready.
        deadline = time.monotonic() + START_SECONDS
        ready = [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        while subprocess.run(ready, capture_output=True).returncode != 0:  # noqa: S603
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not become ready")
            time.sleep(0.2)


class Redis(Service):
    name = "redis"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.program = require("redis-server", "redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/1"

    def command(self) -> Sequence[str]:
        return [
            self.program,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
        ]


class Nginx(Service):
    """nginx with deploy/nginx.conf, balancing over ``backends`` (ports on loopback)."""

    name = "nginx"

    def __init__(self, directory: Path, backends: Sequence[int]) -> None:
        super().__init__(directory)
        self.program = require("nginx", "nginx")
        upstreams = "\n".join(f"        server 127.0.0.1:{port};" for port in backends)
        config = (
            NGINX_TEMPLATE.read_text(encoding="utf-8")
            .replace("@PREFIX@", str(directory))
            .replace("@UPSTREAMS@", upstreams)
            .replace("@LISTEN@", f"127.0.0.1:{self.port}")
        )
        if os.geteuid() == 0:  # its workers would run as nobody, unable to use the temp paths
            config = "user root;\n" + config
        self.config = directory / "nginx.conf"
        self.config.write_text(config, encoding="utf-8")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        return [
            self.program,
            "-c",
            str(self.config),
            "-p",
            str(self.directory),
            "-e",
            str(self.directory / "error.log"),
        ]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)  # nginx's graceful stop
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        super().stop()


def save_conversation_at(store: ConversationStore, sender: str, when: float) -> None:
    """A conversation of one message stored as if its last message was at ``when``."""
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, [UserUttered("hello")])))
    with store.store.engine.begin() as connection:
        table = store.store.table
        connection.execute(table.update().where(table.c.sender_id == sender).values(updated_at=when))


def outside_address() -> str:
    """An IPv4 address of this machine that is not loopback (where another machine would
    connect); the test is skipped on a machine that has none."""
    candidates = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))  # no packet is sent: this only picks a route
            candidates.append(str(probe.getsockname()[0]))
        except OSError:
            pass
    with contextlib.suppress(OSError):
        candidates += [
            str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        ]
    address = next((a for a in candidates if not a.startswith("127.") and a != "0.0.0.0"), "")  # noqa: S104
    if not address:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    return address


def reachable(host: str, port: int) -> bool:
    """Whether a TCP connection to ``host``:``port`` is accepted."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
        connection.settimeout(2)
        return connection.connect_ex((host, port)) == 0
