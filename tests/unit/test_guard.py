"""The REST guard's memory of keys that passed: one lookup per key per window, failures never kept."""

from __future__ import annotations

import asyncio
import json

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


def test_a_failing_key_check_answers_try_again_in_the_clarifai_shape() -> None:
    from starlette.applications import Starlette

    from labeldesk.transport.rest.guard import BodyGuard

    def broken(_authorization: str | None) -> None:
        raise OSError("database unreachable")

    guard = BodyGuard(Starlette(), check_key=broken, max_body_bytes=1024)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        raise AssertionError("the body must not be read")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v2/inputs",
        "headers": [(b"content-length", b"10"), (b"authorization", b"Key x")],
    }
    asyncio.run(guard(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 503
    status = json.loads(sent[1]["body"])["status"]  # type: ignore[arg-type]
    assert status["code"] == errors.TRY_AGAIN and "cannot check keys" in status["description"]
