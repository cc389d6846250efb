from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("IDEABOT_TOKEN", "IDEABOT_DATABASE", "IDEABOT_LOG_LEVEL", "IDEABOT_DISCORD_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDEABOT_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")


def test_defaults_from_the_contract() -> None:
    settings = load_settings()
    assert settings.database == "data/ideabot.sqlite3"
    assert settings.discord_api_url == "https://discord.com/api/v10"
    assert settings.discord_gateway_url == "wss://gateway.discord.gg"
    assert settings.llm_base_url is None and not settings.llm_enabled
    assert settings.log_level == "INFO"


def test_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "ideabot.toml"
    config.write_text('database = "from-file.sqlite3"\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("IDEABOT_CONFIG", str(config))
    monkeypatch.setenv("IDEABOT_DATABASE", "from-env.sqlite3")
    settings = load_settings()
    assert settings.database == "from-env.sqlite3"
    assert settings.log_level == "DEBUG"


def test_bad_setting_names_it_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEABOT_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("IDEABOT_LOG_LEVEL:")
    assert "\n" not in str(info.value)


def test_token_never_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEABOT_TOKEN", "super-secret-token")
    monkeypatch.setenv("IDEABOT_DISCORD_API_URL", "ftp://nope")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "super-secret-token" not in str(info.value)
    assert "IDEABOT_DISCORD_API_URL" in str(info.value)


def test_token_is_masked_in_the_settings_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEABOT_TOKEN", "super-secret-token")
    settings = load_settings()
    assert settings.token is not None and settings.token.get_secret_value() == "super-secret-token"
    assert "super-secret-token" not in repr(settings)
    assert "super-secret-token" not in str(settings.model_dump())


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDEABOT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="IDEABOT_CONFIG"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"IDEABOT_SMTP_URL": "http://mail.example.com", "IDEABOT_SMTP_FROM": "a@example.com"}, "IDEABOT_SMTP_URL"),
        ({"IDEABOT_SMTP_URL": "smtp://u:pw-secret-1@mail.example.com"}, "IDEABOT_SMTP_FROM"),
        (
            {"IDEABOT_SMTP_URL": "smtp://u:pw-secret-1@mail.example.com:99999", "IDEABOT_SMTP_FROM": "a@b.example"},
            "IDEABOT_SMTP_URL",
        ),
        ({"IDEABOT_SMTP_FROM": "not an address"}, "IDEABOT_SMTP_FROM"),
    ],
)
def test_bad_email_settings_are_named_without_the_password(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name in ("IDEABOT_SMTP_URL", "IDEABOT_SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert named in str(info.value) and "pw-secret-1" not in str(info.value)


def test_smtp_credentials_are_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEABOT_SMTP_URL", "smtps://digest:p%40ss-secret@mail.example.com:465")
    monkeypatch.setenv("IDEABOT_SMTP_FROM", "Digest@Example.com")
    settings = load_settings()
    assert "ss-secret" not in repr(settings) and "ss-secret" not in str(settings.model_dump())
    assert "p@ss-secret" in settings.secret_values() and "p%40ss-secret" in settings.secret_values()
    assert settings.smtp_from == "Digest@example.com"
