"""Slash command names, descriptions and choices in every catalogue language, for Discord's
`name_localizations` and `description_localizations` (discord.py's Translator)."""

from __future__ import annotations

import unicodedata

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n import COMMANDS_DOMAIN, TRANSLATED, catalogue, language_of

# Names Discord validates (command, group and option names); choice names and descriptions are
# free text. Names are looked up under this message context, so "status" the option and
# "status" in a sentence never share a translation.
NAME_CONTEXT = "name"
NAME_LOCATIONS = frozenset({Where.command_name, Where.group_name, Where.parameter_name})
NAME_MAX = 32


def valid_name(name: str) -> bool:
    """Discord's rule for command and option names, `^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`,
    lower case where the script has case."""
    if not 1 <= len(name) <= NAME_MAX or name != name.lower():
        return False
    for char in name:
        if char in "-_":
            continue
        category = unicodedata.category(char)
        if category[0] in "LN":
            continue
        # Devanagari and Thai vowel signs and marks (categories Mn/Mc) are allowed too.
        if 0x0900 <= ord(char) <= 0x097F or 0x0E00 <= ord(char) <= 0x0E7F:
            continue
        return False
    return True


def translate_command_text(message: str, language: str, *, name: bool) -> str | None:
    """The catalogue's text for a command string in `language`; None for the source language."""
    if language not in TRANSLATED:
        return None
    texts = catalogue(language, COMMANDS_DOMAIN)
    return texts.pgettext(NAME_CONTEXT, message) if name else texts.gettext(message)


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        # A related locale (es-419 for es-ES) gets the nearest catalogue; others keep English.
        language = language_of(locale.value)
        if language not in TRANSLATED:
            return None
        return translate_command_text(string.message, language, name=context.location in NAME_LOCATIONS)
