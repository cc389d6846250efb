"""The slash commands' own words (command, option and choice names, descriptions) as a
catalogue template. They are collected from the command tree exactly as discord.py hands them
to the translator when it syncs, so the template always matches what Discord is sent.

    uv run python -m bot.i18n.commands > bot/i18n/locales/commands.pot
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
from typing import Any

import discord
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from discord import app_commands

from bot.i18n.translator import NAME_CONTEXT, NAME_LOCATIONS

# One locale is enough: discord.py asks the translator for every string once per locale.
_ONE_LOCALE = discord.Locale.german


class _Recorder(app_commands.Translator):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[tuple[str | None, str], None] = {}

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if locale is _ONE_LOCALE:
            name = context.location in NAME_LOCATIONS
            self.found[(NAME_CONTEXT if name else None, string.message)] = None
        return None


async def tree_strings(tree: app_commands.CommandTree[Any]) -> list[tuple[str | None, str]]:
    """(message context, text) of every string `tree` sends Discord, in tree order."""
    recorder = _Recorder()
    for command in tree.get_commands():
        await command.get_translated_payload(tree, recorder)
    return list(recorder.found)


async def bot_command_strings() -> list[tuple[str | None, str]]:
    """The strings of ideabot's full command tree, built offline (no Discord, no database file)."""
    from bot.app import build_bot
    from bot.client import EXTENSIONS
    from bot.settings import Settings
    from bot.storage import Database

    db = await Database.open(":memory:")
    try:
        bot = build_bot(Settings(database=":memory:"), db)
        for extension in EXTENSIONS:
            await bot.load_extension(extension)
        try:
            return await tree_strings(bot.tree)
        finally:
            for extension in EXTENSIONS:
                with contextlib.suppress(Exception):
                    await bot.unload_extension(extension)
            await bot.services.aclose()
    finally:
        await db.close()


def template(strings: list[tuple[str | None, str]]) -> Catalog:
    catalog = Catalog(project="ideabot", domain="commands", fuzzy=False)
    for context, text in strings:
        catalog.add(text, context=context)
    return catalog


def main() -> None:
    buffer = io.BytesIO()
    write_po(buffer, template(asyncio.run(bot_command_strings())), omit_header=False, width=120)
    sys.stdout.write(buffer.getvalue().decode("utf-8"))


if __name__ == "__main__":
    main()
