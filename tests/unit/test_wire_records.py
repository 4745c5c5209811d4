"""``wire.records``: varints and length-delimited records as the protobuf serializer writes them."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import wrappers_pb2
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.wire.records import record, tag, varint

_ID = tag(resources_pb2.Concept.DESCRIPTOR, "id")


@given(st.integers(min_value=1, max_value=2**64 - 1) | st.sampled_from([127, 128, 16_383, 16_384]))
def test_varint_is_the_serializers(n: int) -> None:
    # a UInt64Value holding n is its field's tag (field 1, varint: 0x08) and n's varint
    assert b"\x08" + varint(n) == wrappers_pb2.UInt64Value(value=n).SerializeToString()


@given(st.text(min_size=1, max_size=20_000))
def test_record_is_the_serializers(text: str) -> None:
    assert record(_ID, text.encode()) == resources_pb2.Concept(id=text).SerializeToString()
