"""A Sanic server with one socket.io channel and a bot that echoes: for tests/channels/test_socketio.py.

``python -m tests.socketio_echo_server --channel rasa|widget --port N`` runs Rasa's own
channel or this project's (channels/socketio.py) with ``session_persistence: true``, the way
the Rasa server registers channels. ``GET /rooms/<sid>`` says which rooms a connection is in.
It runs in a process of its own: Sanic 21.12 rewrites its own methods when an app starts,
so a second app in the pytest process would fail to start.
"""

from __future__ import annotations

import argparse

from rasa.core.channels.channel import UserMessage, register
from rasa.core.channels.socketio import SocketIOInput
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.socketio import WidgetSocketIOInput

CHANNELS: dict[str, type[SocketIOInput]] = {"rasa": SocketIOInput, "widget": WidgetSocketIOInput}
ECHO = "echo: "


def make_app(channel_name: str) -> Sanic:
    app = Sanic("socketio_echo")
    channel = CHANNELS[channel_name](session_persistence=True)

    async def echo(message: UserMessage) -> None:
        assert message.output_channel is not None
        await message.output_channel.send_text_message(message.sender_id, ECHO + (message.text or ""))

    app.ctx.agent = None
    register([channel], app, route="/webhooks/")
    # Rasa's handler calls app.ctx.agent.handle_message; the echo bot stands in for the agent.
    app.ctx.agent = type("EchoAgent", (), {"handle_message": staticmethod(echo)})()

    @app.get("/rooms/<sid>")
    async def rooms(_: Request, sid: str) -> HTTPResponse:
        assert channel.sio is not None
        return response.json(channel.sio.rooms(sid))

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channel", choices=sorted(CHANNELS), required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    make_app(args.channel).run(host="127.0.0.1", port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
