"""The REST guard: keys known a moment ago need no lookup, failures are looked up every time, and a
broken key check answers TRY_AGAIN."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette

from labeldesk.domain import errors
from labeldesk.transport.rest.guard import BodyGuard


def test_a_key_known_a_moment_ago_needs_no_lookup_and_a_bad_one_is_looked_up_every_time() -> None:
    """The window itself, its bound and its forgetting are the KeyCache's (test_key_cache.py)."""
    calls: list[str | None] = []
    known: set[str | None] = set()

    def check(authorization: str | None) -> None:
        calls.append(authorization)
        if not (authorization or "").startswith("Key good"):
            raise errors.ApiError(errors.KEY_INVALID, "no such key")
        known.add(authorization)  # what the authenticator's KeyCache does on a good lookup

    guard = BodyGuard(Starlette(), check_key=check, max_body_bytes=1024, known=known.__contains__)

    async def scenario() -> None:
        for _ in range(3):
            await guard._admit("Key good")
            with pytest.raises(errors.ApiError):
                await guard._admit("Key bad")
        assert calls == ["Key good", "Key bad", "Key bad", "Key bad"]

    asyncio.run(scenario())


def test_a_failing_key_check_answers_try_again_in_the_clarifai_shape() -> None:
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
