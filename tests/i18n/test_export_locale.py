"""`ideabot digest export --locale`: the firm's copy in the language asked for; English by default
(unless the server chose a language at setup); member text as written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.storage import Database
from tests.digest.test_service import GUILD, seed_week


@pytest.fixture
def exported_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ideabot.sqlite3"

    async def prepare() -> None:
        database = await Database.open(str(path))
        await seed_week(database)
        await database.close()

    asyncio.run(prepare())
    monkeypatch.setenv("IDEABOT_DATABASE", str(path))
    monkeypatch.setenv("IDEABOT_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    return path


def export(fmt: str, *extra: str) -> str:
    result = CliRunner().invoke(
        main, ["digest", "export", "--guild", str(GUILD), "--format", fmt, "--week", "2025-W07", *extra]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_export_takes_a_locale(exported_db: Path) -> None:
    english = export("md")
    assert english.startswith("# Weekly digest · 2025-W07")
    assert "| day | new ideas | votes |" in english
    french = export("md", "--locale", "fr")
    assert french.startswith("# Résumé hebdomadaire · 2025-W07")
    assert "| jour | nouvelles idées | votes |" in french
    assert "lun. 10 févr." in french  # dates as French writes them
    japanese = export("html", "--locale", "ja")
    assert '<html lang="ja">' in japanese and "<h2>日別</h2>" in japanese
    assert '<html lang="en">' in export("html")


def test_export_refuses_an_unknown_locale(exported_db: Path) -> None:
    result = CliRunner().invoke(main, ["digest", "export", "--guild", str(GUILD), "--format", "md", "--locale", "xx"])
    assert result.exit_code == 2 and "--locale" in result.output
