"""The console's Imports screen in Chromium, against a server with an import root: a zipped COCO
dataset made in the test uploaded in parts through the file input and imported as a background job
(watched to completed with its counts, its inputs then in the Data tab); a part that keeps failing
stops the upload until Retry, and Cancel deletes the upload; a folder on the server imported; an
archive that is no archive fails with the server's words; a queued job cancelled. What the screen
shows is checked against what the server holds, read with clarifai-grpc."""

from __future__ import annotations

import os
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.services import admin
from tests.api.test_import_export import make_coco
from tests.browser.scenario import ok
from tests.browser.workbench import assert_controls_labelled, open_page, screenshot, sign_in

MIB = 1024 * 1024
BUSY = '{"status": {"code": 21100, "description": "The server is busy"}}'


@pytest.fixture(scope="module")
def import_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("import-root")
    make_coco(root / "coco")
    return root


def _start(tmp: Path, import_root: Path) -> RunningServer:
    url = f"sqlite:///{tmp / 'imports.db'}"
    return RunningServer(
        build(url, settings=Settings(import_root=str(import_root))), "127.0.0.1", 0, 0
    ).start()


@pytest.fixture(scope="module")
def import_server(tmp_path_factory: pytest.TempPathFactory, import_root: Path) -> Iterator[RunningServer]:
    server = _start(tmp_path_factory.mktemp("imports"), import_root)
    yield server
    server.stop()


@pytest.fixture
def idle_server(tmp_path: Path, import_root: Path) -> Iterator[RunningServer]:
    """A server whose job worker is stopped: an import stays queued until it is cancelled."""
    server = _start(tmp_path, import_root)
    assert server._worker is not None
    server._worker.stop()
    yield server
    server.stop()


class Owner:
    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.user = f"importer-{uuid.uuid4().hex[:8]}"
        self.pat = admin.create_user(server.app.db, self.user)
        admin.create_app(server.app.db, self.user, "imports")
        channel = ClarifaiChannel.get_json_channel(base_url=server.base_url)
        self.stub = service_pb2_grpc.V2Stub(channel)
        self.uai = r.UserAppIDSet(user_id=self.user, app_id="imports")
        self.meta = (("authorization", f"Key {self.pat}"),)

    def page(self, browser: Any) -> Any:
        page = open_page(browser, self.server.base_url)
        sign_in(page, self.user, self.pat)
        page.goto(f"/console/{self.user}/imports/imports")
        page.get_by_role("heading", name="Import jobs").wait_for()
        return page

    def dataset_inputs(self, dataset: str) -> list[str]:
        got = ok(
            self.stub.ListDatasetInputs(
                s.ListDatasetInputsRequest(user_app_id=self.uai, dataset_id=dataset, per_page=100),
                metadata=self.meta,
            )
        )
        return sorted(d.input.id for d in got.dataset_inputs)

    def uploads(self) -> list[Any]:
        got = ok(self.stub.ListUploads(s.ListUploadsRequest(user_app_id=self.uai), metadata=self.meta))
        return list(got.uploads)


def _coco_zip(tmp: Path, padding: int = 0) -> Path:
    """COCO in a top folder, zipped; ``padding`` bytes of noise make the archive that big (in parts)."""
    folder = make_coco(tmp / "coco-src" / "coco")
    out = tmp / "coco.zip"
    with zipfile.ZipFile(out, "w") as z:
        for f in sorted(folder.rglob("*")):
            z.write(f, f.relative_to(folder.parent).as_posix())
        if padding:
            z.writestr("coco/padding.bin", os.urandom(padding), compress_type=zipfile.ZIP_STORED)
    return out


def _job_row(page: Any, state: str) -> Any:
    """The newest job's rows, once its state reads ``state``."""
    rows = page.locator("tbody[data-job]").first
    rows.get_by_test_id("job-state").filter(has_text=state).wait_for(timeout=30_000)
    return rows


