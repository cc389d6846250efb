"""The digest as files for the firm: Markdown, a self-contained HTML page (Jinja2 template,
autoescaped), CSV and JSON."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from bot.digest.render import (
    Section,
    challenge_line,
    contributor_line,
    digest_title,
    overview_lines,
    period_text,
    place_text,
    promotion_line,
    sections,
    shown_and_folded,
    status_label,
    themes_source_line,
)
from bot.digest.rules import ChallengeLine, Contributor, Digest, IdeaLine, Promotion, StatusChangeLine, Theme
from bot.i18n import DISCORD_LOCALES, SOURCE, _, current, when
from bot.ideas.rules import shown_reason


def _terms(line: IdeaLine) -> str:
    return _(" [terms {terms_version}]").format(terms_version=line.terms_version) if line.terms_version else ""


def _plain_idea(line: IdeaLine, note: bool = True) -> str:
    text = f"#{line.number} {line.title} (👍 {line.upvotes} 👎 {line.downvotes}){_terms(line)}"
    return text + (f" — {line.note}" if note and line.note else "")


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One line of an export: an idea (rendered per format) or plain text."""

    text: str
    idea: IdeaLine | None = None
    note: str = ""  # after the idea, e.g. the reason of a decision


class ExportLines:
    """Lines as plain text for the files (each format escapes its own way), with the idea kept
    beside them for the formats that lay an idea out (HTML)."""

    def idea(self, line: IdeaLine, *, note: bool = True) -> ExportItem:
        return ExportItem(_plain_idea(line, note), line, line.note if note else "")

    def decision(self, change: StatusChangeLine) -> ExportItem:
        moved = f"{status_label(change.old_status)} → {status_label(change.new_status)}"
        moved += f" — {shown_reason(change.reason)}" if change.reason else ""
        idea = change.idea
        return ExportItem(f"#{idea.number} {idea.title}{_terms(idea)}: {moved}", idea, moved)

    def challenge(self, challenge: ChallengeLine) -> ExportItem:
        return ExportItem(challenge_line(challenge, lambda i: _plain_idea(i, False)))

    def contributor(self, contributor: Contributor) -> ExportItem:
        return ExportItem(contributor_line(contributor))

    def promotion(self, promotion: Promotion) -> ExportItem:
        return ExportItem(promotion_line(promotion))

    def theme(self, theme: Theme) -> ExportItem:
        numbers = ", ".join(f"#{n}" for n in theme.idea_numbers)
        return ExportItem(f"{theme.name}: {numbers}" + (f" — {theme.summary}" if theme.summary else ""))

    def more(self, count: int) -> ExportItem:
        return ExportItem(_("… and {count} more").format(count=count))


def _export_fold(d: Digest) -> tuple[list[Section[ExportItem]], str | None]:
    shown, folded = shown_and_folded(sections(d, ExportLines()))
    return shown, (_("Nothing this week: ") + ", ".join(folded) + ".") if folded else None


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>#|" else ch for ch in text)


def to_markdown(d: Digest) -> str:
    out = [f"# {digest_title(d)}", "", period_text(d), ""]
    out += [f"- {line}" for line in overview_lines(d)]
    if d.summary:
        out += ["", _md_escape(d.summary)]
    out += ["", f"_{themes_source_line(d)}_"]
    shown, fold = _export_fold(d)
    for section in shown:
        out += ["", f"## {section.title}", ""]
        out += [f"- {_md_escape(item.text)}" for item in section.lines]
    if fold:
        out += ["", fold]
    out += ["", _("| day | new ideas | votes |"), "|---|---|---|"]
    out += [f"| {when(day.day, '%a %d %b', 'MMMEd')} | {day.ideas} | {day.votes} |" for day in d.days]
    return "\n".join(out) + "\n"


@cache
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.digest", "templates"),
        autoescape=True,  # every value is member text or derived from it
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # `_("text %(name)s", name=...)` in the template, as Jinja's i18n extension writes it (babel.cfg
    # extracts it so); it reads the current language when the template runs.
    environment.globals["_"] = _template_text
    return environment


def _template_text(message: str, **values: object) -> str:
    text = _(message)
    return text % values if values else text


