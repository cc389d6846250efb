"""The `ideabot` command: run the bot, play the offline demo, export digests, manage the database."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from bot.settings import Settings, SettingsError, load_settings


def _settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        click.echo(f"ideabot: configuration error: {exc}", err=True)
        sys.exit(2)


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # discord.http logs request routes at DEBUG; keep it quieter (it never logs the token).
    logging.getLogger("discord.http").setLevel(logging.WARNING)


@click.group()
def main() -> None:
    """ideabot: community idea intake for Discord."""


@main.command()
def run() -> None:
    """Connect to Discord and serve (needs IDEABOT_TOKEN)."""
    settings = _settings_or_exit()
    if settings.token is None or not settings.token.get_secret_value().strip():
        click.echo("ideabot: configuration error: IDEABOT_TOKEN: required to connect to Discord", err=True)
        sys.exit(2)
    setup_logging(settings.log_level)
    from bot.runner import run_bot

    asyncio.run(run_bot(settings))


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Apply pending migrations (the bot also does this at start-up)."""
    settings = _settings_or_exit()
    from bot.db import Database

    async def _upgrade() -> int:
        database = await Database.open(settings.database)
        try:
            return await database.schema_version()
        finally:
            await database.close()

    click.echo(f"database {settings.database} at schema version {asyncio.run(_upgrade())}")


if __name__ == "__main__":
    main()
