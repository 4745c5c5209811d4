"""``labeldesk import --server`` and ``labeldesk jobs`` against a real server started here: imports
run as background jobs (a folder on the server, or an uploaded archive), watched with a bar of
records to a summary; ``--no-wait`` prints only the job id; jobs are listed and cancelled; a bad
key, an unreachable server and a failing job end with one line on stderr and exit status 1; Ctrl-C
stops watching only."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

from labeldesk.app import RunningServer, build
from labeldesk.cli import main
from labeldesk.client import rest, upload
from labeldesk.client.rest import M
from labeldesk.config import Settings
from labeldesk.services import admin
from tests.api.test_import_export import make_coco

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The servers' LABELDESK_IMPORT_ROOT: a good COCO folder, one with a box outside its image,
    one whose annotations.json is broken."""
    root = tmp_path_factory.mktemp("cli-import-root")
    make_coco(root / "coco")
    bad = make_coco(root / "bad")
    doc = json.loads((bad / "annotations.json").read_text())
    doc["annotations"][4]["bbox"] = [70, 0, 20, 10]  # green is 80 wide
    (bad / "annotations.json").write_text(json.dumps(doc))
    make_coco(root / "broken")
    (root / "broken" / "annotations.json").write_text('{"images": [')
    return root


def _start(tmp_path_factory: pytest.TempPathFactory, root: Path, with_worker: bool) -> RunningServer:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli-jobs') / 'jobs.db'}"
    lab = build(url, settings=Settings(import_root=str(root)))
    # without export links no job worker starts: the server's jobs stay queued
    return RunningServer(lab if with_worker else replace(lab, exports=None), "127.0.0.1", 0, 0).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, root: Path) -> Iterator[RunningServer]:
    running = _start(tmp_path_factory, root, with_worker=True)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory, root: Path) -> Iterator[RunningServer]:
    """A server whose job worker is not running: a job started there waits, queued."""
    running = _start(tmp_path_factory, root, with_worker=False)
    yield running
    running.stop()


