"""Fixtures of the channel tests: the fake messaging-app API and the stand-in bot
(tests/channels/messaging_fakes.py), and Sanic's switch for several apps in one process."""

from tests.channels.messaging_fakes import bot, fake_api, several_sanic_apps

__all__ = ["bot", "fake_api", "several_sanic_apps"]
