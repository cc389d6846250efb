"""Innovation-programme rules: support thresholds with deadlines, expiry, archiving, challenges
and contribution terms. Pure: no discord, no SQL; every function takes the time it needs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.i18n import _
from bot.ideas.ranking import Rankable, Sort, rank
from bot.ideas.rules import IdeaRuleError, Status, is_visible, require_visible, visible_length


@dataclass(frozen=True, slots=True)
class Stage:
    """Reach `votes` upvotes within `days` of the idea's support window start (its submission,
    or the moment a moderator revived it)."""

    number: int
    votes: int
    days: int

    def deadline(self, window_start: datetime) -> datetime:
        return window_start + timedelta(days=self.days)


# LEGO Ideas style: a first bar soon after submission, a higher one later.
DEFAULT_STAGES: tuple[Stage, ...] = (Stage(1, 10, 30), Stage(2, 25, 60))
DEFAULT_ARCHIVE_DAYS = 180
MAX_STAGES = 5
MAX_STAGE_VOTES = 100_000
MAX_STAGE_DAYS = 3650
ARCHIVE_DAYS_MIN, ARCHIVE_DAYS_MAX = 7, 3650

# Only ideas still waiting for the firm's answer follow the threshold track or get archived.
TRACKED_STATUSES = frozenset({Status.OPEN, Status.UNDER_REVIEW})

_STAGE_TEXT = re.compile(r"^(\d{1,6})\s*/\s*(\d{1,4})$")


def format_stages(stages: Sequence[Stage]) -> str:
    """The compact form moderators type: '10/30 25/60' (votes/days)."""
    return " ".join(f"{s.votes}/{s.days}" for s in stages)


def describe_stages(stages: Sequence[Stage]) -> str:
    return _(", then ").join(_("{votes} 👍 within {days} days").format(votes=s.votes, days=s.days) for s in stages)


def parse_stages(text: str) -> tuple[Stage, ...]:
    """'10/30 25/60' → two stages. Votes and days must both grow from stage to stage."""
    parts = [p for p in re.split(r"[\s,;]+", re.sub(r"\s*/\s*", "/", text.strip())) if p]
    if not parts:
        raise IdeaRuleError(_("Give at least one stage as votes/days, e.g. `10/30 25/60`."))
    if len(parts) > MAX_STAGES:
        raise IdeaRuleError(_("At most {max_stages} stages, please.").format(max_stages=MAX_STAGES))
    stages: list[Stage] = []
    for index, part in enumerate(parts, start=1):
        match = _STAGE_TEXT.match(part)
        if match is None:
            raise IdeaRuleError(
                _("'{value}' is not a stage: write votes/days, e.g. `10/30 25/60`.").format(value=part[:40])
            )
        votes, days = int(match.group(1)), int(match.group(2))
        if not 1 <= votes <= MAX_STAGE_VOTES:
            raise IdeaRuleError(
                _("Stage {index}: the votes must be between 1 and {max_stage_votes}.").format(
                    index=index, max_stage_votes=MAX_STAGE_VOTES
                )
            )
        if not 1 <= days <= MAX_STAGE_DAYS:
            raise IdeaRuleError(
                _("Stage {index}: the days must be between 1 and {max_stage_days}.").format(
                    index=index, max_stage_days=MAX_STAGE_DAYS
                )
            )
        if stages and (votes <= stages[-1].votes or days < stages[-1].days):
            raise IdeaRuleError(
                _("Stage {index} must ask for more votes than stage {previous}, and not fewer days.").format(
                    index=index, previous=index - 1
                )
            )
        stages.append(Stage(index, votes, days))
    return tuple(stages)


def stored_stages(text: str | None) -> tuple[tuple[Stage, ...], bool]:
    """The stages a guild saved (None or empty: the defaults), and whether the saved text was
    readable. Unreadable text falls back to the defaults rather than stopping the programme."""
    if not text:
        return DEFAULT_STAGES, True
    try:
        return parse_stages(text), True
    except ValueError:
        return DEFAULT_STAGES, False


def stages_reached(
    stages: Sequence[Stage], current: int, upvotes: int, window_start: datetime, at: datetime
) -> list[Stage]:
    """The stages beyond `current` that `upvotes` reaches at `at`, each within its deadline.

    Stages are climbed in order: a stage whose deadline has passed stops the climb."""
    reached: list[Stage] = []
    for stage in stages:
        if stage.number <= current:
            continue
        if upvotes < stage.votes or at > stage.deadline(window_start):
            break
        reached.append(stage)
    return reached


def next_stage(stages: Sequence[Stage], current: int) -> Stage | None:
    for stage in stages:
        if stage.number > current:
            return stage
    return None


def has_expired(stages: Sequence[Stage], current: int, window_start: datetime, now: datetime) -> bool:
    """An idea expires when the deadline of the next stage it has not reached has passed."""
    upcoming = next_stage(stages, current)
    return upcoming is not None and now > upcoming.deadline(window_start)


def should_archive(last_activity_at: datetime, now: datetime, archive_days: int) -> bool:
    """No status change and no vote for `archive_days`."""
    return now - last_activity_at >= timedelta(days=archive_days)


def validate_archive_days(days: int) -> int:
    if not ARCHIVE_DAYS_MIN <= days <= ARCHIVE_DAYS_MAX:
        raise IdeaRuleError(
            _("Archiving needs between {archive_days_min} and {archive_days_max} days of silence.").format(
                archive_days_min=ARCHIVE_DAYS_MIN, archive_days_max=ARCHIVE_DAYS_MAX
            )
        )
    return days


# --- challenges ------------------------------------------------------------------------

CHALLENGE_TITLE_MIN, CHALLENGE_TITLE_MAX = 4, 100
CHALLENGE_BRIEF_MIN, CHALLENGE_BRIEF_MAX = 10, 2000
CHALLENGE_AWARD_MAX = 200
MAX_WINNERS = 3
# Reputation for the winning ideas' authors, by place.
WIN_POINTS: tuple[int, ...] = (15, 10, 5)
MAX_CHALLENGE_DAYS = 3 * 365

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class ChallengeDraft:
    title: str
    brief: str
    award: str | None
    deadline: datetime


def parse_deadline(text: str, now: datetime) -> datetime:
    """`YYYY-MM-DD` (the end of that day, 23:59 UTC) or `YYYY-MM-DD HH:MM` (UTC); in the future."""
    value = text.strip()
    try:
        # Exactly the two shapes the option's description names, read by the standard library.
        if not (_DATE_TIME.match(value) or _DATE.match(value)):
            raise ValueError(value)
        deadline = datetime.fromisoformat(value).replace(tzinfo=UTC)
        if _DATE.match(value):
            deadline = deadline.replace(hour=23, minute=59)
    except ValueError:
        raise IdeaRuleError(
            _("'{value}' is not a deadline: write YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC), e.g. 2026-12-31 18:00.").format(
                value=value[:40]
            )
        ) from None
    if deadline <= now:
        raise IdeaRuleError(_("The deadline must be in the future."))
    if deadline - now > timedelta(days=MAX_CHALLENGE_DAYS):
        raise IdeaRuleError(_("The deadline is too far away: at most three years."))
    return deadline


def validate_challenge(title: str, brief: str, award: str | None, deadline: str, now: datetime) -> ChallengeDraft:
    title, brief = title.strip(), brief.strip()
    award = (award or "").strip() or None
    require_visible(title, "challenge title")
    require_visible(brief, "brief")
    if award is not None:
        require_visible(award, "award")
    if visible_length(title) < CHALLENGE_TITLE_MIN or len(title) > CHALLENGE_TITLE_MAX:
        raise IdeaRuleError(
            _(
                "The challenge title needs {challenge_title_min} to {challenge_title_max} characters (it has {length})."
            ).format(
                challenge_title_min=CHALLENGE_TITLE_MIN, challenge_title_max=CHALLENGE_TITLE_MAX, length=len(title)
            )
        )
    if "\n" in title:
        raise IdeaRuleError(_("The challenge title must be a single line."))
    if visible_length(brief) < CHALLENGE_BRIEF_MIN or len(brief) > CHALLENGE_BRIEF_MAX:
        raise IdeaRuleError(
            _("The brief needs {challenge_brief_min} to {challenge_brief_max} characters (it has {length}).").format(
                challenge_brief_min=CHALLENGE_BRIEF_MIN, challenge_brief_max=CHALLENGE_BRIEF_MAX, length=len(brief)
            )
        )
    if award is not None and len(award) > CHALLENGE_AWARD_MAX:
        raise IdeaRuleError(
            _("The award is too long: the limit is {challenge_award_max} characters.").format(
                challenge_award_max=CHALLENGE_AWARD_MAX
            )
        )
    return ChallengeDraft(title, brief, award, parse_deadline(deadline, now))


def pick_winners(entries: Sequence[Rankable], limit: int = MAX_WINNERS) -> list[Rankable]:
    """The best entries by the Wilson lower bound; an entry nobody upvoted never wins."""
    return [entry for entry in rank(entries, Sort.BEST) if entry.ups > 0][:limit]


def win_points(place: int) -> int:
    """Reputation for the idea in `place` (1-based)."""
    return WIN_POINTS[place - 1] if 1 <= place <= len(WIN_POINTS) else 0


# --- contribution terms ------------------------------------------------------------------

TERMS_TEXT_MIN, TERMS_TEXT_MAX = 20, 4000
TERMS_VERSION_MAX = 32
_VERSION = re.compile(r"^[\w.\-+]+$")


def validate_terms(text: str, version: str) -> tuple[str, str]:
    text, version = text.strip(), version.strip()
    require_visible(text, "terms text")
    if visible_length(text) < TERMS_TEXT_MIN or len(text) > TERMS_TEXT_MAX:
        raise IdeaRuleError(
            _("The terms need {terms_text_min} to {terms_text_max} characters (they have {length}).").format(
                terms_text_min=TERMS_TEXT_MIN, terms_text_max=TERMS_TEXT_MAX, length=len(text)
            )
        )
    visible_version = all(map(is_visible, version))
    if not version or len(version) > TERMS_VERSION_MAX or not _VERSION.match(version) or not visible_version:
        raise IdeaRuleError(
            _(
                "The version must be 1 to {terms_version_max} letters, digits or . - + _ (no spaces), e.g. 2026-1."
            ).format(terms_version_max=TERMS_VERSION_MAX)
        )
    return text, version
