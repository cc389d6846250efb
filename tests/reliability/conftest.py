"""The e2e fixtures (the emulator and a community served by the real bot), shared here."""

from tests.e2e.conftest import community, emulator  # noqa: F401
from tests.reliability.test_kill_restart import bot_process  # noqa: F401