def test_a_zipped_coco_dataset_uploads_and_imports_and_its_inputs_are_in_the_data_tab(
    browser: Any, import_server: RunningServer, tmp_path: Path
) -> None:
    owner = Owner(import_server)
    added = s.PostInputsRequest(
        user_app_id=owner.uai, inputs=[r.Input(id="added-one", data=r.Data(text=r.Text(raw="hi")))]
    )
    assert ok(owner.stub.PostInputs(added, metadata=owner.meta)).inputs_add_job.id  # a per-request job ...
    page = owner.page(browser)
    page.get_by_text("No imports yet").wait_for()  # ... is no import
    page.locator("input[name=import-dataset]").fill("zipped")
    page.locator("input[name=archive]").set_input_files(str(_coco_zip(tmp_path)))
    page.get_by_role("button", name="Upload and import").click()
    page.get_by_test_id("archive-status").filter(has_text="started").wait_for()
    rows = _job_row(page, "completed")
    assert rows.get_by_test_id("job-progress").inner_text() == "3 of 3 records"
    assert rows.get_by_test_id("job-success").inner_text() == "3"
    assert rows.get_by_test_id("job-skipped").inner_text() == "0"
    assert "3 inputs added" in rows.get_by_test_id("job-summary").inner_text()
    assert rows.get_by_role("button", name="Cancel").count() == 0
    assert_controls_labelled(page)
    screenshot(page, "console-imports")
    assert owner.dataset_inputs("zipped") == ["blue", "green", "red"]

    # polling stopped with nothing queued or running: no GetInputsAddJob for a couple of periods
    polls: list[str] = []
    page.on("request", lambda req: polls.append(req.url) if "/inputs/jobs/add/" in req.url else None)
    page.wait_for_timeout(2500)
    assert polls == []

    page.get_by_role("link", name="Data").click()
    page.locator("select[name=f-dataset]").select_option("zipped")
    page.get_by_test_id("inputs-total").filter(has_text="3 inputs").wait_for()
    # the total and the page are two requests: wait for the filtered page too
    page.get_by_test_id("inputs-grid").get_by_text("added-one").wait_for(state="detached")
    grid = [x.strip() for x in page.get_by_test_id("inputs-grid").locator(".mono").all_inner_texts()]
    assert sorted(grid) == ["blue", "green", "red"]
    assert page.js_errors == []


def test_a_failing_part_stops_the_upload_until_retry_and_cancel_deletes_the_upload(
    browser: Any, import_server: RunningServer, tmp_path: Path
) -> None:
    owner = Owner(import_server)
    archive = _coco_zip(tmp_path, padding=9 * MIB)  # two parts: 8 MiB and the rest
    page = owner.page(browser)
    failing = {"on": True}

    def second_part_fails(route: Any) -> None:
        part = (route.request.post_data_json or {}).get("content_parts", [{}])[0].get("part_number")
        if failing["on"] and part == 2:
            route.fulfill(status=503, content_type="application/json", body=BUSY)
        else:
            route.continue_()

    page.route("**/content_parts", second_part_fails)
    page.locator("select[name=import-format]").select_option("coco")
    page.locator("input[name=archive]").set_input_files(str(archive))
    page.get_by_role("button", name="Upload and import").click()
    status = page.get_by_test_id("archive-status")
    status.filter(has_text="stopped").wait_for(timeout=20_000)  # after two automatic retries
    assert status.inner_text().startswith("8.0 MiB of 9.")
    assert page.get_by_label("Archive upload progress").get_attribute("value") == str(8 * MIB)
    page.get_by_role("alert").filter(has_text="Part 2 of 2 was not sent: The server is busy").wait_for()
    screenshot(page, "console-imports-upload")
    (held,) = owner.uploads()
    assert held.status.code == sc.UPLOAD_IN_PROGRESS

    failing["on"] = False
    page.get_by_role("button", name="Retry").click()
    status.filter(has_text="started").wait_for(timeout=20_000)
    rows = _job_row(page, "completed")
    assert rows.get_by_test_id("job-success").inner_text() == "3"

    # the same again, cancelled while stopped: the server no longer holds the upload
    failing["on"] = True
    before = {u.id for u in owner.uploads()}
    page.locator("input[name=archive]").set_input_files(str(archive))
    page.get_by_role("button", name="Upload and import").click()
    status.filter(has_text="stopped").wait_for(timeout=20_000)
    started = {u.id for u in owner.uploads()} - before
    assert len(started) == 1
    page.get_by_role("button", name="Cancel upload").click()
    status.filter(has_text="Upload cancelled").wait_for()
    deadline = time.monotonic() + 10
    while started & {u.id for u in owner.uploads()}:
        assert time.monotonic() < deadline, "DeleteUploads was not sent"
        page.wait_for_timeout(100)
    assert page.js_errors == []


