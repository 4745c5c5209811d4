"""Bulk import speed: ``labeldesk import`` of a generated COCO dataset, and optionally Label
Studio's import of the same data measured in the same run.

    python benchmarks/import_bench.py [--inputs 50000] [--boxes 0 2] [--copied-inputs 5000]
                                      [--database-url URL] [--with-label-studio]

One run per ``--boxes`` value (boxes per image; default 0, then 2): the first measures inputs/s, the
second box annotations/s. Each dataset is N image files (empty: the import references them, as
``labeldesk import --reference-files`` does) and a COCO ``annotations.json``. Rates are given per
second of wall clock and per CPU second of the importing process (``time.process_time``, both of
its threads): on a shared machine the wall clock measures the neighbours, the CPU seconds the
import. ``writer`` is the CPU seconds of the writing thread alone (the reader thread prepares
chunks beside it): on a quiet two-core machine the wall clock is about the larger of it and the
Python work of both threads. labeldesk's
numbers time the whole import (reading and validating the JSON, checking every file exists,
writing inputs, input-level
annotations, region annotations, concepts and their index rows) into a fresh SQLite file unless
``--database-url`` is given. ``--with-label-studio`` installs Label Studio into its own virtualenv
(``.bench-venvs/label-studio``, reused on later runs), starts it on a free loopback port and times
``POST /api/projects/{id}/import`` of the same images and boxes as Label Studio tasks with
annotations, in batches of 5,000 tasks (its data folder ``.bench-venvs/label-studio-data`` is kept:
the first start migrates its database for minutes). ``--copied-inputs N`` adds a run importing N
small JPEGs with 2 boxes each the CLI's default way, copied into a blob store (0: no such run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from labeldesk.app import build_hosting
from labeldesk.config import Settings
from labeldesk.datasets_io.formats import READERS
from labeldesk.services import admin
from labeldesk.services import dataset_import as imp
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from labeldesk.storage.repos import accounts

W, H = 640, 480


def small_jpegs(count: int = 16) -> list[bytes]:
    """A few distinct small JPEGs (320x240, ~3 kB) the copied-files run writes in turn."""
    import io

    from PIL import Image, ImageDraw

    out = []
    for k in range(count):
        img = Image.new("RGB", (320, 240), (40 + 12 * k, 90, 160 - 8 * k))
        ImageDraw.Draw(img).ellipse((20 + 10 * k, 30, 200, 60 + 9 * k), fill=(250, 200 - 10 * k, 20))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def make_coco(root: Path, n: int, boxes: int, jpegs: list[bytes] | None = None) -> Path:
    """N images (empty files, or ``jpegs`` in turn) and a COCO ``annotations.json`` over them."""
    images = root / "images"
    images.mkdir(parents=True)
    doc: dict[str, list[dict[str, Any]]] = {"images": [], "annotations": [], "categories": []}
    doc["categories"] = [{"id": c, "name": f"class-{c}"} for c in range(1, 11)]
    for i in range(n):
        name = f"img{i:07d}.jpg"
        if jpegs:
            (images / name).write_bytes(jpegs[i % len(jpegs)])
        else:
            (images / name).touch()
        doc["images"].append({"id": i, "file_name": name, "width": W, "height": H})
        for b in range(boxes):
            x, y = (i * 7 + b * 50) % 500, (i * 3 + b * 40) % 380
            doc["annotations"].append(
                {"id": i * boxes + b, "image_id": i, "category_id": 1 + (i + b) % 10, "bbox": [x, y, 100, 80]}
            )
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def bench_labeldesk(
    url: str, data: Path, app_id: str = "imports", blob_dir: Path | None = None
) -> dict[str, float]:
    """Import ``data``; with ``blob_dir`` the images are copied into a blob store there (the CLI's
    default), else referenced in place (``--reference-files``)."""
    db = Database(url)
    migrate(db)
    with db.read() as conn:
        if accounts.get_user(conn, "bench") is None:
            admin.create_user(db, "bench")
    admin.create_app(db, "bench", app_id)
    target = imp.Target(imp.resolve_app(db, f"bench/{app_id}"), dataset_id="all")
    hosting = build_hosting(db, replace(Settings.from_env(), blob_dir=str(blob_dir))) if blob_dir else None
    started, cpu_started, writer_started = time.perf_counter(), time.process_time(), time.thread_time()
    summary = imp.import_records(db, target, READERS["coco"](data), hosting=hosting)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    writer = time.thread_time() - writer_started
    db.dispose()
    return {
        "inputs": summary.inputs,
        "boxes": summary.regions,
        "seconds": total,
        "cpu_seconds": cpu,
        "writer_cpu_seconds": writer,
        "inputs_per_s": summary.inputs / total,
        "boxes_per_s": summary.regions / total,
        "inputs_per_cpu_s": summary.inputs / cpu,
        "boxes_per_cpu_s": summary.regions / cpu,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LS_TOKEN = "benchtoken0123456789"


@contextmanager
def label_studio() -> Iterator[tuple[str, dict[str, str], int]]:
    """A Label Studio server on a free loopback port: (base URL, auth headers, server pid).

    Installs Label Studio into its own virtualenv (``.bench-venvs/label-studio``, reused on later
    runs) and keeps its data folder (``.bench-venvs/label-studio-data``: the first start migrates
    its database for minutes). benchmarks/readme_table.py --compare uses it too."""
    import requests

    venv = Path(".bench-venvs/label-studio")
    if not (venv / "bin" / "label-studio").exists():
        print("installing label-studio into", venv, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "label-studio"], check=True)
    home = Path(".bench-venvs/label-studio-data").resolve()  # kept: its first start migrates for minutes
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(home),
        "LABEL_STUDIO_USERNAME": "bench@example.com",
        "LABEL_STUDIO_PASSWORD": "bench-password-1",
        "LABEL_STUDIO_USER_TOKEN": LS_TOKEN,
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        # no telemetry: the benchmark talks to loopback only
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
    }
    cmd = [
        str(venv / "bin" / "label-studio"),
        "start",
        "--no-browser",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = (home / "server.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 1800
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"Label Studio did not start; see {home / 'server.log'}")
            time.sleep(1)
        _enable_token_auth(venv, env)
        yield base, {"Authorization": f"Token {LS_TOKEN}"}, server.pid
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def bench_label_studio(data: Path, n: int, boxes: int) -> dict[str, float]:
    import requests

    with label_studio() as (base, headers, _):
        config = (
            '<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
            + "".join(f'<Label value="class-{c}"/>' for c in range(1, 11))
            + "</RectangleLabels></View>"
        )
        project = requests.post(
            f"{base}/api/projects",
            json={"title": "bench", "label_config": config},
            headers=headers,
            timeout=60,
        ).json()
        doc = json.loads((data / "annotations.json").read_text())
        by_image: dict[int, list[dict[str, Any]]] = {}
        for a in doc["annotations"]:
            by_image.setdefault(a["image_id"], []).append(a)
        tasks = [
            {
                "data": {"image": f"/data/local-files/?d=images/{im['file_name']}"},
                "annotations": [{"result": [_ls_box(a) for a in by_image.get(im["id"], [])]}],
            }
            for im in doc["images"]
        ]
        started = time.perf_counter()
        for i in range(0, len(tasks), 5000):
            r = requests.post(
                f"{base}/api/projects/{project['id']}/import",
                json=tasks[i : i + 5000],
                headers=headers,
                timeout=3600,
            )
            r.raise_for_status()
        total = time.perf_counter() - started
    return {
        "inputs": n,
        "boxes": n * boxes,
        "seconds": total,
        "inputs_per_s": n / total,
        "boxes_per_s": n * boxes / total,
    }


def _enable_token_auth(venv: Path, env: dict[str, str]) -> None:
    """Label Studio 1.14+ refuses its ``Token`` keys unless the organisation allows them."""
    site = next((venv / "lib").glob("python3*/site-packages/label_studio"))
    code = (
        "from jwt_auth.models import JWTSettings; JWTSettings.objects.update(legacy_api_tokens_enabled=True)"
    )
    python = str((venv / "bin" / "python").absolute())
    settings = {**env, "DJANGO_SETTINGS_MODULE": "core.settings.label_studio"}
    subprocess.run(
        [python, "manage.py", "shell", "-c", code],
        cwd=site,
        env=settings,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,  # its banner would land in the tables printed on stdout
    )


def _ls_box(a: dict[str, Any]) -> dict[str, Any]:
    x, y, w, h = a["bbox"]
    return {
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": W,
        "original_height": H,
        "value": {
            "x": 100 * x / W,
            "y": 100 * y / H,
            "width": 100 * w / W,
            "height": 100 * h / H,
            "rectanglelabels": [f"class-{a['category_id']}"],
        },
    }


def measure(args: argparse.Namespace, work: Path) -> list[tuple[str, dict[str, Any]]]:
    """One row per run: generated COCO sets under ``work``, imported into fresh databases."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for n, boxes in enumerate(args.boxes):
        data = make_coco(work / f"coco-{n}", args.inputs, boxes)
        name = "labeldesk import (SQLite)" if not args.database_url else "labeldesk import"
        url = args.database_url or f"sqlite:///{work / f'bench-{n}.db'}"
        rows.append((f"{name}, {boxes} boxes/image", bench_labeldesk(url, data, f"imports{n}")))
        if args.with_label_studio:
            rows.append(
                (f"Label Studio API, {boxes} boxes/image", bench_label_studio(data, args.inputs, boxes))
            )
    if args.copied_inputs:
        data = make_coco(work / "coco-files", args.copied_inputs, 2, small_jpegs())
        url = args.database_url or f"sqlite:///{work / 'bench-files.db'}"
        result = bench_labeldesk(url, data, "imports-files", work / "blobs")
        rows.append(("labeldesk import, files copied, 2 boxes", result))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=50_000)
    ap.add_argument("--boxes", type=int, nargs="+", default=[0, 2], help="boxes per image, one run each")
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file per run")
    ap.add_argument(
        "--copied-inputs",
        type=int,
        default=5_000,
        help="one more run: this many small JPEGs copied into the blob store (0: none)",
    )
    ap.add_argument("--with-label-studio", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        rows = measure(args, work)
    finally:  # the generated sets, databases and blobs (hundreds of MB at 50k inputs)
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average before the run: {load[0]:.1f} (2 cores: above 2, other work shares them)")
    print(
        f"{'system':<38} {'inputs':>7} {'boxes':>7} {'wall s':>7} {'cpu s':>6} {'writer':>6} {'inputs/s':>9} "
        f"{'boxes/s':>9} {'inputs/cpu-s':>12} {'boxes/cpu-s':>11}"
    )
    for name, r in rows:
        cpu = (
            f"{r['cpu_seconds']:>6.2f} {r['writer_cpu_seconds']:>6.2f}"
            if "cpu_seconds" in r
            else f"{'-':>6} {'-':>6}"
        )
        per_cpu = (
            f"{r['inputs_per_cpu_s']:>12,.0f} {r['boxes_per_cpu_s']:>11,.0f}"
            if "cpu_seconds" in r
            else f"{'-':>12} {'-':>11}"
        )
        print(
            f"{name:<38} {r['inputs']:>7.0f} {r['boxes']:>7.0f} {r['seconds']:>7.2f} {cpu} "
            f"{r['inputs_per_s']:>9,.0f} {r['boxes_per_s']:>9,.0f} {per_cpu}"
        )


if __name__ == "__main__":
    main()
