"""The bot's own words in the reader's language: gettext catalogues managed with Babel.

English is the source language: an English reader gets the message ids themselves. The
language a piece of text is rendered in is a context variable, so the services and renderers
that build replies need no locale parameter threaded through them:

- each interaction runs in the language of the member who caused it (`interaction.locale`,
  set by the client before discord.py starts the interaction's task);
- whatever is public (cards, thread announcements, results, digests, the log channel) or sent
  later (DMs) is rendered inside `use(language)` with the server's or the member's language.

Idea text is never passed through a catalogue.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from pathlib import Path

import babel
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.support import Translations

SOURCE = "en"
# Catalogue language -> the Discord locale it is offered under.
DISCORD_LOCALES: dict[str, str] = {"en": "en-US", "de": "de", "fr": "fr", "es": "es-ES", "pt_BR": "pt-BR", "ja": "ja"}
LANGUAGES: tuple[str, ...] = tuple(DISCORD_LOCALES)
TRANSLATED: tuple[str, ...] = tuple(language for language in LANGUAGES if language != SOURCE)
# What a moderator may pick in `/ideamod setup language`: the language's own name.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "pt_BR": "Português do Brasil",
    "ja": "日本語",
}
DOMAIN = "ideabot"
# Slash command names, descriptions and choices: their own catalogue, built from the command
# tree rather than extracted from the source (see bot/i18n/commands.py).
COMMANDS_DOMAIN = "commands"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"

_language: ContextVar[str] = ContextVar("ideabot_language", default=SOURCE)


def language_of(code: str | None) -> str:
    """The catalogue language for a Discord locale (`de`, `es-419`, `pt-BR`, `en-GB`) or a
    catalogue name (`pt_BR`): the exact language, else its base language, else English."""
    if not code:
        return SOURCE
    normal = code.replace("-", "_")
    for language in LANGUAGES:
        if language.lower() == normal.lower():
            return language
    base = normal.split("_")[0].lower()
    if base in LANGUAGES:
        return base
    for language in LANGUAGES:
        if language.split("_")[0].lower() == base:
            return language
    return SOURCE


@cache
def catalogue(language: str, domain: str = DOMAIN) -> _gettext.NullTranslations:
    if language == SOURCE:
        return _gettext.NullTranslations()
    return Translations.load(str(LOCALE_DIR), [language], domain)


def current() -> str:
    return _language.get()


@contextmanager
def use(language: str | None) -> Iterator[str]:
    """Render the enclosed text in `language` (a Discord locale or catalogue name)."""
    chosen = language_of(language)
    token = _language.set(chosen)
    try:
        yield chosen
    finally:
        _language.reset(token)


def _(message: str) -> str:
    """`message` in the current language."""
    return catalogue(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form (in the current language) for `n`."""
    return catalogue(_language.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown, with `_`."""
    return message


@cache
def babel_locale(language: str) -> babel.Locale:
    """Babel's locale for a catalogue language (for dates, numbers and plural rules)."""
    if language == SOURCE:
        return babel.Locale("en")
    return babel.Locale.parse(DISCORD_LOCALES.get(language, language), sep="-")


def number(value: float) -> str:
    """A number as the current language writes it (1,234 · 1.234 · 1 234)."""
    return babel_numbers.format_decimal(value, locale=babel_locale(current()))


def when(value: date | datetime, english: str, skeleton: str) -> str:
    """`value` written as the current language writes it: English keeps its strftime pattern
    (`english`); other languages get Babel's pattern for the CLDR `skeleton` (e.g. "MMMEd")."""
    language = current()
    if language == SOURCE:
        return value.strftime(english)
    locale = babel_locale(language)
    # CLDR has skeletons for dates and for times; a date with a time is written as both.
    day_part, __, time_part = skeleton.partition("H")
    text = babel_dates.format_skeleton(day_part, value, locale=locale) if day_part else ""
    if time_part and isinstance(value, datetime):
        clock = babel_dates.format_time(value, "HH:mm", locale=locale)
        text = f"{text} {clock}" if text else clock
    return text
