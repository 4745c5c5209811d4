"""A model's inference backend, read from ``metadata["labeldesk"]`` (docs/models.md): which protocol,
where, under which name, with which token and timeout. Pure: validation and redaction, no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from labeldesk.domain import errors

BACKENDS = ("oip", "ls-ml", "builtin")
BUILTIN_MODELS = ("face-detection",)
KEY = "labeldesk"
FIELDS = ("backend", "url", "model_name", "token", "timeout_s", "max_concurrency")
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 300.0
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64


@dataclass(frozen=True)
class Binding:
    backend: str
    url: str = ""
    model_name: str = ""
    token: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_concurrency: int = DEFAULT_CONCURRENCY  # calls in flight to this binding, across jobs and replicas

    def version_key(self) -> str:
        """What identifies the binding: a new one makes a new model version."""
        return f"{self.backend}|{self.url}|{self.model_name}"


def version_id(binding: Binding | None) -> str:
    """The id of the model version a binding makes (stable: the same binding, the same id)."""
    key = binding.version_key() if binding is not None else "unbound"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def parse(metadata: dict[str, Any] | None, where: str = "model.metadata") -> Binding | None:
    """The binding in ``metadata`` (None when it has no ``labeldesk`` block); ApiError naming the
    field when it is malformed."""
    block = (metadata or {}).get(KEY)
    if block is None:
        return None
    w = f"{where}.{KEY}"
    if not isinstance(block, dict):
        raise errors.invalid(f"{w}: give an object with {', '.join(FIELDS)}")
    unknown = sorted(set(block) - set(FIELDS))
    if unknown:
        raise errors.invalid(
            f"{w}: unknown field(s) {', '.join(unknown)}", f"known fields: {', '.join(FIELDS)}"
        )
    backend = block.get("backend")
    if backend not in BACKENDS:
        raise errors.invalid(f"{w}.backend: give one of {', '.join(BACKENDS)}, not {backend!r}")
    for f in ("url", "model_name", "token"):
        if not isinstance(block.get(f, ""), str):
            raise errors.invalid(f"{w}.{f}: give a string")
    url = block.get("url", "").rstrip("/")
    name = block.get("model_name", "")
    timeout = block.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise errors.invalid(f"{w}.timeout_s: give a number of seconds in (0, {MAX_TIMEOUT_S:g}]")
    slots = block.get("max_concurrency", DEFAULT_CONCURRENCY)  # JSON numbers arrive as floats
    whole = isinstance(slots, int | float) and not isinstance(slots, bool) and float(slots).is_integer()
    if not whole or not 1 <= slots <= MAX_CONCURRENCY:
        raise errors.invalid(
            f"{w}.max_concurrency: give a whole number of calls in flight in [1, {MAX_CONCURRENCY}]",
            f"default {DEFAULT_CONCURRENCY}",
        )
    if backend in ("oip", "ls-ml") and not url.startswith(("http://", "https://")):
        raise errors.invalid(f"{w}.url: give the backend's http(s) base URL, e.g. http://127.0.0.1:9090")
    if backend == "oip" and not name:
        raise errors.invalid(f"{w}.model_name: give the model's name on the inference server")
    if backend == "builtin":
        name = name or BUILTIN_MODELS[0]
        if name not in BUILTIN_MODELS:
            raise errors.invalid(f"{w}.model_name: built-in models are {', '.join(BUILTIN_MODELS)}")
    return Binding(backend, url, name, block.get("token", ""), float(timeout), int(slots))


def merge(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata after a patch: ``new`` replaces ``old``, but a ``labeldesk`` block without a
    ``token`` keeps the stored one (clients never see it, so they cannot send it back)."""
    if new is None:
        return old
    out = dict(new)
    old_block = (old or {}).get(KEY)
    block = out.get(KEY)
    if (
        isinstance(block, dict)
        and isinstance(old_block, dict)
        and "token" not in block
        and old_block.get("token")
    ):
        out[KEY] = {**block, "token": old_block["token"]}
    return out


def redacted(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata as the API answers it: the backend token replaced by ``token_set``."""
    if not metadata or not isinstance(metadata.get(KEY), dict):
        return metadata
    block = dict(metadata[KEY])
    token = block.pop("token", "")
    block["token_set"] = bool(token)
    return {**metadata, KEY: block}
