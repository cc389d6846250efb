"""The `ideabot` command: run the bot, play the offline demo, export digests, manage the database."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from bot.i18n import DISCORD_LOCALES, use
from bot.ops.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings

# Discord's locale codes of the catalogue languages (en-US, de, fr, es-ES, pt-BR, ja).
LOCALE_CHOICES = list(DISCORD_LOCALES.values())


def _settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        click.echo(f"ideabot: configuration error: {exc}", err=True)
        sys.exit(2)


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
    setup_logging(settings.log_level, settings.log_format, settings.secret_values())
    from bot.runner import run_bot
    from bot.storage import DatabaseUnavailable
    from bot.storage.single_process import SingleProcessOnly

    try:
        if settings.uvloop and sys.platform != "win32":
            import uvloop

            uvloop.run(run_bot(settings))
        else:
            asyncio.run(run_bot(settings))
    except SingleProcessOnly as exc:
        click.echo(f"ideabot: cannot start: {exc}", err=True)
        sys.exit(2)
    except DatabaseUnavailable as exc:
        click.echo(f"ideabot: IDEABOT_DATABASE: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.option("--members", default=12, show_default=True, help="How many members the community has.")
@click.option("--ideas", default=8, show_default=True, help="How many ideas they submit (6 to 12).")
@click.option("--pause", default=0.2, show_default=True, help="Seconds between steps (0: as fast as possible).")
@click.option("--seed", default=7, show_default=True, help="Seed for the simulated community's choices.")
@click.option(
    "--locale",
    type=click.Choice(LOCALE_CHOICES),
    default="en-US",
    show_default=True,
    help="The Discord locale of the server and its members; the demo plays in that language.",
)
def demo(members: int, ideas: int, pause: float, seed: int, locale: str) -> None:
    """Run the real bot offline against the local Discord emulator with a simulated community."""
    try:
        from bot.demo import run_demo
    except ModuleNotFoundError:
        # The emulator is a development package: installed wheels do not carry the demo.
        click.echo("ideabot: the demo runs from a source checkout: git clone ..., then `uv run ideabot demo`", err=True)
        sys.exit(2)

    sys.exit(asyncio.run(run_demo(members, ideas, pause, seed, click.echo, locale)))


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Apply pending migrations (the bot also does this at start-up)."""
    settings = _settings_or_exit()
    from bot.storage import Database

    async def _upgrade() -> int:
        database = await Database.open(settings.database)
        try:
            return await database.schema_version()
        finally:
            await database.close()

    from bot.storage import DatabaseUnavailable

    try:
        version = asyncio.run(_upgrade())
    except DatabaseUnavailable as exc:
        click.echo(f"ideabot: IDEABOT_DATABASE: {exc}", err=True)
        sys.exit(2)
    click.echo(f"database {settings.database_for_display} at schema version {version}")


@db.command()
@click.option("--from", "source", required=True, metavar="PATH_OR_URL", help="The database to copy.")
@click.option("--to", "target", required=True, metavar="PATH_OR_URL", help="An empty (or new) database.")
def copy(source: str, target: str) -> None:
    """Copy a whole database between SQLite (a path) and PostgreSQL (a postgresql:// URL)."""
    from bot.storage import Database
    from bot.storage.copy import CopyError, copy_database
    from bot.storage.pg import is_postgres_url, mask_url

    def shown(place: str) -> str:
        return mask_url(place) if is_postgres_url(place) else place

    if not is_postgres_url(source) and source != ":memory:" and not Path(source).is_file():
        click.echo(f"ideabot: no database at {source}", err=True)
        sys.exit(2)

    def progress(table: str, done: int, total: int) -> None:
        if done == total:
            click.echo(f"  {table}: {total} rows", err=True)

    async def _copy() -> str:
        try:
            origin = await Database.open(source)
        except RuntimeError as exc:
            raise CopyError(str(exc)) from None
        try:
            try:
                destination = await Database.open(target)
            except RuntimeError as exc:
                raise CopyError(str(exc)) from None
            try:
                report = await copy_database(origin, destination, progress)
            finally:
                await destination.close()
        finally:
            await origin.close()
        total = sum(report.rows.values())
        return f"copied {total} rows in {len(report.rows)} tables; {report.guilds} guilds' tallies agree"

    click.echo(f"copying {shown(source)} to {shown(target)}", err=True)
    try:
        click.echo(asyncio.run(_copy()))
    except CopyError as exc:
        click.echo(f"ideabot: {exc}", err=True)
        sys.exit(1)


