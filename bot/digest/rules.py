"""The weekly digest as data: its period, the schedule rule, and the ranking of what goes in.

Pure: no discord, no SQL, no clock. The service feeds it aggregates (bot/digest/storage.py) and
the current time; bot/digest/render.py, chart.py and exports.py turn it into embeds, a chart and files."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.i18n import N_, _, when
from bot.ideas.ranking import wilson_lower_bound
from bot.programmes.rules import Stage

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_NAMES = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)
DEFAULT_WEEKDAY = 0
DEFAULT_HOUR = 9
DEFAULT_TIMEZONE = "UTC"
DEFAULT_WAITING_DAYS = 14
TOP_LIMIT = 5
LIST_LIMIT = 10
TRENDING_MIN_RECENT = 2

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class DigestRuleError(ValueError):
    """Bad schedule or week input; the message is shown to the member as it is."""


# --- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        match = _ISO_WEEK.match(text.strip())
        if not match:
            raise DigestRuleError(_("'{text}' is not an ISO week: use YYYY-Www, e.g. 2025-W07.").format(text=text))
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise DigestRuleError(
                _("{text} does not exist: {year} has no week {week}.").format(text=text, year=year, week=week)
            ) from None
        return cls(year, week)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def shift(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    def previous(self) -> IsoWeek:
        return self.shift(-1)


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def zone(name: str) -> ZoneInfo:
    # Only names from the tz database: ZoneInfo would otherwise open whatever path it is given
    # (a directory such as "Europe", a name too long for the file system).
    if name not in _known_zones():
        shown = name if len(name) <= 40 else name[:40] + "…"
        raise DigestRuleError(
            _("Unknown time zone '{shown}': use an IANA name such as Europe/Berlin or UTC.").format(shown=shown)
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise DigestRuleError(
            _("Unknown time zone '{name}': use an IANA name such as Europe/Berlin or UTC.").format(name=name)
        ) from None


@dataclass(frozen=True, slots=True)
class Period:
    """One ISO week in a guild's time zone, as UTC instants [start, end)."""

    week: IsoWeek
    start: datetime
    end: datetime

    @classmethod
    def of(cls, week: IsoWeek, timezone: str = DEFAULT_TIMEZONE) -> Period:
        tz = zone(timezone)
        start = datetime.combine(week.monday, time(0), tz).astimezone(UTC)
        end = datetime.combine(week.monday + timedelta(days=7), time(0), tz).astimezone(UTC)
        return cls(week, start, end)

    def day_starts(self, timezone: str) -> list[datetime]:
        """The UTC instant each local day of the week starts (DST-aware), plus the end."""
        tz = zone(timezone)
        return [datetime.combine(self.week.monday + timedelta(days=i), time(0), tz).astimezone(UTC) for i in range(8)]


def week_of(moment: datetime, timezone: str = DEFAULT_TIMEZONE) -> IsoWeek:
    return IsoWeek.of(moment.astimezone(zone(timezone)).date())


# --- the schedule rule -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    weekday: int = DEFAULT_WEEKDAY  # 0 = Monday
    hour: int = DEFAULT_HOUR
    timezone: str = DEFAULT_TIMEZONE
    waiting_days: int = DEFAULT_WAITING_DAYS
    # Support thresholds are not a digest setting: the digest reports the stages the programme records
    # in threshold_crossings (the guild's stages live in programme_settings).

    def describe(self) -> str:
        return _("every {weekday} at {hour:02d}:00 ({timezone})").format(
            weekday=_(WEEKDAY_NAMES[self.weekday]), hour=self.hour, timezone=self.timezone
        )


def parse_schedule(weekday: str | int, hour: int, timezone: str) -> tuple[int, int, str]:
    """Validate `/digest schedule` input: weekday name (or 0-6, Monday = 0), hour 0-23, IANA zone."""
    if isinstance(weekday, int) or str(weekday).strip().isdigit():
        day = int(weekday)
        if not 0 <= day <= 6:
            raise DigestRuleError(_("The weekday must be 0-6 (Monday = 0) or a day name."))
    else:
        name = str(weekday).strip().lower()
        matches = [i for i, full in enumerate(WEEKDAYS) if len(name) >= 2 and full.startswith(name)]
        if len(matches) != 1:
            raise DigestRuleError(
                _("Unknown weekday '{weekday}': use a day name such as Monday.").format(weekday=weekday)
            )
        day = matches[0]
    if not 0 <= int(hour) <= 23:
        raise DigestRuleError(_("The hour must be between 0 and 23."))
    zone(timezone.strip())
    return day, int(hour), timezone.strip()


def scheduled_time(week: IsoWeek, schedule: DigestSchedule) -> datetime:
    """When the digest is posted during `week` (UTC)."""
    tz = zone(schedule.timezone)
    day = week.monday + timedelta(days=schedule.weekday)
    return datetime.combine(day, time(schedule.hour), tz).astimezone(UTC)


