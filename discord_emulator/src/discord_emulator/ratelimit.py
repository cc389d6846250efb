"""Per-route rate-limit buckets that answer with Discord's headers.

Discord keys a bucket by route and its "major parameter" (channel, guild or webhook). The window
starts with the first request and resets after `per` seconds; every limited answer carries the
X-RateLimit-* headers that discord.py's own limiter reads.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    requests: int
    per: float


@dataclass
class EmulatorLimits:
    """Route limits, defaulting to what Discord serves a bot today."""

    message_create: Limit = field(default_factory=lambda: Limit(5, 5.0))
    message_edit: Limit = field(default_factory=lambda: Limit(5, 5.0))
    message_delete: Limit = field(default_factory=lambda: Limit(5, 1.0))
    reaction: Limit = field(default_factory=lambda: Limit(1, 0.25))
    role_change: Limit = field(default_factory=lambda: Limit(10, 10.0))
    enabled: bool = True


# (method, path template) -> (EmulatorLimits attribute, major parameter name)
LIMITED_ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/channels/{channel_id}/messages"): ("message_create", "channel_id"),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): ("message_edit", "channel_id"),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}"): ("message_delete", "channel_id"),
    ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"): ("reaction", "channel_id"),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"): ("reaction", "channel_id"),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/{user_id}"): (
        "reaction",
        "channel_id",
    ),
    ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"): ("role_change", "guild_id"),
    ("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"): ("role_change", "guild_id"),
}


@dataclass
class Bucket:
    limit: Limit
    hash: str
    remaining: int
    reset_at: float  # monotonic


@dataclass
class RateLimitDecision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0


@dataclass
class RateLimitStats:
    rate_limited: int = 0
    by_route: Counter[str] = field(default_factory=Counter)


class RateLimiter:
    def __init__(self, limits: EmulatorLimits) -> None:
        self.limits = limits
        self.stats = RateLimitStats()
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def check(self, method: str, template: str, params: dict[str, str]) -> RateLimitDecision | None:
        """Counts one request; None when the route is not limited."""
        route = LIMITED_ROUTES.get((method, template))
        if route is None or not self.limits.enabled:
            return None
        limit_name, major_param = route
        limit: Limit = getattr(self.limits, limit_name)
        key = (limit_name, params.get(major_param, ""))
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.reset_at:
            bucket_hash = hashlib.sha1(limit_name.encode(), usedforsecurity=False).hexdigest()[:16]
            bucket = Bucket(limit=limit, hash=bucket_hash, remaining=limit.requests, reset_at=now + limit.per)
            self._buckets[key] = bucket
        reset_after = max(bucket.reset_at - now, 0.0)
        allowed = bucket.remaining > 0
        if allowed:
            bucket.remaining -= 1
        headers = {
            "X-RateLimit-Limit": str(limit.requests),
            "X-RateLimit-Remaining": str(bucket.remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket.hash,
        }
        if not allowed:
            self.stats.rate_limited += 1
            self.stats.by_route[f"{method} {template}"] += 1
            headers["Retry-After"] = str(max(1, round(reset_after + 0.5)))
            headers["X-RateLimit-Scope"] = "user"
            headers["Via"] = "1.1 google"
        return RateLimitDecision(allowed=allowed, headers=headers, retry_after=reset_after)
