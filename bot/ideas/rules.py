"""Ideas, their lifecycle and the limits on what members may write. Pure: no discord, no SQL."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.i18n import N_, _


class Status(StrEnum):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    DECLINED = "declined"
    DUPLICATE = "duplicate"
    # Not settable by moderators: the author withdrew the idea.
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return _(STATUS_LABELS[self])

    @property
    def closes_voting(self) -> bool:
        return self in CLOSED_STATUSES


STATUS_LABELS = {
    Status.OPEN: N_("Open"),
    Status.UNDER_REVIEW: N_("Under review"),
    Status.PLANNED: N_("Planned"),
    Status.IN_PROGRESS: N_("In progress"),
    Status.IMPLEMENTED: N_("Implemented"),
    Status.DECLINED: N_("Declined"),
    Status.DUPLICATE: N_("Duplicate"),
    Status.WITHDRAWN: N_("Withdrawn"),
}
# The reason a merge gives the duplicate: stored in English (it is data), shown in the reader's
# language by `shown_reason`.
MERGED_REASON = N_("Merged into #{number}")
_MERGED = re.compile(r"Merged into #(\d+)")


def merged_reason(number: int) -> str:
    return MERGED_REASON.format(number=number)


def shown_reason(reason: str) -> str:
    """A status reason as the reader sees it: the bot's own merge note in their language; a
    moderator's words exactly as written."""
    match = _MERGED.fullmatch(reason)
    return _(MERGED_REASON).format(number=match.group(1)) if match else reason


MODERATOR_STATUSES = tuple(s for s in Status if s is not Status.WITHDRAWN)
CLOSED_STATUSES = frozenset({Status.IMPLEMENTED, Status.DECLINED, Status.DUPLICATE, Status.WITHDRAWN})

TITLE_MIN, TITLE_MAX = 4, 100
DETAILS_MIN, DETAILS_MAX = 10, 2000
CATEGORY_MAX = 40
REASON_MAX = 500
QUERY_MAX = 100
# Modal fields are joined into the details; each field has its own cap so the sum fits.
MODAL_FIELD_MAX = 600


class IdeaRuleError(ValueError):
    """Input that breaks a rule; the message is shown to the member as it is."""


# Characters that render as nothing or as blank space: format characters (zero-width space and
# joiners, word joiner, BOM, bidi marks, tags), separators and controls by category, plus the
# letters and symbols that are blank by design (Hangul fillers, Braille blank, Khmer inherent
# vowels, the combining grapheme joiner). Combining marks show only on a visible base.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
_MARK_CATEGORIES = frozenset({"Mn", "Me"})
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")


def is_visible(char: str) -> bool:
    """Whether `char` shows on its own (a combining mark needs a base, so it does not)."""
    category = unicodedata.category(char)
    return char not in _BLANK_CHARACTERS and category not in _INVISIBLE_CATEGORIES | _MARK_CATEGORIES


def visible_length(text: str) -> int:
    """How many characters of `text` a reader actually sees: marks count on a visible base, so
    scripts written with combining vowel signs count as before, and a run of spaces between two
    visible words counts as one (leading, trailing and invisible characters count nothing)."""
    count = 0
    on_base = False
    space_between = False
    for char in text:
        if is_visible(char):
            count += 1 + space_between
            on_base, space_between = True, False
        elif on_base and unicodedata.category(char) in _MARK_CATEGORIES and char not in _BLANK_CHARACTERS:
            count += 1
        else:
            space_between = space_between or (char.isspace() and count > 0)
            on_base = False
    return count


# One whole sentence per field, so each language can phrase it (and inflect the field's name).
_NO_VISIBLE_TEXT = {
    "title": N_("The title has no visible text: whitespace, zero-width and other invisible characters do not count."),
    "details": N_(
        "The details has no visible text: whitespace, zero-width and other invisible characters do not count."
    ),
    "category": N_(
        "The category has no visible text: whitespace, zero-width and other invisible characters do not count."
    ),
    "reason": N_("The reason has no visible text: whitespace, zero-width and other invisible characters do not count."),
    "challenge title": N_(
        "The challenge title has no visible text: whitespace, zero-width and other invisible characters do not count."
    ),
    "brief": N_("The brief has no visible text: whitespace, zero-width and other invisible characters do not count."),
    "award": N_("The award has no visible text: whitespace, zero-width and other invisible characters do not count."),
    "terms text": N_(
        "The terms text has no visible text: whitespace, zero-width and other invisible characters do not count."
    ),
}


