"""The adapter for a model's binding."""

from __future__ import annotations

from labeldesk.domain.model_binding import Binding
from labeldesk.models.base import Adapter


def adapter_for(binding: Binding, labels: list[str]) -> Adapter:
    """The adapter that speaks ``binding``'s protocol; ``labels``: the model's concepts in order."""
    if binding.backend == "oip":
        from labeldesk.models.oip import OipAdapter

        return OipAdapter(binding.url, binding.model_name, labels, binding.token, binding.timeout_s)
    if binding.backend == "ls-ml":
        from labeldesk.models.lsml import LsMlAdapter

        return LsMlAdapter(binding.url, labels, binding.token, binding.timeout_s)
    from labeldesk.models.builtin_face import FaceAdapter  # OpenCV loads only when a model needs it

    return FaceAdapter()