def digest_due(
    now: datetime,
    schedule: DigestSchedule,
    recorded: set[IsoWeek] | frozenset[IsoWeek],
    set_up_at: datetime | None = None,
) -> IsoWeek | None:
    """The week whose digest should be posted now, or None.

    A digest posted during week W reports on week W-1 (the last complete week) and is recorded
    under W-1. It is due once this week's scheduled time has passed and W-1 is not recorded. Weeks
    missed before that are not posted late: only the latest missed run is caught up, once. A week
    that ended before the guild was set up (`set_up_at`) has nothing to report: never due."""
    current = week_of(now, schedule.timezone)
    covered = current.previous()
    if now < scheduled_time(current, schedule) or covered in recorded:
        return None
    if set_up_at is not None and Period.of(covered, schedule.timezone).end <= set_up_at:
        return None
    return covered


def default_week(now: datetime, timezone: str = DEFAULT_TIMEZONE) -> IsoWeek:
    """The week a digest made `now` reports on: the last complete week."""
    return week_of(now, timezone).previous()


CURRENT = "current"
LAST = "last"


def parse_week_choice(text: str | None, now: datetime, timezone: str = DEFAULT_TIMEZONE) -> tuple[IsoWeek, bool]:
    """`/digest ... week`: 'current' (the week so far), 'last' (default) or YYYY-Www. Returns the
    week and whether it is still running (its digest covers only the days so far)."""
    choice = (text or LAST).strip().lower()
    current = week_of(now, timezone)
    if choice == CURRENT:
        return current, True
    if choice == LAST:
        return current.previous(), False
    try:
        week = IsoWeek.parse(choice.upper())
    except DigestRuleError:
        raise DigestRuleError(
            _("'{text}' is not a week: use current, last or YYYY-Www (e.g. {current}).").format(
                text=text, current=current
            )
        ) from None
    if week > current:
        raise DigestRuleError(
            _("{week} has not started yet: the latest week is {current} (current).").format(week=week, current=current)
        )
    return week, week == current


# --- what goes in ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    new_ideas: int = 0
    votes: int = 0
    active_members: int = 0


@dataclass(frozen=True, slots=True)
class IdeaLine:
    """One idea as the digest mentions it."""

    id: int
    number: int
    title: str
    status: str
    upvotes: int = 0
    downvotes: int = 0
    created_at: datetime | None = None
    score: float = 0.0
    note: str = ""
    terms_version: str | None = None  # the contribution terms it was submitted under


@dataclass(frozen=True, slots=True)
class VoteActivity:
    """Votes on one idea: in the week and before it."""

    idea: IdeaLine
    recent: int
    earlier: int


@dataclass(frozen=True, slots=True)
class StatusChangeLine:
    idea: IdeaLine
    old_status: str
    new_status: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CrossingLine:
    """An idea that reached a support stage during the week (from threshold_crossings)."""

    idea: IdeaLine
    stage: int
    votes: int  # upvotes when it crossed
    at: datetime
    requirement: str = ""  # e.g. "10 upvotes within 30 days"; empty when the stage is no longer configured

    def describe(self) -> str:
        return (
            _("stage {stage}: {requirement}").format(stage=self.stage, requirement=self.requirement)
            if self.requirement
            else _("stage {stage}").format(stage=self.stage)
        )


@dataclass(frozen=True, slots=True)
class WinnerLine:
    place: int
    idea: IdeaLine
    points: int


@dataclass(frozen=True, slots=True)
class ChallengeLine:
    """A challenge closed during the week, with its winning ideas (never their authors)."""

    number: int
    title: str
    award: str | None
    closed_at: datetime
    winners: tuple[WinnerLine, ...] = ()


def member_label(user_id: int, name: str) -> str:
    """A member as a reader outside Discord knows them: their display name, else a neutral label."""
    return name or _("member …{value}").format(value=str(user_id)[-4:])


@dataclass(frozen=True, slots=True)
class Contributor:
    user_id: int
    points: int
    name: str = ""  # display name as the bot last saw it; empty when never seen

    @property
    def label(self) -> str:
        return member_label(self.user_id, self.name)


@dataclass(frozen=True, slots=True)
class Promotion:
    user_id: int
    role_id: int
    at: datetime
    name: str = ""
    role_name: str = ""

    @property
    def label(self) -> str:
        return member_label(self.user_id, self.name)

    @property
    def role_label(self) -> str:
        return self.role_name or _("a reward role")


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    idea_numbers: tuple[int, ...]
    summary: str = ""


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    ideas: int
    votes: int