def test_an_archive_that_is_not_one_fails_with_the_servers_words(
    browser: Any, import_server: RunningServer, tmp_path: Path
) -> None:
    owner = Owner(import_server)
    fake = tmp_path / "broken.zip"
    fake.write_text("these are not the bytes of a zip file\n" * 10)
    page = owner.page(browser)
    page.locator("input[name=archive]").set_input_files(str(fake))
    page.get_by_role("button", name="Upload and import").click()
    rows = _job_row(page, "failed")
    summary = rows.get_by_test_id("job-summary").inner_text()
    assert "broken.zip" in summary and "archive" in summary, summary
    held = ok(owner.stub.ListInputs(s.ListInputsRequest(user_app_id=owner.uai), metadata=owner.meta))
    assert list(held.inputs) == []


def test_a_folder_on_the_server_is_imported_and_bad_paths_get_the_servers_words(
    browser: Any, import_server: RunningServer, server: RunningServer, import_root: Path
) -> None:
    owner = Owner(import_server)
    page = owner.page(browser)
    page.locator("input[name=server-path]").fill(f"{import_root}/../elsewhere")
    page.get_by_role("button", name="Import from the server").click()
    page.get_by_role("alert").filter(has_text="is not below the import root").wait_for()

    page.locator("input[name=server-path]").fill(f"file://{import_root}/coco")
    page.locator("select[name=import-format]").select_option("coco")
    page.locator("input[name=import-dataset]").fill("from-server")
    page.get_by_role("button", name="Import from the server").click()
    rows = _job_row(page, "completed")
    assert rows.get_by_test_id("job-progress").inner_text() == "3 of 3 records"
    assert rows.get_by_test_id("job-success").inner_text() == "3"
    assert owner.dataset_inputs("from-server") == ["blue", "green", "red"]
    jobs = ok(
        owner.stub.ListInputsAddJobs(s.ListInputsAddJobsRequest(user_app_id=owner.uai), metadata=owner.meta)
    )
    assert [j.id for j in jobs.inputs_add_jobs] == [rows.get_attribute("data-job")]

    # 200 files added one at a time since (a job each) leave the import on ListInputsAddJobs' page 2:
    # the list reads on past them
    for n in range(200):
        one = s.PostInputsRequest(
            user_app_id=owner.uai, inputs=[r.Input(id=f"note-{n}", data=r.Data(text=r.Text(raw="hi")))]
        )
        ok(owner.stub.PostInputs(one, metadata=owner.meta))
    page.reload()
    page.get_by_role("heading", name="Import jobs").wait_for()
    assert _job_row(page, "completed").get_attribute("data-job") == rows.get_attribute("data-job")
    assert page.locator("tbody[data-job]").count() == 1

    # a server without an import root says so
    off = Owner(server)
    page = off.page(browser)
    page.locator("input[name=server-path]").fill("/srv/data/coco")
    page.get_by_role("button", name="Import from the server").click()
    page.get_by_role("alert").filter(has_text="server-side imports are off").wait_for()
    assert page.js_errors == []


_HIDE = """(hidden) => {
  Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_queued_import_is_polled_while_the_page_is_visible_and_cancelled(
    browser: Any, idle_server: RunningServer, import_root: Path
) -> None:
    owner = Owner(idle_server)
    page = owner.page(browser)
    polls: list[str] = []
    page.on("request", lambda req: polls.append(req.url) if "/inputs/jobs/add/" in req.url else None)
    page.locator("input[name=server-path]").fill(f"file://{import_root}/coco")
    page.get_by_role("button", name="Import from the server").click()
    job_id = _job_row(page, "queued").get_attribute("data-job")
    rows = page.locator(f'tbody[data-job="{job_id}"]')
    cancel = rows.get_by_role("button", name=f"Cancel job {job_id}")
    cancel.wait_for()
    assert_controls_labelled(page)
    screenshot(page, "console-imports-queued")
    with page.expect_request(lambda req: f"/inputs/jobs/add/{job_id}" in req.url):
        pass  # it polls the queued job ...
    page.evaluate(_HIDE, True)
    page.wait_for_timeout(300)  # a poll already on its way may land
    seen = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == seen  # ... not while the page is hidden ...
    with page.expect_request(lambda req: f"/inputs/jobs/add/{job_id}" in req.url):
        page.evaluate(_HIDE, False)  # ... and again once it is shown

    cancel.click()
    rows.get_by_test_id("job-state").filter(has_text="cancelled").wait_for()
    asked = s.GetInputsAddJobRequest(user_app_id=owner.uai, id=job_id)
    got = ok(owner.stub.GetInputsAddJob(asked, metadata=owner.meta))
    assert got.inputs_add_job.status.code == sc.JOB_CANCELLED
    assert cancel.count() == 0
    assert page.js_errors == []
