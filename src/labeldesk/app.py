"""Explicit wiring, in one place: engine → services → dispatcher → transports."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import uvicorn
from sqlalchemy import make_url

from labeldesk.config import Settings
from labeldesk.files.signing import UrlSigner
from labeldesk.files.store import LocalDirStore
from labeldesk.jobs.kinds import export_links, job_worker
from labeldesk.jobs.version_exports import collect_archives
from labeldesk.jobs.worker import Worker
from labeldesk.ops.metrics import Metrics
from labeldesk.ops.observe import Observer
from labeldesk.ops.peer_metrics import SCRAPE_TIMEOUT_SECONDS, PeerScrape, answer_scrapes
from labeldesk.services import model_late_inputs as late_inputs
from labeldesk.services import uploads
from labeldesk.services.annotations import AnnotationsService
from labeldesk.services.apps import AppsService
from labeldesk.services.assignments import AssignmentsService
from labeldesk.services.auth import Authenticator
from labeldesk.services.concept_relations import ConceptRelationsService
from labeldesk.services.concepts import ConceptsService
from labeldesk.services.dataset_versions import DatasetVersionsService
from labeldesk.services.datasets import DatasetsService
from labeldesk.services.dispatch import Dispatcher
from labeldesk.services.export_links import ExportLinks
from labeldesk.services.hosting import Hosting
from labeldesk.services.import_jobs import ImportJobsService
from labeldesk.services.input_jobs import InputJobsService
from labeldesk.services.inputs import InputsService
from labeldesk.services.model_outputs import ModelOutputsService
from labeldesk.services.models import ModelsService
from labeldesk.services.searches import SearchesService
from labeldesk.services.staged import StagedService
from labeldesk.services.task_annotations import TaskAnnotationsService
from labeldesk.services.tasks import TasksService
from labeldesk.services.uploads import UploadsService
from labeldesk.services.users import UsersService
from labeldesk.storage import sweep_turns
from labeldesk.storage.engine import Database, is_sqlite
from labeldesk.storage.migrate import migrate
from labeldesk.storage.repos import secrets
from labeldesk.transport.grpc.cq_server import CompletionQueueServer
from labeldesk.transport.grpc.server import make_grpc_server
from labeldesk.transport.rest.app import RestApp, make_rest_app
from labeldesk.transport.rest.exports import export_routes
from labeldesk.transport.rest.files import file_routes
from labeldesk.transport.rest.http_server import HttpServer
from labeldesk.transport.rest.staged import staged_routes
from labeldesk.transport.rest.web import web_routes
from labeldesk.transport.workers import batch_scheduling

log = logging.getLogger("labeldesk")


def build_services(
    hosting: Hosting | None = None, settings: Settings | None = None, exports: ExportLinks | None = None
) -> list[object]:
    """The service objects (without ``hosting``, inputs posted as bytes are refused)."""
    return [
        AppsService(),
        ConceptsService(),
        InputsService(hosting),
        InputJobsService(),
        ConceptRelationsService(),
        UsersService(),
        DatasetsService(),
        SearchesService(),
        AnnotationsService(),
        TasksService(),
        TaskAnnotationsService(),
        AssignmentsService(settings or Settings()),
        ImportJobsService(settings or Settings()),
        UploadsService(hosting, settings or Settings()),
        ModelsService(),
        ModelOutputsService(hosting),
        # without ``exports`` (the API coverage listing) archives have nowhere to go
        DatasetVersionsService(exports or ExportLinks(LocalDirStore(Path("labeldesk.blobs")), b"")),
    ]


@dataclass
class Labeldesk:
    db: Database
    dispatcher: Dispatcher
    rest: RestApp
    hosting: Hosting
    #: both transports' request records (metrics samples and access-log lines)
    observer: Observer
    settings: Settings = field(default_factory=Settings)
    exports: ExportLinks | None = None

    @property
    def metrics(self) -> Metrics:
        """What ``/metrics`` shows: the observer's."""
        return self.observer.metrics