def require_visible(text: str, what: str) -> None:
    """Refuse text that would be stored and shown as nothing (e.g. only zero-width spaces).
    `what` names the field: a key of _NO_VISIBLE_TEXT."""
    if visible_length(text) == 0:
        raise IdeaRuleError(_(_NO_VISIBLE_TEXT[what]))


@dataclass(frozen=True, slots=True)
class IdeaDraft:
    title: str
    details: str
    category: str | None = None


@dataclass(slots=True)
class Idea:
    id: int
    guild_id: int
    number: int
    author_id: int
    title: str
    body: str
    category: str | None
    status: Status
    status_reason: str | None
    channel_id: int | None
    message_id: int | None
    thread_id: int | None
    upvotes: int
    downvotes: int
    merged_into: int | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    coauthor_ids: list[int] = field(default_factory=list)
    # Co-authors credited through an anonymous idea (a merged anonymous duplicate): shown to
    # moderators and themselves only (bot/ideas/privacy.py).
    anonymous_coauthor_ids: list[int] = field(default_factory=list)
    # Innovation programmes: the challenge it answers, the contribution terms it was
    # submitted under, whether the card hides the author, and the programme's closing marks.
    challenge_id: int | None = None
    terms_version: str | None = None
    anonymous: bool = False
    archived_at: datetime | None = None
    expired_at: datetime | None = None

    @property
    def score(self) -> int:
        return self.upvotes - self.downvotes

    @property
    def voting_closed(self) -> bool:
        """Closed by its status, or archived / expired (both can be undone by a moderator)."""
        return self.status.closes_voting or self.archived_at is not None or self.expired_at is not None


def validate_draft(title: str, details: str, category: str | None = None) -> IdeaDraft:
    """Check lengths (the minimums count visible characters); keep the text exactly as given apart
    from surrounding whitespace."""
    title = title.strip()
    details = details.strip()
    category = (category or "").strip() or None
    require_visible(title, "title")
    require_visible(details, "details")
    if category is not None:
        require_visible(category, "category")
    if visible_length(title) < TITLE_MIN:
        raise IdeaRuleError(
            _("The title is too short: at least {title_min} characters, please.").format(title_min=TITLE_MIN)
        )
    if len(title) > TITLE_MAX:
        raise IdeaRuleError(
            _("The title is too long: {length} characters, the limit is {title_max}.").format(
                length=len(title), title_max=TITLE_MAX
            )
        )
    if "\n" in title:
        raise IdeaRuleError(_("The title must be a single line."))
    if visible_length(details) < DETAILS_MIN:
        raise IdeaRuleError(
            _("The details are too short: at least {details_min} characters, please.").format(details_min=DETAILS_MIN)
        )
    if len(details) > DETAILS_MAX:
        raise IdeaRuleError(
            _("The details are too long: {length} characters, the limit is {details_max}.").format(
                length=len(details), details_max=DETAILS_MAX
            )
        )
    if category is not None and len(category) > CATEGORY_MAX:
        raise IdeaRuleError(
            _("The category is too long: the limit is {category_max} characters.").format(category_max=CATEGORY_MAX)
        )
    return IdeaDraft(title=title, details=details, category=category)


def compose_details(problem: str, proposal: str, who_benefits: str) -> str:
    """The modal's guided fields (a toolkit for stating an idea concretely) as one text."""
    parts = [("Problem", problem), ("Proposal", proposal), ("Who benefits", who_benefits)]
    return "\n\n".join(f"**{name}**\n{text.strip()}" for name, text in parts if text and text.strip())


def validate_reason(status: Status, reason: str | None) -> str | None:
    reason = (reason or "").strip() or None
    if status is Status.DECLINED and reason is None:
        raise IdeaRuleError(_("Declining an idea needs a reason: the author and supporters deserve to know why."))
    if reason is not None and not visible_length(reason):
        if status is Status.DECLINED:
            raise IdeaRuleError(
                _("Declining an idea needs a reason with visible text: the author and supporters deserve to know why.")
            )
        require_visible(reason, "reason")
    if reason is not None and len(reason) > REASON_MAX:
        raise IdeaRuleError(
            _("The reason is too long: the limit is {reason_max} characters.").format(reason_max=REASON_MAX)
        )
    return reason


def parse_status(value: str) -> Status:
    try:
        status = Status(value.strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in MODERATOR_STATUSES)
        raise IdeaRuleError(
            _("Unknown status '{value}'. Use one of: {names}.").format(value=value, names=names)
        ) from None
    if status is Status.WITHDRAWN:
        raise IdeaRuleError(_("Only the author can withdraw an idea."))
    return status