def to_html(d: Digest, chart: bytes | None = None, chart_src: str | None = None) -> str:
    """The digest as a web page; `chart_src` points the chart elsewhere (an email's inline part)."""
    src = None
    if chart:
        src = chart_src or "data:image/png;base64," + base64.b64encode(chart).decode("ascii")
    shown, fold = _export_fold(d)
    return (
        _templates()
        .get_template("digest.html.j2")
        .render(
            lang="en" if current() == SOURCE else DISCORD_LOCALES[current()],
            title=digest_title(d),
            period=period_text(d),
            overview=overview_lines(d),
            summary=d.summary,
            themes_source=themes_source_line(d),
            chart_src=src,
            sections=[
                (
                    section.title,
                    [(i, f"#{i.idea.number} {i.idea.title}" if i.idea else i.text) for i in section.lines],
                )
                for section in shown
            ],
            fold=fold,
            days=[(when(day.day, "%a %d %b", "MMMEd"), day.ideas, day.votes) for day in d.days],
        )
    )


CSV_COLUMNS = (
    "section",
    "number",
    "title",
    "status",
    "upvotes",
    "downvotes",
    "score",
    "detail",
    "terms_version",
    "user_id",
    "role_id",
)


def _csv_rows(d: Digest) -> Iterable[tuple[Any, ...]]:
    c, p = d.counts, d.previous
    for name, now, before in (
        ("new_ideas", c.new_ideas, p.new_ideas),
        ("votes", c.votes, p.votes),
        ("active_members", c.active_members, p.active_members),
    ):
        yield ("count", "", name, "", "", "", now, _("previous week {before}").format(before=before), "")
    for name, total, listed in (
        ("crossed", d.crossed_total, len(d.crossed)),
        ("archived", d.archived_total, len(d.archived)),
        ("expired", d.expired_total, len(d.expired)),
    ):
        yield ("count", "", name, "", "", "", total, _("listed {listed}").format(listed=listed), "")
    for day in d.days:
        yield (
            "day",
            "",
            day.day.isoformat(),
            "",
            "",
            "",
            day.votes,
            _("new ideas {ideas}").format(ideas=day.ideas),
            "",
        )
    for section, lines in (
        ("top_new", d.top_new),
        ("trending", d.trending),
        ("waiting", d.waiting),
        ("crossed", [c.idea for c in d.crossed]),  # score: the stage; detail: the stage's requirement
        ("archived", d.archived),
        ("expired", d.expired),
    ):
        for i in lines:
            yield _csv_idea(section, i, round(i.score, 4), i.note)
    for s in d.status_changes:
        yield (
            "status_change",
            s.idea.number,
            s.idea.title,
            s.new_status,
            "",
            "",
            "",
            _("from {old_status}: {value}").format(old_status=s.old_status, value=s.reason or ""),
            s.idea.terms_version or "",
        )
    for challenge in d.challenges:
        award = _(" (award: {award})").format(award=challenge.award) if challenge.award else ""
        yield (
            "challenge",
            challenge.number,
            challenge.title,
            "closed",
            "",
            "",
            len(challenge.winners),
            _("closed {closed_at:%Y-%m-%d}{award}").format(closed_at=challenge.closed_at, award=award),
            "",
        )
        for w in challenge.winners:
            yield _csv_idea(
                "challenge_winner",
                w.idea,
                w.points,
                _("challenge #{number}: {place}").format(number=challenge.number, place=place_text(w.place)),
            )
    for contributor in d.contributors:
        yield (
            "contributor",
            "",
            contributor.label,
            "",
            "",
            "",
            contributor.points,
            "",
            "",
            str(contributor.user_id),
            "",
        )
    for promotion in d.promotions:
        yield (
            "promotion",
            "",
            promotion.label,
            "",
            "",
            "",
            "",
            promotion.role_label,
            "",
            str(promotion.user_id),
            str(promotion.role_id),
        )
    for theme in d.themes:
        yield (
            "theme",
            "",
            theme.name,
            "",
            "",
            "",
            len(theme.idea_numbers),
            " ".join(f"#{n}" for n in theme.idea_numbers),
            "",
        )


def _csv_idea(section: str, i: IdeaLine, score: Any, detail: str) -> tuple[Any, ...]:
    return (section, i.number, i.title, i.status, i.upvotes, i.downvotes, score, detail, i.terms_version or "")


