"""The catalogues: complete in every language, placeholders as in the source, compiled files
current, templates matching the code, and every localised command name valid for Discord."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.i18n import COMMANDS_DOMAIN, DOMAIN, LOCALE_DIR, SOURCE, TRANSLATED, _, ngettext, use
from bot.i18n.commands import bot_command_strings
from bot.i18n.translator import NAME_CONTEXT, valid_name

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = (DOMAIN, COMMANDS_DOMAIN)
# Python's str.format fields ({name}, {when:%Y-%m-%d}) and Jinja's %(name)s.
_FIELD = re.compile(r"\{(\w*)[^{}]*\}|%\((\w+)\)[sd]")


def placeholders(text: str) -> list[str]:
    return sorted(a or b for a, b in _FIELD.findall(text.replace("{{", "").replace("}}", "")))


def template(domain: str) -> Catalog:
    with (LOCALE_DIR / f"{domain}.pot").open("rb") as handle:
        return read_po(handle)


def catalogue(language: str, domain: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        return read_po(handle, locale=language)


def keys(catalog: Catalog) -> set[tuple[str | tuple[str, ...], str | None]]:
    return {(message.id, message.context) for message in catalog if message.id}


def test_the_template_holds_every_message_of_the_code() -> None:
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = set()
    for _filename, _line, message, _comments, context in extract_from_dir(str(ROOT), method_map, options_map):
        found.add((message, context))
    assert found == keys(template(DOMAIN)), "run the extraction (README, Languages) and translate what is new"


async def test_the_commands_template_holds_every_command_string() -> None:
    strings = await bot_command_strings()
    assert {(text, context) for context, text in strings} == keys(template(COMMANDS_DOMAIN))
    assert ("submit", NAME_CONTEXT) in keys(template(COMMANDS_DOMAIN))


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalogue_is_complete_and_keeps_the_placeholders(language: str, domain: str) -> None:
    translated = catalogue(language, domain)
    problems: list[str] = []
    for wanted in template(domain):
        if not wanted.id:
            continue
        message = translated.get(wanted.id, context=wanted.context)
        if message is None:
            problems.append(f"missing: {wanted.id!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {wanted.id!r}")
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if isinstance(wanted.id, tuple) and len(forms) != translated.num_plurals:
            problems.append(f"{len(forms)} plural forms, {language} has {translated.num_plurals}: {wanted.id!r}")
        source = wanted.id[-1] if isinstance(wanted.id, tuple) else wanted.id
        for form in forms:
            if not form:
                problems.append(f"untranslated: {wanted.id!r}")
            elif placeholders(form) != placeholders(source):
                problems.append(f"placeholders {placeholders(form)} != {placeholders(source)}: {form!r}")
    for message, errors in translated.check():
        problems += [f"{message.id!r}: {error}" for error in errors]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogues_are_current(language: str, domain: str) -> None:
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    with (folder / f"{domain}.mo").open("rb") as handle:
        compiled = read_mo(handle)
    written = catalogue(language, domain)

    def texts(catalog: Catalog) -> dict[tuple[object, object], object]:
        def plain(value: object) -> object:
            return tuple(value) if isinstance(value, list | tuple) else value

        return {(plain(m.id), m.context): plain(m.string) for m in catalog if m.id and not m.fuzzy}

    assert texts(compiled) == texts(written), f"recompile: pybabel compile -d bot/i18n/locales -D {domain}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_localised_command_names_follow_discords_rules(language: str) -> None:
    names = [m for m in catalogue(language, COMMANDS_DOMAIN) if m.id and m.context == NAME_CONTEXT]
    assert names
    bad = [(m.id, m.string) for m in names if not isinstance(m.string, str) or not valid_name(m.string)]
    assert not bad
    # Descriptions and choice names: Discord takes 1 to 100 characters.
    texts = [m for m in catalogue(language, COMMANDS_DOMAIN) if m.id and m.context != NAME_CONTEXT]
    assert not [(m.id, m.string) for m in texts if not 1 <= len(str(m.string)) <= 100]


def test_the_name_rule() -> None:
    assert valid_name("einreichen") and valid_name("zurückziehen") and valid_name("提出") and valid_name("e-mail")
    assert valid_name("min_kontoalter_tage") and valid_name("समीक्षा")
    assert not valid_name("Einreichen") and not valid_name("two words") and not valid_name("x" * 33)
    assert not valid_name("") and not valid_name("emoji👍")


def test_english_is_the_source_and_others_translate() -> None:
    with use(SOURCE):
        assert _("Votes") == "Votes"
        assert ngettext("{count} idea", "{count} ideas", 1).format(count=1) == "1 idea"
    with use("de"):
        assert _("Votes") == "Stimmen"
        assert ngettext("{count} idea", "{count} ideas", 2).format(count=2) == "2 Ideen"
    with use("ja"):
        assert ngettext("{count} idea", "{count} ideas", 2).format(count=2) != "2 ideas"
    with use("fr"):
        # French uses the singular for 0 and 1.
        assert ngettext("{count} idea", "{count} ideas", 0) == ngettext("{count} idea", "{count} ideas", 1)
