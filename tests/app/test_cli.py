from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "ideabot.toml"
    config.write_text("")
    return {"IDEABOT_CONFIG": str(config), "IDEABOT_TOKEN": "", "IDEABOT_DATABASE": str(tmp_path / "db.sqlite3")}


def test_run_without_a_token_stops_with_one_clear_line(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["run"], env=env)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "ideabot: configuration error: IDEABOT_TOKEN: required to connect to Discord"
    ]


def test_bad_setting_is_named_and_the_token_is_not_shown(env: dict[str, str]) -> None:
    env |= {"IDEABOT_TOKEN": "my-very-secret-token", "IDEABOT_LOG_LEVEL": "CHATTY"}
    result = CliRunner().invoke(main, ["run"], env=env)
    assert result.exit_code == 2
    assert "IDEABOT_LOG_LEVEL" in result.output
    assert "my-very-secret-token" not in result.output


def test_db_upgrade_applies_migrations(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert "schema version" in result.output
