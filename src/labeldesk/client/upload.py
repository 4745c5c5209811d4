"""An archive sent with the Uploads API: PostUploads, then PutUploadContentParts of at most
8 MiB each (a part that fails for a moment is sent again, harmlessly: the server takes a repeated
part with the same bytes), until the server says UPLOAD_DONE."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path

import pybase64
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from labeldesk.client.errors import RemoteError
from labeldesk.client.rest import Remote

PART_BYTES = 8 * 1024 * 1024


def send_part(remote: Remote, upload_id: str, number: int, start: int, data: bytes) -> resources_pb2.Upload:
    """One part (sent again by :meth:`Remote.call` if it fails for a moment: the server takes a
    repeated part with the same bytes as the same part)."""
    return remote.put_upload_content_part(upload_id, number, start, pybase64.b64encode(data))


def upload_file(
    remote: Remote,
    path: Path,
    sent: Callable[[int], None],
    part_bytes: int = PART_BYTES,
) -> resources_pb2.Upload:
    """Upload ``path`` under its file name; ``sent(n)`` after each part of ``n`` bytes. The
    finished upload (UPLOAD_DONE)."""
    size = path.stat().st_size
    # the id is made here, so that an upload stopped before PostUploads answers can be deleted too
    upload_id = uuid.uuid4().hex
    try:
        upload = remote.post_uploads(path.name, size, upload_id)
        with path.open("rb") as f:
            for number, start in enumerate(range(0, size, part_bytes), start=1):
                data = f.read(part_bytes)
                upload = send_part(remote, upload.id, number, start, data)
                sent(len(data))
    except BaseException:  # Ctrl-C, or a part that failed for good: the server need not keep the rest
        _forget(remote, upload_id)
        raise
    if upload.status.code != status_code_pb2.UPLOAD_DONE:
        raise RemoteError(
            f"upload {upload.id}: all {size} bytes sent but the server reports "
            f"{upload.status.description or upload.status.code} {upload.status.details}".strip()
        )
    return upload


def _forget(remote: Remote, upload_id: str) -> None:
    """Delete an unfinished upload, once (the user is waiting to hear of the failure); if that
    fails too, the server's sweep removes it within 24 h."""
    with contextlib.suppress(RemoteError, KeyboardInterrupt):
        remote.delete_uploads([upload_id], retry=False)
