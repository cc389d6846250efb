"""Webhooks for the firm's tools, the pure part: event names, JSON bodies (what the public may
see of an idea: bot/ideas/privacy.py), signatures, retry times and which addresses a webhook
may reach. The JSON Schema of every body is in docs/webhooks.md."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from bot.i18n import _
from bot.ideas.privacy import PUBLIC, credit
from bot.ideas.rules import Idea

EVENTS = ("idea.created", "idea.status_changed", "idea.merged", "idea.stage_reached", "digest.posted")
URL_MAX = 500
SIGNATURE_HEADER = "X-Ideabot-Signature"
# Retries: 30 s, 1 min, 2 min, ... doubling up to an hour between attempts.
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)


class WebhookRuleError(ValueError):
    """A webhook URL or event list that is refused; the message is shown to the moderator."""


def parse_events(text: str | None) -> tuple[str, ...]:
    """Event names separated by spaces or commas; none given means every event."""
    if text is None or not text.strip():
        return EVENTS
    names = [name for name in text.replace(",", " ").split() if name]
    unknown = [name for name in names if name not in EVENTS]
    if unknown:
        raise WebhookRuleError(
            _("Unknown event `{value}`. Events: {events}.").format(value=unknown[0][:40], events=", ".join(EVENTS))
        )
    return tuple(dict.fromkeys(names))


def check_url(url: str, allow_private: bool) -> str:
    """The URL's host, if its form is acceptable (the addresses it resolves to are checked apart)."""
    if len(url) > URL_MAX:
        raise WebhookRuleError(_("The URL is too long (at most {url_max} characters).").format(url_max=URL_MAX))
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise WebhookRuleError(_("That is not a valid URL.")) from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise WebhookRuleError(_("Webhook URLs must start with https://."))
    if not host or parts.username is not None or parts.password is not None or any(c.isspace() for c in url):
        raise WebhookRuleError(_("That is not a valid URL (it needs a host and no user name or spaces)."))
    return host


def address_allowed(address: str, allow_private: bool) -> bool:
    """A public unicast address (or anything, when private addresses are allowed)."""
    if allow_private:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1, 2, ...)."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def idea_payload(idea: Idea) -> dict[str, Any]:
    """An idea as anyone may see it: the people behind it anonymously are left out (counted)."""
    people = credit(idea, PUBLIC)
    return {
        "number": idea.number,
        "title": idea.title,
        "details": idea.body,
        "category": idea.category,
        "status": idea.status.value,
        "status_reason": idea.status_reason,
        "upvotes": idea.upvotes,
        "downvotes": idea.downvotes,
        "authors": [str(person) for person in people.shown],
        "anonymous_authors": people.hidden,
        "url": (
            f"https://discord.com/channels/{idea.guild_id}/{idea.channel_id}/{idea.message_id}"
            if idea.channel_id and idea.message_id
            else None
        ),
        "created_at": _iso(idea.created_at),
    }


def envelope(event: str, key: str, guild_id: int, at: datetime, data: dict[str, Any]) -> str:
    body = {"id": key, "event": event, "guild_id": str(guild_id), "occurred_at": _iso(at), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