def default_blob_dir(database_url: str, env: Mapping[str, str] | None = None) -> Path:
    """Where hosted files and version archives go without --blob-dir: ``<stem>.blobs`` beside a
    SQLite file; for a server database, a per-user data folder named after the database,
    ``$XDG_DATA_HOME/labeldesk/<host>-<port>-<database>.blobs`` (``~/.local/share`` when
    XDG_DATA_HOME is unset), never the folder the server happens to start in."""
    if is_sqlite(database_url):
        db_file = Path(make_url(database_url).database or "labeldesk.db")
        return db_file.with_name(db_file.stem + ".blobs")
    env = os.environ if env is None else env
    url = make_url(database_url)
    data = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    name = "-".join(str(part) for part in (url.host or "local", url.port or "default", url.database or "db"))
    return data / "labeldesk" / f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.blobs"


def build_hosting(db: Database, settings: Settings) -> Hosting:
    """The blob store and URL signer (the secret is made once and kept in the database)."""
    with db.write() as conn:
        secret = secrets.get_or_create(conn, "files")
    store = LocalDirStore(settings.blob_dir or default_blob_dir(db.url))
    signer = UrlSigner(secret, int(settings.files_url_ttl_seconds))
    return Hosting(db, store, signer, settings.max_upload_bytes)