@dataclass
class Remote:
    """A fresh user and app on a running server, and the CLI pointed at them (LABELDESK_SERVER,
    LABELDESK_KEY)."""

    server: RunningServer
    user: str
    pat: str

    @classmethod
    def on(cls, server: RunningServer) -> Remote:
        user = f"cli{time.monotonic_ns()}"
        pat = admin.create_user(server.app.db, user)
        admin.create_app(server.app.db, user, "app")
        return cls(server, user, pat)

    @property
    def app(self) -> str:
        return f"{self.user}/app"

    def env(self, **extra: str | None) -> dict[str, str | None]:
        base = {"LABELDESK_SERVER": self.server.base_url, "LABELDESK_KEY": self.pat, "CLARIFAI_PAT": None}
        return {**base, **extra}

    def cli(self, *args: str, **env: str | None) -> Result:
        return CliRunner(env=self.env(**env)).invoke(main, list(args), catch_exceptions=False)

    def uploads(self) -> list[str]:
        r = requests.get(
            f"{self.server.base_url}/v2/users/{self.user}/apps/app/uploads",
            headers={"Authorization": f"Key {self.pat}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return [u["id"] for u in r.json().get("uploads", [])]

    def inputs(self, dataset: str = "") -> set[str]:
        where = f"/datasets/{dataset}/inputs" if dataset else "/inputs"
        r = requests.get(
            f"{self.server.base_url}/v2/users/{self.user}/apps/app{where}?per_page=100",
            headers={"Authorization": f"Key {self.pat}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        return (
            {d["input"]["id"] for d in body["dataset_inputs"]}
            if dataset
            else {i["id"] for i in body["inputs"]}
        )


@pytest.fixture
def remote(server: RunningServer) -> Remote:
    return Remote.on(server)


def test_a_server_path_import_runs_as_a_job_watched_to_its_summary(remote: Remote, root: Path) -> None:
    res = remote.cli("import", "--app", remote.app, "--server-path", f"file://{root}/coco", "--dataset", "d1")
    assert res.exit_code == 0, res.output
    assert res.stdout == ""  # messages only on stderr
    (job_id,) = re.findall(r"import job ([0-9a-f]{32}) started", res.stderr)
    assert "3/3 records" in res.stderr
    assert f"job {job_id} completed: 3 inputs added (0 already there), 3 annotations" in res.stderr
    assert remote.inputs("d1") == {"red", "green", "blue"}

    # a PATH given as a file:// URL is a folder on the server too; the format may be named
    again = remote.cli("import", "--app", remote.app, "--format", "coco", f"file://{root}/coco")
    assert again.exit_code == 0, again.output
    assert "completed: 0 inputs added (3 already there), 0 annotations" in again.stderr
    assert remote.inputs() == {"red", "green", "blue"}  # no duplicates


def test_no_wait_prints_only_the_job_id_and_jobs_watch_follows_it(remote: Remote, root: Path) -> None:
    res = remote.cli("import", "--app", remote.app, "--server-path", f"file://{root}/coco", "--no-wait")
    assert res.exit_code == 0, res.output
    job_id = res.stdout.strip()
    assert JOB_ID.match(job_id), res.stdout
    assert f"import job {job_id} started on {remote.server.base_url}" in res.stderr

    watched = remote.cli("jobs", "watch", job_id, "--app", remote.app)
    assert watched.exit_code == 0, watched.output
    assert f"job {job_id} completed: 3 inputs" in watched.stderr
    assert watched.stdout == ""

    listed = remote.cli("jobs", "list", "--app", remote.app)
    assert listed.exit_code == 0, listed.output
    (row,) = [line.split() for line in listed.stdout.splitlines() if job_id in line]
    assert row[:4] == [job_id, "completed", "3/3", "(100%)"], listed.stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", row[4]), row
    assert listed.stdout.splitlines()[0].split() == ["id", "status", "progress", "created"]

    # a PostInputs call's own job is no import: listed with --all only
    posted = requests.post(
        f"{remote.server.base_url}/v2/users/{remote.user}/apps/app/inputs",
        headers={"Authorization": f"Key {remote.pat}"},
        json={"inputs": [{"id": "one-more", "data": {"text": {"raw": "hi"}}}]},
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    own = posted.json()["inputs_add_job"]["id"]
    listed = remote.cli("jobs", "list", "--app", remote.app)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == [job_id], listed.stdout
    every = remote.cli("jobs", "list", "--all", "--app", remote.app)
    assert [line.split()[0] for line in every.stdout.splitlines()[1:]] == [own, job_id], every.stdout


def test_skipped_records_are_counted_and_listed_in_the_summary(remote: Remote, root: Path) -> None:
    res = remote.cli("import", "--app", remote.app, "--server-path", f"file://{root}/bad")
    assert res.exit_code == 0, res.output
    assert re.search(r"completed: .*1 record skipped", res.stderr), res.stderr
    assert f"  skipped {root}/bad/annotations.json: annotations[4]: bbox [70, 0, 20, 10]: box" in res.stderr
    assert remote.inputs() == {"red", "blue"}


def test_a_failing_job_ends_with_the_servers_error_and_exit_1(remote: Remote, root: Path) -> None:
    res = remote.cli(
        "import", "--app", remote.app, "--format", "coco", "--server-path", f"file://{root}/broken"
    )
    assert res.exit_code == 1, res.output
    assert re.search(r"error: job [0-9a-f]{32} failed: .*annotations\.json", res.stderr), res.stderr
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"LABELDESK_KEY": "not-a-key"}, "error: API key or personal access token missing or invalid"),
        (
            (),
            {"LABELDESK_SERVER": "http://127.0.0.1:9"},
            "error: cannot reach http://127.0.0.1:9: connection refused",
        ),
        (
            (),
            {"LABELDESK_SERVER": "localhost:8080"},
            "error: --server 'localhost:8080' is not a URL like http",
        ),
        (("--server-path", "file:///elsewhere"), {}, "is not below the import root"),
    ],
)
def test_a_call_that_fails_says_why_in_one_line_and_exits_1(
    remote: Remote, root: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    res = remote.cli(
        "import", "--app", remote.app, *(args or ("--server-path", f"file://{root}/coco")), **env
    )
    assert res.exit_code == 1, res.output
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stdout == ""


def test_the_key_may_come_from_clarifai_pat_and_a_missing_one_is_asked_for(remote: Remote) -> None:
    res = remote.cli("jobs", "list", "--app", remote.app, LABELDESK_KEY=None, CLARIFAI_PAT=remote.pat)
    assert res.exit_code == 0, res.output
    res = remote.cli("jobs", "list", "--app", remote.app, LABELDESK_KEY=None)
    assert res.exit_code == 2 and "give an API key or PAT" in res.stderr
    res = remote.cli("jobs", "list", "--app", remote.app, LABELDESK_SERVER=None)
    assert res.exit_code == 2 and "Missing option '--server'" in res.stderr


#: ``python -m labeldesk.cli`` with Ctrl-C raising KeyboardInterrupt even when this run ignores
#: SIGINT (a shell's background job does: an ignored SIGINT is inherited, and Python then never
#: raises it). Set in the child's own code, not with ``preexec_fn``: that makes subprocess fork()
#: and run grpc's fork handlers in the child, which (while this process's gRPC threads are busy)
#: can print a gRPC error line on the child's stderr before the CLI's first.
_CLI = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('labeldesk.cli', run_name='__main__', alter_sys=True)"
)


