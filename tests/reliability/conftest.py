"""The kill-and-restart fixture, shared by the reliability tests."""

from tests.reliability.test_kill_restart import bot_process  # noqa: F401
