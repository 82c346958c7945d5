"""One kept-alive HTTP client session per endpoint and event loop, for Rasa's calls out.

Rasa's ``EndpointConfig.request`` opens a new aiohttp session for every call, so every
message's call to the action server set up a TCP connection (and looked up the host name)
and tore it down again: about 5% of the Rasa server's busy time under load (`make bench`
profile). ``kept_session`` hands Rasa the same session each time instead, and its pooled
connections are reused. Rasa still uses it as ``async with endpoint.session() as session``;
leaving that block does not close it. ``close_sessions`` closes them all when the server
stops.

A pooled connection is dropped after ``KEEPALIVE_SECONDS`` idle, before the action server
(Sanic, 5 s) would close it from its side, so a request is never sent on a connection the
server is closing. An action server that restarts closes its connections; the next call
opens a new one.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from functools import wraps
from types import TracebackType
from typing import Any

import aiohttp
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

KEEPALIVE_SECONDS = 2.0

# Each event loop's sessions (one per worker process), by the endpoint's headers and auth.
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)


class _Borrowed:
    """``async with`` over a kept session: it is not closed at the end of the block."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


def _new_session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """A session as Rasa's ``EndpointConfig.session`` makes it, with a connection pool kept
    alive for ``KEEPALIVE_SECONDS``."""
    auth = (
        aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
        if endpoint.basic_auth
        else None
    )
    return aiohttp.ClientSession(
        headers=endpoint.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
    )


def kept_session(endpoint: EndpointConfig) -> _Borrowed:
    """``EndpointConfig.session``: this event loop's session for the endpoint's headers and
    auth, made on first use (or again, once closed)."""
    sessions = _SESSIONS.setdefault(asyncio.get_running_loop(), {})
    key = repr((sorted((endpoint.headers or {}).items()), endpoint.basic_auth))
    session = sessions.get(key)
    if session is None or session.closed:
        session = sessions[key] = _new_session(endpoint)
    return _Borrowed(session)


async def close_sessions() -> None:
    """Close this event loop's kept sessions (and their connections)."""
    sessions = _SESSIONS.pop(asyncio.get_running_loop(), {})
    for session in sessions.values():
        await session.close()


def closing_sessions(
    close_resources: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    """Rasa's ``close_resources`` (its listener when a server stops), then ``close_sessions``."""

    @wraps(close_resources)
    async def close(*args: Any, **kwargs: Any) -> None:
        try:
            await close_resources(*args, **kwargs)
        finally:
            await close_sessions()

    return close
