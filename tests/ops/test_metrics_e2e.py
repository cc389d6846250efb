"""End-to-end: after members submit and vote and a moderator acts, /metrics (Prometheus text
format, scraped over HTTP) shows the counters moved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.testing import (
    Community,
    running_community,
)
from discord_emulator import DiscordEmulator


@pytest.fixture
async def measured(emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[Community]:
    async with running_community(
        emulator, tmp_path, ["alice", "bob", "carol", "dave"], metrics_address="127.0.0.1:0"
    ) as c:
        yield c


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(c: Community) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert c.bot.metrics.port is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{c.bot.metrics.port}/metrics")
    assert answer.status_code == 200
    return samples(answer.text)


async def test_metrics_move_after_a_community_flow(measured: Community) -> None:
    c = measured
    before = await scrape(c)
    assert before[("ideabot_votes_ingested_total", ())] == 0
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    for member in (c.bob, c.carol, c.dave):
        await member.react(card, "👍")
    await c.bob.run("/idea show", id=999)  # refused: no such idea
    await c.mod.run("/ideamod status", id=1, status="planned")
    await c.settle()

    after = await scrape(c)
    assert after[("ideabot_votes_ingested_total", ())] >= 3
    assert after[("ideabot_vote_batch_seconds_count", ())] >= 1
    assert after[("ideabot_interactions_total", (("command", "idea submit"), ("outcome", "ok")))] == 1
    assert after[("ideabot_interactions_total", (("command", "idea show"), ("outcome", "refused")))] == 1
    assert after[("ideabot_interactions_total", (("command", "ideamod status"), ("outcome", "ok")))] == 1
    assert after[("ideabot_interaction_ack_seconds_count", ())] >= 3
    assert after[("ideabot_card_edits_total", ())] >= 1
    assert after[("ideabot_gateway_sessions_total", (("kind", "ready"),))] == 1
    assert after[("ideabot_discord_requests_total", (("method", "POST"), ("status", "200")))] >= 1
    assert ("ideabot_discord_rate_limited_total", ()) not in after  # no route was ever limited
    assert after[("ideabot_dms_sent_total", ())] >= 1  # the author heard about "planned"
    assert after[("ideabot_digests_posted_total", ())] == 0
