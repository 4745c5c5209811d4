"""A call waiting on a model server gives its database turn to other calls
(``LABELDESK_DB_CONCURRENCY``, storage/unit_turns.py): with one turn per process, a
PostModelOutputs whose backend has not answered yet does not hold up the rest of the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import service_pb2, service_pb2_grpc

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from tests.api.test_models import png_input, post_model, predict
from tests.helpers import AppFixture, ok
from tests.model_servers import model_server
from tests.models.test_task_models import Gate

WAIT = 30.0  # seconds: only a broken server makes the test wait this long


@pytest.fixture(scope="module")
def one_turn(database_url: str) -> Iterator[RunningServer]:
    """A server over the session's database that runs one unit of work at a time (PostgreSQL)."""
    running = RunningServer(
        build(database_url, settings=Settings(db_concurrency=1)), "127.0.0.1", 0, 0
    ).start()
    yield running
    running.stop()


def test_a_call_waiting_on_its_model_does_not_hold_up_the_others(
    grpc_stub: Any, one_turn: RunningServer, app: AppFixture
) -> None:
    stub = service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=one_turn.grpc_port)
    )
    gate = Gate()
    with model_server(gate.answer) as server:
        ok(
            post_model(
                grpc_stub, app, "slow", ["cat", "dog"], backend="oip", url=server.url, model_name="pets"
            )
        )
        answers: list[Any] = []
        waiting = threading.Thread(target=lambda: answers.append(predict(stub, app, "slow", png_input())))
        waiting.start()
        try:
            for _ in range(int(WAIT * 100)):
                if server.in_flight:
                    break
                threading.Event().wait(0.01)
            assert server.in_flight == 1, "the model server got the call"
            listed = stub.ListInputs(
                service_pb2.ListInputsRequest(user_app_id=app.uai), metadata=app.meta, timeout=10
            )
            ok(listed)
            assert not answers, "answered while the model call still waited for its backend"
        finally:
            gate.open()
            waiting.join(WAIT)
    assert len(answers) == 1
    ok(answers[0])