def _interrupted(
    remote: Remote, args: list[str], first: str, ready: Callable[[], bool] = lambda: True
) -> tuple[int, str, str]:
    """Run the CLI in a process, press Ctrl-C once its first line on stderr starts with
    ``first`` and ``ready()`` holds: its exit status, stdout and stderr."""
    env = {k: v for k, v in {**os.environ, **remote.env()}.items() if v is not None}
    with subprocess.Popen(
        [sys.executable, "-c", _CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            assert line.startswith(first), line
            deadline = time.monotonic() + 30
            while not ready():
                assert time.monotonic() < deadline, "never ready"
                time.sleep(0.01)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        except BaseException:  # else leaving the block waits for the CLI, which may wait for ever
            process.kill()
            raise
    assert "Traceback" not in err, err
    return process.returncode, out, err


def test_ctrl_c_stops_an_upload_and_nothing_is_imported(idle_server: RunningServer, tmp_path: Path) -> None:
    remote = Remote.on(idle_server)
    big = tmp_path / "big.zip"
    with big.open("wb") as f:  # 12 parts of 8 MiB
        for _ in range(96):
            f.write(os.urandom(1024 * 1024))
    code, out, err = _interrupted(
        remote,
        ["import", "--app", remote.app, str(big)],
        "uploading big.zip",
        ready=lambda: bool(remote.uploads()),  # the upload is under way on the server
    )
    assert (code, out) == (130, ""), err
    assert "upload stopped: nothing was imported; what was sent is deleted from the server" in err
    assert remote.cli("jobs", "list", "--app", remote.app).stdout.splitlines()[1:] == []
    assert remote.uploads() == []


class RefusingRemote(rest.Remote):
    """The real client whose second part is refused for good (a mistake, not a dropped line)."""

    def put_upload_content_part(
        self, upload_id: str, part_number: int, range_start: int, data_b64: bytes
    ) -> rest.resources_pb2.Upload:
        if part_number == 2:
            raise rest.RemoteError("part 2 refused")
        return super().put_upload_content_part(upload_id, part_number, range_start, data_b64)


def test_an_upload_that_fails_for_good_is_deleted_from_the_server(remote: Remote, tmp_path: Path) -> None:
    archive = tmp_path / "data.zip"
    archive.write_bytes(os.urandom(3000))
    client = RefusingRemote(remote.server.base_url, remote.pat, remote.user, "app")
    with pytest.raises(rest.RemoteError, match="part 2 refused"):
        upload.upload_file(client, archive, lambda _: None, part_bytes=1024)
    assert remote.uploads() == []  # part 1 went up, and the upload went again


def test_ctrl_c_stops_watching_and_says_how_to_watch_again(idle_server: RunningServer, root: Path) -> None:
    remote = Remote.on(idle_server)
    res = remote.cli("import", "--app", remote.app, "--server-path", f"file://{root}/coco", "--no-wait")
    job_id = res.stdout.strip()
    code, out, err = _interrupted(
        remote, ["jobs", "watch", job_id, "--app", remote.app], f"watching job {job_id}"
    )
    assert (code, out) == (130, ""), err
    assert f"job {job_id} keeps running on the server" in err
    assert f"labeldesk jobs watch {job_id} --server {idle_server.base_url} --app {remote.app}" in err
    assert "Traceback" not in err


def test_a_local_folder_is_packed_uploaded_and_imported(remote: Remote, tmp_path: Path) -> None:
    src = make_coco(tmp_path / "coco")
    res = remote.cli("import", "--app", remote.app, "--format", "coco", str(src), "--dataset", "up")
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert re.search(r"uploaded coco\.zip \([\d,]+ bytes\) as upload \S+", res.stderr), res.stderr
    assert "completed: 3 inputs" in res.stderr
    assert remote.inputs("up") == {"red", "green", "blue"}


@pytest.mark.parametrize("kind", ["zip", "gztar"])
def test_a_ready_archive_is_sent_as_it_is_and_its_format_detected(
    remote: Remote, tmp_path: Path, kind: str
) -> None:
    src = make_coco(tmp_path / "coco")
    archive = Path(shutil.make_archive(str(tmp_path / "dataset"), kind, src.parent, "coco"))
    res = remote.cli("import", "--app", remote.app, str(archive), "--no-wait")
    assert res.exit_code == 0, res.output
    assert f"uploaded {archive.name} ({archive.stat().st_size:,} bytes)" in res.stderr
    job_id = res.stdout.strip()
    watched = remote.cli("jobs", "watch", job_id, "--app", remote.app)
    assert watched.exit_code == 0, watched.output
    assert remote.inputs() == {"red", "green", "blue"}


class FlakyRemote(rest.Remote):
    """The real client whose first try of every part fails as a dropped connection would (and
    is sent again without waiting)."""

    tried: set[int]
    retry_delay = 0.0
    #: content-parts requests sent
    sends = 0

    def _send(self, verb: str, path: str, answer: type[M], data: str | bytes | None) -> M:
        if path.endswith("/content_parts"):
            self.sends += 1
            assert isinstance(data, bytes)
            number = json.loads(data)["content_parts"][0]["part_number"]
            if number not in self.tried:
                self.tried.add(number)
                raise rest.TransientError("connection reset")
        return super()._send(verb, path, answer, data)


def test_an_archive_goes_in_parts_and_a_failed_part_is_sent_again(remote: Remote, tmp_path: Path) -> None:
    src = make_coco(tmp_path / "coco")
    archive = Path(shutil.make_archive(str(tmp_path / "coco"), "zip", src))
    client = FlakyRemote(remote.server.base_url, remote.pat, remote.user, "app")
    client.tried = set()
    sent: list[int] = []
    done = upload.upload_file(client, archive, sent.append, part_bytes=1024)
    size = archive.stat().st_size
    assert sum(sent) == size and len(sent) == -(-size // 1024) > 1
    assert client.tried == set(range(1, len(sent) + 1))
    job = client.post_inputs_uploads(done.id, "coco", "")
    assert client.wait_for_job(job.id, lambda _: None).status.code == rest.status_code_pb2.JOB_COMPLETED
    assert remote.inputs() == {"red", "green", "blue"}


def test_a_part_refused_by_the_server_is_not_sent_again(remote: Remote, tmp_path: Path) -> None:
    """A mistake (here: an upload that does not exist) is reported at once, not retried."""
    client = FlakyRemote(remote.server.base_url, remote.pat, remote.user, "app")
    client.tried = {1}
    with pytest.raises(rest.ApiStatusError) as e:
        upload.send_part(client, "no-such-upload", 1, 0, b"PK")
    assert "no-such-upload" in str(e.value)
    assert client.sends == 1


def test_jobs_cancel_stops_a_queued_job_and_watching_it_then_fails(
    idle_server: RunningServer, root: Path
) -> None:
    remote = Remote.on(idle_server)
    job_id = remote.cli(
        "import", "--app", remote.app, "--server-path", f"file://{root}/coco", "--no-wait"
    ).stdout.strip()
    res = remote.cli("jobs", "cancel", job_id, "--app", remote.app)
    assert res.exit_code == 0, res.output
    assert f"job {job_id}: cancelled" in res.stderr
    watched = remote.cli("jobs", "watch", job_id, "--app", remote.app)
    assert watched.exit_code == 1, watched.output
    assert f"error: job {job_id} cancelled" in watched.stderr
    listed = remote.cli("jobs", "list", "--app", remote.app)
    assert [job_id, "cancelled"] in [line.split()[:2] for line in listed.stdout.splitlines()]


def test_a_finished_job_cannot_be_cancelled(remote: Remote, root: Path) -> None:
    res = remote.cli("import", "--app", remote.app, "--server-path", f"file://{root}/coco")
    (job_id,) = re.findall(r"import job ([0-9a-f]{32}) started", res.stderr)
    cancelled = remote.cli("jobs", "cancel", job_id, "--app", remote.app)
    assert cancelled.exit_code == 1
    assert f"error: inputs add job '{job_id}' has already completed" in cancelled.stderr
    missing = remote.cli("jobs", "watch", "nope", "--app", remote.app)
    assert missing.exit_code == 1 and "error: inputs add job 'nope' does not exist" in missing.stderr
