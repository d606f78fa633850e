"""`core.page_of`: a numbered page of the mem0 dialects, read through the store's own pages."""

from __future__ import annotations

import pytest

from memio import Memio
from memio.server.mem0_api import core
from memio.server.mem0_api.filters import Translation


@pytest.mark.parametrize("size", [1, 3, 7, 10])
async def test_every_numbered_page_is_its_slice_of_the_listing(embedder, monkeypatch, size):
    monkeypatch.setattr(core, "MAX_LIMIT", 4)  # the pages before are skipped in steps of 4
    async with Memio.in_memory(embedder=embedder) as memio:
        await memio.facts.add_many(
            facts=[{"content": f"fact number {i}", "user_id": "u"} for i in range(23)]
        )
        await memio.facts.add(content="someone else's", user_id="v")
        listing = [fact.id for fact in await memio.facts.get_all(user_id="u", limit=100)]
        translation = Translation(scope={"user_id": "u"})
        for page in range(1, 23 // size + 3):
            found, total = await core.page_of(memio.facts, translation, page=page, size=size)
            assert total == 23
            start = (page - 1) * size
            assert [fact.id for fact in found] == listing[start : start + size], page
