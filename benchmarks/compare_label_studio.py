"""Label Studio on the workload of benchmarks/annotations.py, for ``readme_table.py --compare``.

Label Studio (its own virtualenv and SQLite database, started by ``import_bench.label_studio``)
gets a project whose labeling config matches labeldesk's benchmark annotation (two image-level
choices and one bounding box with a label), 1,000 tasks carrying one annotation each, and then:

- list all: ``GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true`` (every task
  with its annotations: the closest Label Studio has to listing an app's annotations);
- create, 1 and 8 clients, 1/request: ``POST /api/tasks/{id}/annotations/``;
- create, 1 client, 128/request: Label Studio has no batch annotation create, so this is its
  import API with 128 tasks carrying one annotation each per request (it also creates the tasks).

Each row carries the server's CPU seconds (the process and its children, via psutil:
``work_queue.ServerCpu``) as labeldesk's rows do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from annotations import Server, run_threads
from import_bench import label_studio
from work_queue import ServerCpu

TASKS = 1000
CONFIG = (
    '<View><Image name="image" value="$image"/>'
    '<Choices name="tags" toName="image" choice="multiple"><Choice value="tree"/><Choice value="car"/>'
    '</Choices><RectangleLabels name="box" toName="image"><Label value="dog"/><Label value="cat"/>'
    "</RectangleLabels></View>"
)
RESULT = [
    {"from_name": "tags", "to_name": "image", "type": "choices", "value": {"choices": ["tree"]}},
    {
        "from_name": "box",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 640,
        "original_height": 480,
        "value": {"x": 20.0, "y": 10.0, "width": 50.0, "height": 50.0, "rectanglelabels": ["dog"]},
    },
]


@dataclass
class LsRow:
    what: str
    count: int
    seconds: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def _task(i: int) -> dict[str, Any]:
    return {"data": {"image": f"https://example.com/{i}.jpg"}, "annotations": [{"result": RESULT}]}


def run(quick: bool, log: Callable[[str], None]) -> list[LsRow]:
    seconds = 5.0 if quick else 8.0  # Label Studio answers a few requests per second: 1 s is too few
    rows: list[LsRow] = []
    with label_studio() as (base, headers, pid):
        cpu = ServerCpu([Server(base, 0, pid)])  # Label Studio's server and its children
        session = requests.Session()
        session.headers.update(headers)
        project = session.post(
            f"{base}/api/projects", json={"title": "compare", "label_config": CONFIG}, timeout=60
        ).json()
        pid_url = f"{base}/api/projects/{project['id']}"
        session.post(
            f"{pid_url}/import", json=[_task(i) for i in range(TASKS)], timeout=600
        ).raise_for_status()
        task_ids = _task_ids(session, base, project["id"])
        log(f"Label Studio: project {project['id']} with {len(task_ids):,} annotated tasks")

        def measure(what: str, fn: Callable[[], tuple[int, float]]) -> None:
            before = cpu()
            count, elapsed = fn()
            rows.append(LsRow(what, count, elapsed, cpu() - before))
            log(f"Label Studio {what}: {count:,} in {elapsed:.2f}s ({count / elapsed:,.0f}/s)")

        def list_all() -> tuple[int, float]:
            began = time.perf_counter()
            url = f"{pid_url}/export?exportType=JSON&download_all_tasks=true"
            tasks = session.get(url, timeout=600).json()
            return sum(len(t["annotations"]) for t in tasks), time.perf_counter() - began

        measure("list all", list_all)
        for clients in (1, 8):
            what = f"create, {clients} client{'s' if clients > 1 else ''}, 1/request"
            measure(what, lambda c=clients: _create(base, headers, task_ids, c, seconds))  # type: ignore[misc]
        measure("create, 1 client, 128/request", lambda: _import_batches(session, pid_url, seconds))
    return rows


def _task_ids(session: requests.Session, base: str, project: int) -> list[int]:
    got = session.get(
        f"{base}/api/tasks", params={"project": project, "page_size": TASKS}, timeout=120
    ).json()
    tasks = got["tasks"] if isinstance(got, dict) else got
    return [int(t["id"]) for t in tasks]


def _create(
    base: str, headers: dict[str, str], task_ids: list[int], clients: int, seconds: float
) -> tuple[int, float]:
    counts = [0] * clients
    window = [0.0]

    def work(k: int) -> None:
        s = requests.Session()
        s.headers.update(headers)
        n = k
        while time.perf_counter() < window[0] + seconds:
            tid = task_ids[n % len(task_ids)]
            r = s.post(f"{base}/api/tasks/{tid}/annotations/", json={"result": RESULT}, timeout=60)
            r.raise_for_status()
            counts[k] += 1
            n += clients

    window[0] = time.perf_counter()
    run_threads(clients, work)
    return sum(counts), time.perf_counter() - window[0]


def _import_batches(session: requests.Session, project_url: str, seconds: float) -> tuple[int, float]:
    began, count = time.perf_counter(), 0
    batch = [_task(i) for i in range(128)]
    while time.perf_counter() < began + seconds:
        session.post(f"{project_url}/import", json=batch, timeout=600).raise_for_status()
        count += len(batch)
    return count, time.perf_counter() - began
