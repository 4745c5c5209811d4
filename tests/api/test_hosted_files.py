"""Hosted files over both transports: bytes posted as ``data.image.base64`` come back as a signed
``url`` of the ``/files`` route (no Authorization needed), with thumbnails; altered, expired and
other apps' URLs are refused; bad uploads get a clear error; no empty media blocks appear."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from PIL import Image

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.files.store import LocalDirStore
from labeldesk.services import admin
from labeldesk.services.hosting import Hosting
from tests.helpers import IMG, AppFixture, beside_a_writer, fails, ok, sqlite_write_lock_held, unique

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)


def picture(size: tuple[int, int] = (600, 400), fmt: str = "PNG", colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def post(stub: Any, app: AppFixture, *inputs: resources_pb2.Input) -> Any:
    req = service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=inputs)
    return stub.PostInputs(req, metadata=app.meta)


def post_image(stub: Any, app: AppFixture, data: bytes, input_id: str = "") -> resources_pb2.Input:
    inp = resources_pb2.Input(id=input_id, data=resources_pb2.Data(image=resources_pb2.Image(base64=data)))
    return ok(post(stub, app, inp)).inputs[0]


def get_input(stub: Any, app: AppFixture, input_id: str) -> resources_pb2.Input:
    req = service_pb2.GetInputRequest(user_app_id=app.uai, input_id=input_id)
    return ok(stub.GetInput(req, metadata=app.meta)).input


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=30)  # no Authorization header, as an <img> tag


def refused(resp: requests.Response, why: str) -> None:
    assert resp.status_code == 403, resp.text
    status = resp.json()["status"]
    assert status["code"] == sc.CONN_INSUFFICIENT_SCOPES and why in status["description"], status


def sized_url(image: resources_pb2.Image, size: str) -> str:
    return f"{image.hosted.prefix}/{size}/{image.hosted.suffix}"


def test_bytes_in_url_out_same_bytes_back(stub: Any, app: AppFixture) -> None:
    data = picture()
    posted = post_image(stub, app, data)
    image = posted.data.image
    assert image.base64 == b""
    assert image.url.startswith(app.server.base_url + "/files/orig/"), image.url
    assert list(image.hosted.sizes) == ["orig", "tiny", "small"]
    assert (image.image_info.width, image.image_info.height, image.image_info.format) == (600, 400, "PNG")
    got = fetch(image.url)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png"
    assert "max-age=" in got.headers["cache-control"]
    again = get_input(stub, app, posted.id).data.image  # read again: a freshly signed, working URL
    assert again.base64 == b"" and fetch(again.url).content == data
    listed = ok(stub.ListInputs(service_pb2.ListInputsRequest(user_app_id=app.uai), metadata=app.meta))
    assert [i.data.image.base64 for i in listed.inputs] == [b""]
    assert fetch(listed.inputs[0].data.image.url).content == data


def test_thumbnails_have_their_sizes(stub: Any, app: AppFixture) -> None:
    image = post_image(stub, app, picture((600, 400), "JPEG")).data.image
    for size, box in (("tiny", (64, 43)), ("small", (256, 171)), ("orig", (600, 400))):
        got = fetch(sized_url(image, size))
        assert got.status_code == 200, got.text
        assert Image.open(io.BytesIO(got.content)).size == box
        info = image.hosted_image_info[size]
        assert (info.width, info.height) == box
    assert fetch(sized_url(image, "large")).status_code == 404


def test_altered_and_other_apps_urls_are_refused(stub: Any, app: AppFixture) -> None:
    url = post_image(stub, app, picture()).data.image.url
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    exp, sig = query["exp"][0], query["sig"][0]
    base = url.split("?")[0]
    forged_sig = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    refused(fetch(f"{base}?exp={exp}&sig={forged_sig}"), "altered")
    refused(fetch(f"{base}?exp={int(exp) + 3600}&sig={sig}"), "altered")
    refused(fetch(base), "altered")
    # the same key under another app's number: the signature covers the app
    _, _, _, app_pk, key = parts.path.split("/")
    other = str(int(app_pk) + 1)
    refused(fetch(url.replace(f"/{app_pk}/{key}", f"/{other}/{key}")), "altered")
    # even a correctly signed URL of another app cannot open this app's file
    hosting: Hosting = app.server.app.hosting
    signed = hosting.signer.links(app.server.base_url).url(other, key)
    assert fetch(signed).status_code == 404


def test_video_and_audio_bytes_are_hosted(stub: Any, app: AppFixture) -> None:
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32)
    inputs = [
        resources_pb2.Input(data=resources_pb2.Data(video=resources_pb2.Video(base64=MP4_HEAD))),
        resources_pb2.Input(data=resources_pb2.Data(audio=resources_pb2.Audio(base64=wav))),
    ]
    video, audio = ok(post(stub, app, *inputs)).inputs
    assert video.data.video.base64 == b"" and list(video.data.video.hosted.sizes) == ["orig"]
    got = fetch(video.data.video.url)
    assert got.content == MP4_HEAD and got.headers["content-type"] == "video/mp4"
    got = fetch(audio.data.audio.url)
    assert got.content == wav and got.headers["content-type"] == "audio/wav"
    assert not video.data.HasField("image") and not audio.data.HasField("video")


def test_no_empty_media_blocks(stub: Any, app: AppFixture) -> None:
    inputs = [
        resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(url=IMG))),
        resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw="a sentence"))),
    ]
    url_input, text_input = ok(post(stub, app, *inputs)).inputs
    for inp in (url_input, get_input(stub, app, url_input.id)):
        assert inp.data.image.url == IMG and not inp.data.image.HasField("hosted")
        assert not inp.data.HasField("video") and not inp.data.HasField("audio")
    for inp in (text_input, get_input(stub, app, text_input.id)):
        assert not any(inp.data.HasField(k) for k in ("image", "video", "audio"))


def test_client_cannot_claim_a_hosted_file(stub: Any, app: AppFixture) -> None:
    image = post_image(stub, app, picture()).data.image
    key = urlsplit(image.url).path.split("/")[-1]
    claim = resources_pb2.Image(url=IMG, hosted=resources_pb2.HostedURL(suffix=key, sizes=["orig"]))
    got = ok(post(stub, app, resources_pb2.Input(data=resources_pb2.Data(image=claim)))).inputs[0]
    assert got.data.image.url == IMG and not got.data.image.HasField("hosted")


def test_not_an_image_is_refused(stub: Any, app: AppFixture) -> None:
    bad = resources_pb2.Input(
        id="bad", data=resources_pb2.Data(image=resources_pb2.Image(base64=b"GIF89a, but not really"))
    )
    good = resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=picture())))
    fails(post(stub, app, good, bad), sc.CONN_INVALID_REQUEST, "inputs[1].data.image.base64", "not an image")
    listed = ok(stub.ListInputs(service_pb2.ListInputsRequest(user_app_id=app.uai), metadata=app.meta))
    assert list(listed.inputs) == []  # nothing half-written


def test_bytes_are_checked_only_for_a_valid_key_and_outside_the_transaction(
    stub: Any, app: AppFixture
) -> None:
    assert app.server.app.dispatcher.routes["PostInputs"].prepare is not None  # before the write lock
    bad = resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=b"not an image")))
    req = service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=[bad])
    resp = stub.PostInputs(req, metadata=(("authorization", "Key not-a-key"),))
    assert resp.status.code == sc.CONN_KEY_INVALID, resp.status  # no image work for strangers


def test_url_and_bytes_together_are_refused(stub: Any, app: AppFixture) -> None:
    both = resources_pb2.Image(url=IMG, base64=picture())
    resp = post(stub, app, resources_pb2.Input(data=resources_pb2.Data(image=both)))
    fails(resp, sc.CONN_INVALID_REQUEST, "inputs[0].data.image", "not both")


def test_deleting_inputs_deletes_their_files(stub: Any, app: AppFixture) -> None:
    image = post_image(stub, app, picture(), input_id="gone").data.image
    keep = post_image(stub, app, picture(colour="red"), input_id="kept").data.image
    assert fetch(image.url).status_code == 200
    req = service_pb2.DeleteInputsRequest(user_app_id=app.uai, ids=["gone"])
    ok(stub.DeleteInputs(req, metadata=app.meta))
    assert fetch(image.url).status_code == 404  # at once, before the collector runs
    hosting: Hosting = app.server.app.hosting
    _, _, _, app_pk, key = urlsplit(image.url).path.split("/")
    assert hosting.store.local_path(app_pk, key) is not None
    hosting.collect_garbage()
    assert [hosting.store.local_path(app_pk, k) for k in (key, key + ".tiny", key + ".small")] == [None] * 3
    assert fetch(keep.url).status_code == 200


def _deleted_pictures(stub: Any, app: AppFixture, *colours: str) -> list[list[str]]:
    """Post a picture of each colour, delete their inputs; the (app, key) of their stored bytes."""
    inputs = [post_image(stub, app, picture(colour=c)) for c in colours]
    req = service_pb2.DeleteInputsRequest(user_app_id=app.uai, ids=[i.id for i in inputs])
    ok(stub.DeleteInputs(req, metadata=app.meta))
    return [urlsplit(i.data.image.url).path.split("/")[-2:] for i in inputs]


def test_the_collector_deletes_bytes_without_the_write_lock(stub: Any, app: AppFixture) -> None:
    """The stored bytes of deleted inputs go before the collector asks for SQLite's write lock
    (an object store's deletes must not hold every labeler's writes up), a round with nothing to
    collect never asks for it, and a round of more orphans than its batch collects them all."""
    hosting: Hosting = app.server.app.hosting
    hosting.collect_garbage()  # other tests' deleted inputs
    keys = _deleted_pictures(stub, app, "navy", "olive", "plum")
    collecting = threading.Thread(target=hosting.collect_garbage, daemon=True)
    with sqlite_write_lock_held(app.server.app.db):
        collecting.start()
        deadline = time.monotonic() + 10
        while any(hosting.store.local_path(a, k) for a, k in keys) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [hosting.store.local_path(a, k) for a, k in keys] == [None] * 3  # the lock is still held
        assert collecting.is_alive()  # its rows wait for the lock
    collecting.join(30)
    assert not collecting.is_alive()
    assert beside_a_writer(app.server.app.db, hosting.collect_garbage) == (True, [0])  # nothing left
    keys = _deleted_pictures(stub, app, "gold", "khaki", "salmon")
    hosting.collect_garbage(batch=2)  # a full batch, then the rest
    assert [hosting.store.local_path(a, k) for a, k in keys] == [None] * 3


def test_deleting_an_app_deletes_its_files(stub: Any, app: AppFixture) -> None:
    image = post_image(stub, app, picture(colour="green")).data.image
    ok(stub.DeleteApp(service_pb2.DeleteAppRequest(user_app_id=app.uai), metadata=app.meta))
    assert fetch(image.url).status_code == 404
    hosting: Hosting = app.server.app.hosting
    _, _, _, app_pk, key = urlsplit(image.url).path.split("/")
    hosting.collect_garbage()
    assert hosting.store.local_path(app_pk, key) is None


def test_task_work_carries_signed_urls(stub: Any, app: AppFixture) -> None:
    data = picture()
    post_image(stub, app, data)
    task = resources_pb2.Task(
        id=unique("task"),
        type=resources_pb2.Task.CONCEPTS_CLASSIFICATION,
        worker=resources_pb2.TaskWorker(
            strategy=resources_pb2.TaskWorker.FULL,
            workers=[resources_pb2.Worker(user=resources_pb2.User(id=app.user_id))],
        ),
        input_source=resources_pb2.TaskInputSource(type=resources_pb2.TaskInputSource.ALL_INPUTS),
    )
    ok(stub.PostTasks(service_pb2.PostTasksRequest(user_app_id=app.uai, tasks=[task]), metadata=app.meta))
    req = service_pb2.ListNextTaskAssignmentsRequest(user_app_id=app.uai, task_id=task.id)
    work = ok(stub.ListNextTaskAssignments(req, metadata=app.meta)).inputs
    assert len(work) == 1 and fetch(work[0].data.image.url).content == data


def test_searches_and_dataset_listings_carry_signed_urls(stub: Any, app: AppFixture) -> None:
    data = picture(colour="orange")
    ds = resources_pb2.Dataset(id="hosted")
    ok(
        stub.PostDatasets(
            service_pb2.PostDatasetsRequest(user_app_id=app.uai, datasets=[ds]), metadata=app.meta
        )
    )
    inp = resources_pb2.Input(
        id="in-ds", dataset_ids=["hosted"], data=resources_pb2.Data(image=resources_pb2.Image(base64=data))
    )
    ok(post(stub, app, inp))
    req = service_pb2.ListDatasetInputsRequest(user_app_id=app.uai, dataset_id="hosted")
    (member,) = ok(stub.ListDatasetInputs(req, metadata=app.meta)).dataset_inputs
    query = resources_pb2.Query(filters=[resources_pb2.Filter(input=resources_pb2.Input(id="in-ds"))])
    search = service_pb2.PostSearchesRequest(
        user_app_id=app.uai, searches=[resources_pb2.Search(query=query)]
    )
    (hit,) = ok(stub.PostSearches(search, metadata=app.meta)).hits
    for image in (member.input.data.image, hit.input.data.image):
        assert fetch(image.url).content == data and image.base64 == b""


# ---------------------------------------------------------------- a server with tight limits

LIMIT = 20_000


def shared_blob_dir(server: RunningServer) -> str:
    """The session server's blob directory: servers over one database share it, as replicas must
    (each one's collector deletes the files of any deleted input)."""
    store = server.app.hosting.store
    assert isinstance(store, LocalDirStore)
    return str(store.root)


@pytest.fixture(scope="module")
def strict(server: RunningServer, database_url: str) -> Iterator[RunningServer]:
    """A second server over the same database: URLs expire at once, uploads capped at LIMIT."""
    settings = Settings(blob_dir=shared_blob_dir(server), files_url_ttl_seconds=0, max_upload_bytes=LIMIT)
    running = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0).start()
    yield running
    running.stop()