@dataclass(slots=True)
class Digest:
    guild_id: int
    period: Period
    timezone: str
    counts: Counts
    previous: Counts
    top_new: list[IdeaLine]
    trending: list[IdeaLine]
    status_changes: list[StatusChangeLine]
    waiting: list[IdeaLine]
    waiting_total: int
    waiting_days: int
    contributors: list[Contributor]
    promotions: list[Promotion]
    days: list[DayCount]
    crossed: list[CrossingLine] = field(default_factory=list)
    crossed_total: int = 0
    archived: list[IdeaLine] = field(default_factory=list)
    archived_total: int = 0
    expired: list[IdeaLine] = field(default_factory=list)
    expired_total: int = 0
    challenges: list[ChallengeLine] = field(default_factory=list)
    themes: list[Theme] = field(default_factory=list)
    summary: str | None = None
    themes_from: str = "keywords"  # llm | meaning | keywords
    fallback_note: str | None = None
    generated_at: datetime | None = None
    # The week is still running: the digest covers its days so far, up to `generated_at`.
    partial: bool = False

    @property
    def week(self) -> IsoWeek:
        return self.period.week

    @property
    def is_quiet(self) -> bool:
        return (
            self.counts == Counts()
            and not self.status_changes
            and not self.waiting_total
            and not (self.crossed_total or self.archived_total or self.expired_total or self.challenges)
        )


def compared(current: int, previous: int) -> str:
    """A count against the week before, in words: '12, none the week before', '12, up from 8
    the week before', '3, down from 5 the week before', '4, as many as the week before'."""
    if current == previous:
        return (
            _("{current}, as many as the week before").format(current=current)
            if current
            else _("none, as the week before")
        )
    if previous == 0:
        return _("{current}, none the week before").format(current=current)
    if current == 0:
        return _("none, down from {previous} the week before").format(previous=previous)
    if current > previous:
        return _("{current}, up from {previous} the week before").format(current=current, previous=previous)
    return _("{current}, down from {previous} the week before").format(current=current, previous=previous)


def top_new_ideas(ideas: Sequence[IdeaLine], limit: int = TOP_LIMIT) -> list[IdeaLine]:
    """The week's new ideas by Wilson lower bound (ties: more votes, then older first)."""
    scored = [_with_score(i, wilson_lower_bound(i.upvotes, i.downvotes)) for i in ideas if i.upvotes > 0]
    scored.sort(key=lambda i: (-i.score, -(i.upvotes + i.downvotes), i.number))
    return scored[:limit]


def velocity(recent: int, earlier: int, earlier_days: float, window_days: float = 7.0) -> float:
    """How much faster an idea gathered votes this week than before: (recent + 1) / (expected + 1),
    where expected is the earlier daily rate over `window_days` (an idea's earlier life counts at
    least one window, so a young idea with a handful of votes does not look explosive)."""
    expected = earlier / max(earlier_days, window_days) * window_days
    return (recent + 1) / (expected + 1)


def trending_ideas(
    activity: Sequence[VoteActivity],
    period: Period,
    exclude: set[int] | frozenset[int] = frozenset(),
    limit: int = TOP_LIMIT,
) -> list[IdeaLine]:
    """Older ideas whose votes picked up this week (new ideas are in `top_new`)."""
    found = []
    for item in activity:
        idea = item.idea
        if idea.id in exclude or item.recent < TRENDING_MIN_RECENT or idea.created_at is None:
            continue
        if idea.created_at >= period.start:
            continue
        earlier_days = (period.start - idea.created_at).total_seconds() / 86400
        score = velocity(item.recent, item.earlier, earlier_days)
        if score <= 1.0:
            continue
        note = _("{recent} votes this week, {score:.1f}× its earlier pace").format(recent=item.recent, score=score)
        found.append(_with_score(idea, score, note))
    found.sort(key=lambda i: (-i.score, i.number))
    return found[:limit]


def stage_requirement(stages: Sequence[Stage], number: int) -> str:
    """'10 upvotes within 30 days' for stage `number` of the guild's stages (the wording of
    bot.domain.programmes.describe_stages); empty when the guild no longer has that stage."""
    for stage in stages:
        if stage.number == number:
            return _("{votes} upvotes within {days} days").format(votes=stage.votes, days=stage.days)
    return ""


def crossing_line(idea: IdeaLine, stage: int, votes: int, at: datetime, stages: Sequence[Stage]) -> CrossingLine:
    line = CrossingLine(idea, stage, votes, at, stage_requirement(stages, stage))
    return replace(line, idea=_with_score(idea, stage, line.describe()))


def dated_note(idea: IdeaLine, what: str, at: datetime, timezone: str = DEFAULT_TIMEZONE) -> IdeaLine:
    """The idea with a note such as 'archived Wed 12 Feb' (the day in the guild's zone)."""
    return _with_score(idea, idea.score, f"{what} {when(at.astimezone(zone(timezone)), '%a %d %b', 'MMMEd')}")


def _with_score(idea: IdeaLine, score: float, note: str = "") -> IdeaLine:
    return replace(idea, score=score, note=note or idea.note)


def fill_days(
    period: Period, timezone: str, ideas_by_day: dict[int, int], votes_by_day: dict[int, int]
) -> list[DayCount]:
    """Seven local days, zero-filled; the dicts are keyed by day index 0-6."""
    return [
        DayCount(period.week.monday + timedelta(days=i), ideas_by_day.get(i, 0), votes_by_day.get(i, 0))
        for i in range(7)
    ]


def waiting_note(idea: IdeaLine, since: datetime, now: datetime) -> IdeaLine:
    days = max(0, math.floor((now - since).total_seconds() / 86400))
    return _with_score(idea, days, _("waiting {days} days").format(days=days))
