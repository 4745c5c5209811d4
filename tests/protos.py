"""Protos and hypothesis strategies for protos that the JSON tests share."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import struct_pb2
from hypothesis import strategies as st

ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=12
)
"""Client-supplied ids."""
f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_json_scalar = st.one_of(
    st.none(), st.booleans(), st.text(max_size=8), st.floats(allow_nan=False, allow_infinity=False, width=32)
)
_json = st.recursive(
    _json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def structs(draw: st.DrawFn) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(draw(st.dictionaries(st.text(max_size=6), _json, max_size=3)))
    return message


def annotation(value: float = 0.0) -> resources_pb2.Annotation:
    """An annotation with one concept of ``value`` and a box whose coordinates are mostly 0."""
    return resources_pb2.Annotation(
        id="an1",
        data=resources_pb2.Data(
            concepts=[resources_pb2.Concept(id="cat", value=value)],
            regions=[
                resources_pb2.Region(
                    region_info=resources_pb2.RegionInfo(
                        bounding_box=resources_pb2.BoundingBox(right_col=0.5)
                    )
                )
            ],
        ),
    )
