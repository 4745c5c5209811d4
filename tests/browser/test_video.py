"""Video inputs: the labeler steps through frames by the app's ``sample_ms`` (``→``), draws a box on two
frames and submits; the annotation holds one frame per drawn frame, with its index and time. The video
is a WebM that Chromium itself records from a canvas (no ffmpeg, no internet), uploaded as bytes."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

from labeldesk.app import RunningServer
from tests.browser.conftest import HOSTED_FILES
from tests.browser.scenario import build_scenario, ok
from tests.browser.test_workbench import close
from tests.browser.workbench import draw_box, open_page, screenshot, sign_in

RECORD = """async () => {
  const c = document.createElement('canvas'); c.width = 320; c.height = 240;
  const g = c.getContext('2d');
  const rec = new MediaRecorder(c.captureStream(20), { mimeType: 'video/webm' });
  const parts = [];
  rec.ondataavailable = (e) => parts.push(e.data);
  const stopped = new Promise((ok) => (rec.onstop = ok));
  const colours = ['#b44', '#4b4', '#44b', '#bb4'];
  const started = performance.now();
  const draw = () => {
    const t = (performance.now() - started) / 1000;
    g.fillStyle = colours[Math.min(3, Math.floor(t))]; g.fillRect(0, 0, 320, 240);
    g.fillStyle = '#fff'; g.fillRect(40 + t * 40, 80, 60, 60);
  };
  draw(); rec.start();
  const timer = setInterval(draw, 50);
  await new Promise((ok) => setTimeout(ok, 3300));
  clearInterval(timer); rec.stop(); await stopped;
  const buf = new Uint8Array(await new Blob(parts, { type: 'video/webm' }).arrayBuffer());
  let bin = '';
  for (let i = 0; i < buf.length; i += 8192) bin += String.fromCharCode(...buf.subarray(i, i + 8192));
  return btoa(bin);
}"""

FIRST = (0.10, 0.30, 0.40, 0.65)
SECOND = (0.30, 0.30, 0.60, 0.65)


def test_video_frames_are_stepped_and_labeled(
    browser: Any, server: RunningServer, rest_stub: Any, static_files: tuple[Path, str]
) -> None:
    page = open_page(browser, server.base_url)
    page.goto("/signin")
    webm = base64.b64decode(page.evaluate(RECORD))
    assert webm[:4] == b"\x1a\x45\xdf\xa3", "a WebM (EBML) file"
    root, base = static_files
    name = f"clip-{uuid.uuid4().hex[:8]}.webm"
    (root / name).write_bytes(webm)

    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], image_urls=[], n_images=0)
    video = r.Video(base64=webm) if HOSTED_FILES else r.Video(url=f"{base}/{name}")
    clip = r.Input(id="clip", data=r.Data(video=video))
    ok(rest_stub.PostInputs(s.PostInputsRequest(user_app_id=sn.uai, inputs=[clip]), metadata=sn.meta()))
    task = r.Task(
        id="clips",
        type=r.Task.TaskType.Value("BOUNDING_BOX_DETECTION"),
        name="Track the square",
        worker=r.TaskWorker(
            strategy=r.TaskWorker.TaskWorkerStrategy.Value("FULL"), user_ids=list(sn.labelers)
        ),
        concept_ids=["cat", "dog"],
        input_source=r.TaskInputSource(type=r.TaskInputSource.TaskInputSourceType.Value("ALL_INPUTS")),
    )
    ok(rest_stub.PostTasks(s.PostTasksRequest(user_app_id=sn.uai, tasks=[task]), metadata=sn.meta()))

    ana = next(u for u in sn.labelers if u.startswith("ana"))
    sign_in(page, ana, sn.labelers[ana])
    page.goto(f"/label/{sn.owner}/{sn.app_id}/clips")
    page.get_by_test_id("input-id").wait_for()
    frames = page.get_by_label("Video frames")
    frames.get_by_text("frame 0").wait_for()
    surface = page.locator(".surface")
    picture_0 = surface.screenshot()
    draw_box(page, FIRST)
    page.keyboard.press("ArrowRight")
    frames.get_by_text("frame 1 · 1.00 s").wait_for()
    assert page.locator("ul.regions li").count() == 0, "regions are per frame"
    assert surface.screenshot() != picture_0, "the picture is the video at 1 s now"
    draw_box(page, SECOND)
    screenshot(page, "12-video")
    page.keyboard.press("ArrowLeft")
    frames.get_by_text("frame 0").wait_for()
    assert page.locator("ul.regions li").count() == 1
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="All done here").wait_for()

    req = s.ListAnnotationsRequest(user_app_id=sn.uai, task_id="clips", user_ids=[ana])
    (ann,) = ok(rest_stub.ListAnnotations(req, metadata=sn.meta())).annotations
    got = {f.frame_info.index: f for f in ann.data.frames}
    assert sorted(got) == [0, 1] and got[1].frame_info.time == 1000
    for index, want in ((0, FIRST), (1, SECOND)):
        (region,) = got[index].data.regions
        bb = region.region_info.bounding_box
        assert all(map(close, (bb.left_col, bb.top_row, bb.right_col, bb.bottom_row), want)), bb
    assert page.js_errors == []
    page.context.close()
