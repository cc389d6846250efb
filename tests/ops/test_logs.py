"""Log output: JSON lines for log shippers, text for people, and secrets masked in both."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.ops.logs import MASK, setup_logging
from bot.settings import Settings

SECRET = "MTIzNDU2.secret-token-value"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_format_writes_one_object_per_line_with_the_token_masked(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "json", [SECRET])
    log = logging.getLogger("ideabot.test")
    log.info("connecting with %s", SECRET)
    try:
        raise RuntimeError(f"refused {SECRET}")
    except RuntimeError:
        log.exception("login failed")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == f"connecting with {MASK}"
    assert first["level"] == "INFO" and first["logger"] == "ideabot.test" and "time" in first
    assert second["message"] == "login failed"
    assert "RuntimeError" in second["exc_info"]
    assert SECRET not in "\n".join(lines)


def test_text_format_masks_secrets_too(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("DEBUG", "text", [SECRET])
    logging.getLogger("ideabot.identify").debug("IDENTIFY %s", {"token": SECRET})
    err = capsys.readouterr().err
    assert MASK in err and SECRET not in err


def test_a_bad_log_format_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv("IDEABOT_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match=r"^IDEABOT_LOG_FORMAT:"):
        load_settings()


def test_settings_list_their_secrets_for_masking() -> None:
    settings = Settings(token=SECRET, llm_api_key="sk-another-secret")
    assert settings.secret_values() == [SECRET, "sk-another-secret"]


def test_payload_and_sql_dumps_stay_off_even_at_debug() -> None:
    """They carry command options and stored rows: webhook URLs, signing secrets, addresses."""
    setup_logging("DEBUG", "text", [])
    for name in ("discord.http", "discord.gateway", "aiosqlite"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name


def test_the_smtp_password_is_masked_in_logs(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(smtp_url="smtps://digest:p%40ss-w0rd-secret@mail.example.com", smtp_from="bot@example.com")
    setup_logging("INFO", "text", settings.secret_values())
    logging.getLogger("ideabot.test").warning("login p@ss-w0rd-secret via %s", settings.smtp_url.get_secret_value())  # type: ignore[union-attr]
    err = capsys.readouterr().err
    assert "w0rd-secret" not in err and MASK in err