@db.command()
@click.option("--guild", "guild_id", type=int, required=True, help="The guild (server) id to fill.")
@click.option("--ideas", type=click.IntRange(1, 10_000_000), required=True, help="How many ideas to add.")
@click.option("--votes-per-idea", type=click.IntRange(0, 1_000), default=10, show_default=True)
@click.option(
    "--texts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON lines with `title` and `details`, used first; made-up texts after them.",
)
@click.option("--seed", default=1, show_default=True, help="Seed for the made-up community.")
def seed(guild_id: int, ideas: int, votes_per_idea: int, texts: Path | None, seed: int) -> None:
    """Fill the database with a synthetic community for load tests (ideas without cards, votes)."""
    settings = _settings_or_exit()
    from datetime import UTC, datetime

    from bot.storage import Database
    from bot.storage.seed import seed_community

    async def _seed() -> str:
        database = await Database.open(settings.database)
        try:
            with click.progressbar(length=ideas, label="seeding ideas", file=sys.stderr) as bar:
                report = await seed_community(
                    database, guild_id, ideas, votes_per_idea, datetime.now(UTC), texts=texts, seed=seed,
                    progress=bar.update,
                )  # fmt: skip
        finally:
            await database.close()
        return f"added {report.ideas} ideas and {report.votes} votes from {report.members} members to guild {guild_id}"

    started = time.perf_counter()
    summary = asyncio.run(_seed())
    click.echo(f"{summary} in {time.perf_counter() - started:.1f} s ({settings.database_for_display})")


@main.group()
def digest() -> None:
    """The weekly digest, for people outside Discord."""


def _iso_week_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from bot.digest.rules import DigestRuleError, IsoWeek

    try:
        return IsoWeek.parse(value)
    except DigestRuleError as exc:
        raise click.BadParameter(str(exc)) from None


@digest.command("export")
@click.option("--guild", "guild_id", type=int, required=True, help="The guild (server) id.")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv", "json"]), required=True)
@click.option("--week", callback=_iso_week_option, help="YYYY-Www (default: the last complete week).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option(
    "--locale",
    type=click.Choice(LOCALE_CHOICES),
    help="The language of the export (default: the server's language chosen at setup, else English).",
)
def export(guild_id: int, fmt: str, week: Any, out: str | None, locale: str | None) -> None:
    """Export a weekly digest from the database as Markdown, HTML, CSV or JSON."""
    settings = _settings_or_exit()
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    from bot.community import guilds as guild_queries
    from bot.digest.chart import chart_png
    from bot.digest.exports import export as render_export
    from bot.digest.service import DigestService
    from bot.llm.client import LLMClient
    from bot.storage import Database

    steps = ["counts", "ideas", "statuses", "people", "themes", "render"]
    # A mistyped path or guild must not look like a quiet week, nor leave a new database behind.
    from bot.storage.pg import is_postgres_url

    not_a_file = settings.database == ":memory:" or is_postgres_url(settings.database)
    if not not_a_file and not Path(settings.database).is_file():
        click.echo(f"ideabot: no database at {settings.database} (set IDEABOT_DATABASE)", err=True)
        sys.exit(2)

    async def _export() -> str | None:
        database = await Database.open(settings.database)
        llm = None
        try:
            if not (await guild_queries.get_guild_settings(database.conn, guild_id)).is_set_up:
                known = await guild_queries.set_up_guilds(database.conn)
                listed = ", ".join(str(g) for g in known[:10]) or "none"
                click.echo(
                    f"ideabot: guild {guild_id} is not set up in {settings.database_for_display}"
                    f" (set-up guilds: {listed})",
                    err=True,
                )
                return None
            llm = LLMClient.from_settings(settings)
            chosen = locale or (await guild_queries.get_guild_settings(database.conn, guild_id)).language
            with use(chosen):
                with click.progressbar(length=len(steps), label="building the digest", file=sys.stderr) as bar:
                    service = DigestService(database, llm=llm, llm_budget_seconds=settings.digest_llm_budget_seconds)
                    built = await service.build(guild_id, week, progress=lambda step: bar.update(1))
                    chart = await asyncio.to_thread(chart_png, built) if fmt == "html" else None
                    bar.update(1)
                return render_export(built, fmt, chart)
        finally:
            if llm is not None:
                await llm.aclose()
            await database.close()

    text = asyncio.run(_export())
    if text is None:
        sys.exit(2)
    if out is None:
        click.echo(text, nl=False)
    else:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"wrote the {fmt} digest to {out}", err=True)


if __name__ == "__main__":
    main()
