from bot.testing import Community


async def test_submit_posts_a_card_with_reactions_and_thread(community: Community) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    assert card.embeds[0]["title"] == "#1 Dark mode"
    assert sorted(card.reactions) == sorted(["👍", "👎"])
    assert c.emu.thread_of(card) is not None