def build(
    database_url: str, run_migrations: bool = True, settings: Settings | None = None, processes: int = 1
) -> Labeldesk:
    """The whole server over ``database_url``; ``settings`` default to the environment's.
    ``processes`` > 1: one of several server processes sharing the database (serve --workers)."""
    settings = settings or Settings.from_env()
    db = Database(database_url, shared_file=processes > 1, turns=settings.db_concurrency)
    if run_migrations:
        migrate(db)
    hosting = build_hosting(db, settings)
    exports = export_links(db, hosting.store)
    dispatcher = Dispatcher(
        db, build_services(hosting, settings, exports), Authenticator(), hosting.signer, settings.public_url
    )
    staged = staged_routes(StagedService(dispatcher.auth), dispatcher)
    observer = Observer(Metrics(db.engine, db.counts, db.kept_idle))
    rest = make_rest_app(
        dispatcher,
        extra_routes=[*file_routes(hosting), *export_routes(exports), *staged, *web_routes()],
        max_body_bytes=settings.max_body_bytes,
        cors_origins=settings.cors_origins,
        observer=observer,
    )
    return Labeldesk(
        db=db,
        dispatcher=dispatcher,
        rest=rest,
        hosting=hosting,
        settings=settings,
        exports=exports,
        observer=observer,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it Nagle holds each keep-alive response until the
    # client's delayed ACK of the previous one (~40 ms per REST call instead of ~1 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen for HTTP on {host}:{port}: {e.strerror}") from e
    sock.listen(2048)
    return sock


OPTIMIZE_EVERY_SECONDS = 300
FILES_GC_EVERY_SECONDS = 60
SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Tls:
    """PEM files for both ports (the certificate may carry its chain)."""

    cert: str
    key: str

    def grpc_credentials(self) -> grpc.ServerCredentials:
        with open(self.key, "rb") as key, open(self.cert, "rb") as cert:
            return grpc.ssl_server_credentials([(key.read(), cert.read())])


@dataclass
class RunningServer:
    """Both transports of one process, started in background threads (used by serve and tests)."""

    app: Labeldesk
    host: str
    http_port: int
    grpc_port: int
    tls: Tls | None = None
    #: how long in-flight requests may run on after stop() before they are cut off
    shutdown_grace: float = SHUTDOWN_GRACE_SECONDS
    _http: uvicorn.Server | None = None
    _grpc: CompletionQueueServer | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _worker: Worker | None = None
    #: server processes in all (serve --workers): this one plus ``workers - 1`` more
    workers: int = 1
    _children: list[multiprocessing.process.BaseProcess] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.http_port}"

    @property
    def alive(self) -> bool:
        """False once the HTTP server's thread has ended (it failed or was stopped)."""
        return any(t.is_alive() for t in self._threads)

    def start(self) -> RunningServer:
        if self.app.settings.sched_batch:  # before the server's threads start: they inherit it
            batch_scheduling()
        sock = _listen(self.host, self.http_port)
        self.http_port = sock.getsockname()[1]
        self._grpc, self.grpc_port = make_grpc_server(
            self.app.dispatcher,
            self.host,
            self.grpc_port,
            max_message_bytes=self.app.settings.max_body_bytes,
            observer=self.app.observer,
            credentials=self.tls.grpc_credentials() if self.tls else None,
            origin=self.base_url,
        )
        self._grpc.start()
        self._spawn_workers(sock)
        self._http, thread = _serve_http(self.app, sock, self.tls, self.shutdown_grace)
        self._threads.append(thread)
        if self.app.db.sqlite:  # refresh planner statistics as tables grow
            self._every(OPTIMIZE_EVERY_SECONDS, self.app.db.optimize, "PRAGMA optimize")
        # delete the stored files of deleted inputs
        gc = FILES_GC_EVERY_SECONDS
        self._every(gc, self.app.hosting.collect_garbage, "hosted-files collection", shared=True)
        if self.app.exports is not None:
            self.app.exports.server_origin = self.app.exports.server_origin or self.base_url
            lease = self.app.settings.job_lease_seconds
            self._worker = job_worker(self.app.db, self.app.exports, self.app.hosting, lease).start()
            links = self.app.exports  # archives of versions (or apps) deleted meanwhile
            self._every(gc, lambda: collect_archives(self.app.db, links), "archives", shared=True)
            hosting = self.app.hosting  # uploads left unimported for a day
            self._every(gc, lambda: uploads.sweep(hosting.db, hosting.store), "uploads", shared=True)
            # the bytes of uploads deleted or expired by a server that died before deleting them
            self._every(gc, lambda: uploads.collect_orphans(hosting.db, hosting.store), "parts", shared=True)
            # inputs that joined the source of a model-only task after its job finished: a read,
            # but one that looks below each finished model's mark (an anti-join of the task's
            # source with its decisions), so once per period between all processes and replicas
            rescan, db = self.app.settings.source_rescan_seconds, self.app.db
            period = max(rescan, late_inputs.MIN_PERIOD_SECONDS)
            self._every(period, lambda: late_inputs.sweep(db), "late inputs of model tasks", shared=True)
        return self

    def _spawn_workers(self, http: socket.socket) -> None:
        """``workers - 1`` more processes serving both transports over the same database: gRPC on
        the same port (SO_REUSEPORT, which gRPC sets: the kernel spreads new connections over the
        processes), REST on this process's listening socket (each process accepts from it when
        it is free to; no other program can take the port meanwhile, as it could with
        SO_REUSEPORT)."""
        spawn = multiprocessing.get_context("spawn")
        readiness = []
        for n in range(1, self.workers):
            ready = spawn.Event()
            scrapes, their_scrapes = spawn.Pipe()
            whole, their_whole = spawn.Pipe()
            args = (
                self.app.db.url,
                self.host,
                self.grpc_port,
                http,
                self.base_url,
                self.app.settings,
                self.tls,
                self.shutdown_grace,
                os.getpid(),
                self.workers,
                ready,
                their_scrapes,
                their_whole,
            )
            name = f"labeldesk-worker-{n}"
            child = spawn.Process(target=_worker_process, args=args, name=name, daemon=True)
            child.start()
            their_scrapes.close()  # the child has its copies
            their_whole.close()
            # its metrics join this process's /metrics, and its /metrics answers this one's
            # (ops/peer_metrics.py)
            self.app.observer.metrics.add_peer(str(n), PeerScrape(scrapes))
            answer_scrapes(whole, self.app.observer.metrics.render)
            self._children.append(child)
            readiness.append(ready)
        # the server counts as started once every process listens: connections made before a
        # process binds its socket would all land on the others
        for process, up in zip(self._children, readiness):
            while not up.wait(0.2):
                if not process.is_alive():
                    raise RuntimeError(f"worker process {process.name} exited before it listened")

    def _every(self, seconds: float, job: Callable[[], object], what: str, shared: bool = False) -> None:
        """Run ``job`` now and every ``seconds`` in a background thread until the server stops;
        ``shared``: once per period between all the replicas on the database (the one whose turn
        it is runs it, :mod:`labeldesk.storage.sweep_turns`), not in every one."""
        db = self.app.db

        def loop() -> None:
            while True:
                try:
                    if not shared or sweep_turns.take(db, what, seconds):
                        job()
                except Exception:  # maintenance must never take the server down
                    log.warning("%s failed", what, exc_info=True)
                if self._stopping.wait(seconds):
                    return

        threading.Thread(target=loop, daemon=True, name=what).start()

    def wait(self) -> None:
        for t in self._threads:
            while t.is_alive():
                t.join(0.5)

    def stop(self) -> None:
        """Refuse new requests, let in-flight ones finish for up to ``shutdown_grace`` seconds
        (then cut them off), release the database. Returns within about the grace period."""
        deadline = time.monotonic() + self.shutdown_grace + 1
        self._stopping.set()
        if self._worker is not None:
            self._worker.stop()
        if self._http is not None:
            self._http.should_exit = True
        grpc_stopped = self._grpc.stop(grace=self.shutdown_grace) if self._grpc is not None else None
        for child in self._children:
            child.terminate()  # SIGTERM: it stops like this process, within the grace period
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if grpc_stopped is not None:
            grpc_stopped.wait(max(0.0, deadline - time.monotonic()))
        for child in self._children:
            child.join(max(0.0, deadline - time.monotonic()))
        self.app.observer.close()
        self.app.db.dispose()


