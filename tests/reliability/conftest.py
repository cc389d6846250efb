"""The e2e fixtures (the emulator and a community served by the real bot), shared here."""

from tests.e2e.conftest import community, emulator  # noqa: F401
