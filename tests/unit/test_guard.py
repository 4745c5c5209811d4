"""The REST guard's memory of keys that passed: one lookup per key per window, failures never kept."""

from __future__ import annotations

import asyncio

import pytest

from labeldesk.domain import errors
from labeldesk.transport.rest.guard import RecentKeys


def test_a_valid_key_is_checked_once_per_window_and_a_bad_one_every_time() -> None:
    calls: list[str | None] = []

    def check(authorization: str | None) -> None:
        calls.append(authorization)
        if not (authorization or "").startswith("Key good"):
            raise errors.ApiError(errors.KEY_INVALID, "no such key")

    async def scenario() -> None:
        keys = RecentKeys(check, seconds=60, size=2)
        for _ in range(3):
            await keys.admit("Key good")
            with pytest.raises(errors.ApiError):
                await keys.admit("Key bad")
        assert calls == ["Key good", "Key bad", "Key bad", "Key bad"]
        for n in range(5):  # more keys than the memory holds: it forgets, never grows
            await keys.admit(f"Key good{n}")
        assert len(keys._until) <= 2
        expired = RecentKeys(check, seconds=0)
        await expired.admit("Key good")
        await expired.admit("Key good")
        assert calls[-2:] == ["Key good", "Key good"]

    asyncio.run(scenario())