def start_server(
    database_url: str,
    host: str = "127.0.0.1",
    http_port: int = 8080,
    grpc_port: int = 18080,
    settings: Settings | None = None,
    tls: Tls | None = None,
    shutdown_grace: float = SHUTDOWN_GRACE_SECONDS,
    workers: int = 1,
) -> RunningServer:
    """Both transports; with ``workers`` > 1, that many processes serve them on their ports."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    app = build(database_url, settings=settings, processes=workers)
    return RunningServer(app, host, http_port, grpc_port, tls, shutdown_grace, workers=workers).start()


def _serve_http(
    app: Labeldesk, sock: socket.socket, tls: Tls | None, grace: float
) -> tuple[HttpServer, threading.Thread]:
    """The REST app on the listening socket ``sock``, in a thread; answers once it accepts."""
    config = uvicorn.Config(
        app.rest,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=max(1, round(grace)),
        ssl_certfile=tls.cert if tls else None,
        ssl_keyfile=tls.key if tls else None,
    )
    http = HttpServer(config)
    thread = threading.Thread(target=http.run, kwargs={"sockets": [sock]}, daemon=True, name="http")
    thread.start()
    while not http.started:
        if not thread.is_alive():
            raise RuntimeError("the HTTP server failed to start")
        thread.join(0.01)
    return http, thread


def _worker_process(
    url: str,
    host: str,
    port: int,
    http: socket.socket,
    origin: str,
    settings: Settings,
    tls: Tls | None,
    grace: float,
    parent: int,
    processes: int,
    ready: multiprocessing.synchronize.Event,
    scrapes: Connection,
    whole: Connection,
) -> None:
    """One more server process (see :meth:`RunningServer._spawn_workers`): gRPC and REST, no
    background jobs; serves until SIGTERM or until its parent is gone. Ctrl-C is the parent's to
    handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    if settings.sched_batch:
        batch_scheduling()
    app = build(url, run_migrations=False, settings=settings, processes=processes)
    if app.exports is not None:  # links in REST answers point at the server's address
        app.exports.server_origin = app.exports.server_origin or origin
    metrics = app.observer.metrics
    answer_scrapes(scrapes, metrics.render)  # the first process's /metrics asks
    # peers are asked one after the other, each for up to SCRAPE_TIMEOUT_SECONDS
    metrics.served_by(PeerScrape(whole, timeout=SCRAPE_TIMEOUT_SECONDS * processes + 1))
    server, _ = make_grpc_server(
        app.dispatcher,
        host,
        port,
        max_message_bytes=settings.max_body_bytes,
        observer=app.observer,
        credentials=tls.grpc_credentials() if tls else None,
        origin=origin,
    )
    server.start()
    rest, rest_thread = _serve_http(app, http, tls, grace)
    ready.set()
    while not stop.wait(0.5) and os.getppid() == parent:
        pass
    rest.should_exit = True
    stopped = server.stop(grace=grace)
    rest_thread.join(grace + 1)
    stopped.wait(grace + 1)
    app.observer.close()
    app.db.dispose()