def _csv_safe(value: Any) -> Any:
    """Spreadsheets run cells starting with = + - @ as formulas; defuse member text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(d: Digest) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _csv_rows(d):
        padded = (*row, *[""] * (len(CSV_COLUMNS) - len(row)))
        writer.writerow([_csv_safe(value) for value in padded])
    return buffer.getvalue()


def _line_dict(i: IdeaLine) -> dict[str, Any]:
    return {
        "number": i.number,
        "title": i.title,
        "status": i.status,
        "upvotes": i.upvotes,
        "downvotes": i.downvotes,
        "score": round(i.score, 6),
        "note": i.note,
        "created_at": i.created_at.isoformat() if i.created_at else None,
        "terms_version": i.terms_version,
    }


def to_dict(d: Digest) -> dict[str, Any]:
    return {
        "guild_id": str(d.guild_id),
        "week": str(d.week),
        "title": digest_title(d),
        "partial": d.partial,
        "timezone": d.timezone,
        "start": d.period.start.isoformat(),
        "end": d.period.end.isoformat(),
        "generated_at": d.generated_at.isoformat() if d.generated_at else None,
        "counts": {"new_ideas": d.counts.new_ideas, "votes": d.counts.votes, "active_members": d.counts.active_members},
        "previous": {
            "new_ideas": d.previous.new_ideas,
            "votes": d.previous.votes,
            "active_members": d.previous.active_members,
        },
        "days": [{"day": day.day.isoformat(), "new_ideas": day.ideas, "votes": day.votes} for day in d.days],
        "top_new": [_line_dict(i) for i in d.top_new],
        "trending": [_line_dict(i) for i in d.trending],
        "status_changes": [
            {
                "number": s.idea.number,
                "title": s.idea.title,
                "old_status": s.old_status,
                "new_status": s.new_status,
                "reason": s.reason,
                "at": s.at.isoformat(),
                "terms_version": s.idea.terms_version,
            }
            for s in d.status_changes
        ],
        "waiting": {"days": d.waiting_days, "total": d.waiting_total, "ideas": [_line_dict(i) for i in d.waiting]},
        "crossed_stages": {
            "total": d.crossed_total,
            "crossings": [
                {
                    **_line_dict(c.idea),
                    "stage": c.stage,
                    "requirement": c.requirement or None,
                    "upvotes_when_crossed": c.votes,
                    "at": c.at.isoformat(),
                }
                for c in d.crossed
            ],
        },
        "archived": {"total": d.archived_total, "ideas": [_line_dict(i) for i in d.archived]},
        "expired": {"total": d.expired_total, "ideas": [_line_dict(i) for i in d.expired]},
        "challenges_closed": [
            {
                "number": c.number,
                "title": c.title,
                "award": c.award,
                "closed_at": c.closed_at.isoformat(),
                "winners": [{"place": w.place, "points": w.points, **_line_dict(w.idea)} for w in c.winners],
            }
            for c in d.challenges
        ],
        "top_contributors": [
            {"user_id": str(c.user_id), "name": c.name or None, "label": c.label, "points": c.points}
            for c in d.contributors
        ],
        "role_promotions": [
            {
                "user_id": str(p.user_id),
                "name": p.name or None,
                "label": p.label,
                "role_id": str(p.role_id),
                "role_name": p.role_name or None,
                "at": p.at.isoformat(),
            }
            for p in d.promotions
        ],
        "themes": [{"name": t.name, "ideas": list(t.idea_numbers), "summary": t.summary} for t in d.themes],
        "themes_from": d.themes_from,
        "summary": d.summary,
        "fallback_note": d.fallback_note,
    }


def to_json(d: Digest) -> str:
    return json.dumps(to_dict(d), ensure_ascii=False, indent=2) + "\n"


def export(d: Digest, fmt: str, chart: bytes | None = None) -> str:
    if fmt == "md":
        return to_markdown(d)
    if fmt == "html":
        return to_html(d, chart)
    if fmt == "csv":
        return to_csv(d)
    if fmt == "json":
        return to_json(d)
    raise ValueError(f"unknown format {fmt!r}")