@pytest.fixture(params=["rest", "grpc"])
def strict_stub(request: pytest.FixtureRequest, strict: RunningServer) -> service_pb2_grpc.V2Stub:
    if request.param == "rest":
        return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=strict.base_url))
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=strict.grpc_port)
    return service_pb2_grpc.V2Stub(channel)


@pytest.fixture
def strict_app(strict: RunningServer) -> AppFixture:
    user_id, app_id = unique("owner"), unique("app")
    pat = admin.create_user(strict.app.db, user_id, f"{user_id}@example.com")
    admin.create_app(strict.app.db, user_id, app_id)
    return AppFixture(user_id, app_id, pat, admin.create_app_key(strict.app.db, user_id, app_id), strict)


def test_expired_url_is_refused(strict_stub: Any, strict_app: AppFixture) -> None:
    image = post_image(strict_stub, strict_app, picture((40, 30))).data.image
    assert image.url.startswith(strict_app.server.base_url + "/files/orig/")
    refused(fetch(image.url), "expired")
    refused(fetch(sized_url(image, "tiny")), "expired")


def test_upload_over_the_limit_is_refused(strict_stub: Any, strict_app: AppFixture) -> None:
    big = bytes(range(256)) * (LIMIT // 256 + 1)
    inp = resources_pb2.Input(data=resources_pb2.Data(video=resources_pb2.Video(base64=big)))
    resp = post(strict_stub, strict_app, inp)
    fails(resp, sc.CONN_INVALID_REQUEST, "inputs[0].data.video.base64", f"{LIMIT:,} are accepted")


def test_a_replica_over_the_same_database_and_blob_dir_serves_the_same_urls(
    rest_stub: Any, app: AppFixture, database_url: str
) -> None:
    data = picture(colour="purple")
    url = post_image(rest_stub, app, data).data.image.url
    settings = Settings(blob_dir=shared_blob_dir(app.server))
    replica = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0)
    replica.start()
    try:
        assert fetch(url.replace(app.server.base_url, replica.base_url)).content == data
    finally:
        replica.stop()


def test_public_url_is_used_when_configured(server: RunningServer, database_url: str) -> None:
    public = "https://label.example.com/ld"
    settings = Settings(blob_dir=shared_blob_dir(server), public_url=public)
    running = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0).start()
    try:
        user_id, app_id = unique("owner"), unique("app")
        pat = admin.create_user(running.app.db, user_id, f"{user_id}@example.com")
        admin.create_app(running.app.db, user_id, app_id)
        app = AppFixture(user_id, app_id, pat, "", running)
        rest = service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=running.base_url))
        channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=running.grpc_port)
        for stub in (rest, service_pb2_grpc.V2Stub(channel)):
            image = post_image(stub, app, picture((40, 30))).data.image
            assert image.url.startswith(public + "/files/orig/") and image.hosted.prefix == public + "/files"
    finally:
        running.stop()
