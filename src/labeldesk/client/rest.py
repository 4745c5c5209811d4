"""Clarifai v2 calls over REST/JSON: requests are ``clarifai_grpc`` messages (or, for upload parts,
ready JSON), answers are parsed into the method's response message with ``json_format``. A status
other than SUCCESS raises :class:`ApiStatusError` with the server's description and details; a
server that cannot be reached, a bad URL or an answer that is not the API's raise
:class:`RemoteError` with a one-line message."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlparse

import urllib3
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import json_format
from google.protobuf.message import Message
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError

from labeldesk.client.errors import ApiStatusError, RemoteError, TransientError

M = TypeVar("M", bound=Message)

TIMEOUT = urllib3.Timeout(connect=10.0, read=120.0)
#: calls safe to send again (a repeated upload part is taken as the same part); POSTs are not
RETRIED_VERBS = frozenset({"GET", "PUT", "DELETE", "PATCH"})
#: tries of one such call while the server cannot be reached or is busy; the waits between them
#: double from RETRY_DELAY (1 + 2 + 4 + 8 s: time for a server to restart)
ATTEMPTS = 5
RETRY_DELAY = 1.0
POLL_SECONDS = 0.5
#: statuses worth another try: the server or a proxy in front of it is busy or restarting
TRANSIENT_HTTP = frozenset({429, 502, 503, 504})
#: job states in which a job still moves (anything else is final)
MOVING = frozenset({status_code_pb2.JOB_QUEUED, status_code_pb2.JOB_RUNNING, status_code_pb2.JOB_PAUSED})


def check_base_url(server: str) -> str:
    """``server`` without a trailing slash; RemoteError unless it is an http(s) URL with a host."""
    parsed = urlparse(server)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RemoteError(f"--server {server!r} is not a URL like http://localhost:8080")
    return server.rstrip("/")


@dataclass
class Remote:
    """One app on one server: ``server`` (``http://host:8080``), an API key or PAT, and the app."""

    server: str
    key: str
    user_id: str
    app_id: str
    #: seconds before the first retry of a call (doubling after each)
    retry_delay: float = RETRY_DELAY

    def __post_init__(self) -> None:
        self.server = check_base_url(self.server)
        self._pool = urllib3.PoolManager(retries=False, timeout=TIMEOUT)

    def _path(self, *parts: str) -> str:
        app = f"/v2/users/{quote(self.user_id, safe='')}/apps/{quote(self.app_id, safe='')}"
        return "/".join([app, *(quote(p, safe="") for p in parts)])

    def call(
        self, verb: str, path: str, answer: type[M], body: Message | bytes | None = None, retry: bool = True
    ) -> M:
        """``verb path`` with ``body`` as JSON (bytes: JSON already); the answer parsed as
        ``answer``, SUCCESS checked. A call of :data:`RETRIED_VERBS` that fails for a moment (the
        server unreachable or busy) is sent again, up to :data:`ATTEMPTS` times, unless not
        ``retry`` (a clean-up after a failure that the user is already waiting to hear about)."""
        data = (
            json_format.MessageToJson(body, preserving_proto_field_name=True, indent=None)
            if isinstance(body, Message)
            else body
        )
        attempts = ATTEMPTS if retry and verb in RETRIED_VERBS else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._send(verb, path, answer, data)
            except RemoteError as e:
                if not e.transient or attempt == attempts:
                    raise
                time.sleep(self.retry_delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _send(self, verb: str, path: str, answer: type[M], data: str | bytes | None) -> M:
        url = self.server + path
        headers = {"Authorization": f"Key {self.key}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            r = self._pool.request(verb, url, body=data, headers=headers)
        except NewConnectionError as e:
            raise TransientError(f"cannot reach {self.server}: {_why(e)}") from e
        except ProtocolError as e:
            if "BadStatusLine" in str(e):  # HTTP/2 frames: the gRPC port
                raise RemoteError(f"{self.server} does not answer HTTP/1.1 (is it the gRPC port?)") from e
            raise TransientError(f"{verb} {url} failed: {_why(e)}") from e
        except (HTTPError, OSError) as e:
            raise TransientError(f"{verb} {url} failed: {_why(e)}") from e
        return _answer(verb, url, r, answer)

    # --- the RPCs the CLI uses ---------------------------------------------------------------

    def post_uploads(
        self, content_name: str, content_length: int, upload_id: str = ""
    ) -> resources_pb2.Upload:
        req = service_pb2.PostUploadsRequest(
            uploads=[
                resources_pb2.Upload(id=upload_id, content_name=content_name, content_length=content_length)
            ]
        )
        return self.call("POST", self._path("uploads"), service_pb2.MultiUploadResponse, req).uploads[0]

    def put_upload_content_part(
        self, upload_id: str, part_number: int, range_start: int, data_b64: bytes
    ) -> resources_pb2.Upload:
        """One part of an upload (``data_b64``: its bytes in base64, encoded by the caller; the
        body is spliced around it rather than built by a JSON encoder, which would copy 8 MiB)."""
        head = f'{{"content_parts":[{{"part_number":{part_number},"range_start":"{range_start}","data":"'
        body = b"".join((head.encode("ascii"), data_b64, b'"}]}'))
        path = self._path("uploads", upload_id, "content_parts")
        return self.call("PUT", path, service_pb2.SingleUploadResponse, body).upload

    def delete_uploads(self, upload_ids: list[str], retry: bool = True) -> None:
        req = service_pb2.DeleteUploadsRequest(ids=upload_ids)
        self.call("DELETE", self._path("uploads"), status_pb2.BaseResponse, req, retry)

    def post_inputs_uploads(self, upload_id: str, fmt: str, dataset_id: str) -> resources_pb2.InputsAddJob:
        req = service_pb2.PostInputsUploadsRequest(
            inputs_uploads=[
                resources_pb2.InputsUpload(
                    upload=resources_pb2.Upload(id=upload_id), input_template=_template(fmt, dataset_id)
                )
            ]
        )
        path = self._path("inputs", "uploads")
        return self.call("POST", path, service_pb2.MultiInputsAddJobResponse, req).inputs_add_jobs[0]

    def post_inputs_data_sources(self, url: str, fmt: str, dataset_id: str) -> resources_pb2.InputsAddJob:
        req = service_pb2.PostInputsDataSourcesRequest(
            data_sources=[
                resources_pb2.InputsDataSource(
                    url=resources_pb2.DataSourceURL(url=with_format(url, fmt)),
                    input_template=_template("", dataset_id),
                )
            ]
        )
        path = self._path("inputs", "data_sources")
        return self.call("POST", path, service_pb2.MultiInputsAddJobResponse, req).inputs_add_jobs[0]

    def get_inputs_add_job(self, job_id: str) -> resources_pb2.InputsAddJob:
        path = self._path("inputs", "jobs", "add", job_id)
        return self.call("GET", path, service_pb2.SingleInputsAddJobResponse).inputs_add_job

    def list_inputs_add_jobs(self, page: int = 1, per_page: int = 20) -> list[resources_pb2.InputsAddJob]:
        path = self._path("inputs", "jobs", "add") + "?" + urlencode({"page": page, "per_page": per_page})
        return list(self.call("GET", path, service_pb2.MultiInputsAddJobResponse).inputs_add_jobs)

    def cancel_inputs_add_job(self, job_id: str) -> resources_pb2.InputsAddJob:
        path = self._path("inputs", "jobs", "add", job_id)
        req = service_pb2.CancelInputsAddJobRequest(id=job_id)
        return self.call("PATCH", path, service_pb2.SingleInputsAddJobResponse, req).inputs_add_job

    def wait_for_job(
        self, job_id: str, seen: Callable[[resources_pb2.InputsAddJob], None]
    ) -> resources_pb2.InputsAddJob:
        """Poll GetInputsAddJob every :data:`POLL_SECONDS`, handing each answer to ``seen``, until
        the job no longer moves; its last answer (a poll that fails for a moment is sent again
        by :meth:`call`)."""
        while True:
            job = self.get_inputs_add_job(job_id)
            seen(job)
            if job.status.code not in MOVING:
                return job
            time.sleep(POLL_SECONDS)


def _template(fmt: str, dataset_id: str) -> resources_pb2.Input:
    """The inputs' template: the dataset to add them to; the format in its data's metadata
    (``Input`` itself has no metadata field)."""
    template = resources_pb2.Input(dataset_ids=[dataset_id] if dataset_id else [])
    if fmt:
        template.data.metadata.update({"format": fmt})
    return template


def with_format(url: str, fmt: str) -> str:
    """A data source's URL naming its format (``?format=``, which every labeldesk reads)."""
    if not fmt or "format=" in urlparse(url).query:
        return url
    return url + ("&" if urlparse(url).query else "?") + urlencode({"format": fmt})


def _why(e: BaseException) -> str:
    """The last, readable part of a urllib3 error ("connection refused", "timed out")."""
    text = str(e)
    for marker in ("[Errno", "Failed to establish a new connection:"):
        if marker in text:
            text = text[text.index(marker) :]
    if "Connection refused" in text:
        return "connection refused (is labeldesk serving there?)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text.rstrip(")").strip() or type(e).__name__


def _answer(verb: str, url: str, r: Any, answer: type[M]) -> M:
    if r.status in TRANSIENT_HTTP:
        raise TransientError(f"{verb} {url}: the server answered HTTP {r.status}; try again later")
    try:
        data = json.loads(r.data)
        msg = json_format.ParseDict(data, answer(), ignore_unknown_fields=True)
    except (ValueError, json_format.ParseError, TypeError, AttributeError) as e:
        raise RemoteError(
            f"{verb} {url} answered HTTP {r.status} that is not a Clarifai API response "
            "(is --server the address of labeldesk's REST port?)"
        ) from e
    if (
        not isinstance(data, dict) or "status" not in data
    ):  # every answer message has a status: a JSON object without one is not an answer
        raise RemoteError(f"{verb} {url} answered HTTP {r.status} without a status")
    status = msg.status  # type: ignore[attr-defined]
    if status.code != status_code_pb2.SUCCESS:
        raise ApiStatusError(status.code, status.description, status.details)
    return msg
