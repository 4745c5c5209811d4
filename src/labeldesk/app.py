"""Explicit wiring, in one place: engine → services → dispatcher → transports."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field

import grpc
import uvicorn
from starlette.applications import Starlette

from labeldesk.config import Settings
from labeldesk.ops.metrics import Metrics
from labeldesk.ops.observe import Observer
from labeldesk.services.annotations import AnnotationsService
from labeldesk.services.apps import AppsService
from labeldesk.services.assignments import AssignmentsService
from labeldesk.services.auth import Authenticator
from labeldesk.services.concepts import ConceptsService
from labeldesk.services.datasets import DatasetsService
from labeldesk.services.dispatch import Dispatcher
from labeldesk.services.input_jobs import InputJobsService
from labeldesk.services.inputs import InputsService
from labeldesk.services.searches import SearchesService
from labeldesk.services.staged import StagedService
from labeldesk.services.task_annotations import TaskAnnotationsService
from labeldesk.services.tasks import TasksService
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from labeldesk.transport.grpc.observe import ObserveInterceptor
from labeldesk.transport.grpc.server import make_grpc_server
from labeldesk.transport.rest.app import make_rest_app
from labeldesk.transport.rest.staged import staged_routes
from labeldesk.transport.rest.web import web_routes

log = logging.getLogger("labeldesk")


def build_services(settings: Settings | None = None) -> list[object]:
    return [
        AppsService(),
        ConceptsService(),
        InputsService(),
        InputJobsService(),
        DatasetsService(),
        SearchesService(),
        AnnotationsService(),
        TasksService(),
        TaskAnnotationsService(),
        AssignmentsService(settings or Settings()),
    ]


@dataclass
class Labeldesk:
    db: Database
    dispatcher: Dispatcher
    rest: Starlette
    settings: Settings = field(default_factory=Settings)
    metrics: Metrics = field(default_factory=Metrics)


def build(database_url: str, run_migrations: bool = True, settings: Settings | None = None) -> Labeldesk:
    """The whole server over ``database_url``; ``settings`` default to the environment's."""
    db = Database(database_url)
    if run_migrations:
        migrate(db)
    settings = settings or Settings.from_env()
    dispatcher = Dispatcher(db, build_services(settings), Authenticator())
    staged = staged_routes(StagedService(db, Authenticator()))
    metrics = Metrics(db.engine)
    rest = make_rest_app(
        dispatcher,
        extra_routes=[*staged, *web_routes()],
        max_body_bytes=settings.max_body_bytes,
        cors_origins=settings.cors_origins,
        metrics=metrics,
    )
    return Labeldesk(db=db, dispatcher=dispatcher, rest=rest, settings=settings, metrics=metrics)


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
    _grpc: grpc.Server | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.http_port}"

    @property
    def alive(self) -> bool:
        """False once the HTTP server's thread has ended (it failed or was stopped)."""
        return any(t.is_alive() for t in self._threads)

    def start(self) -> RunningServer:
        self._grpc, self.grpc_port = make_grpc_server(
            self.app.dispatcher,
            self.host,
            self.grpc_port,
            max_message_bytes=self.app.settings.max_body_bytes,
            interceptors=[ObserveInterceptor(Observer(self.app.metrics))],
            credentials=self.tls.grpc_credentials() if self.tls else None,
        )
        self._grpc.start()
        sock = _listen(self.host, self.http_port)
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app.rest,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, round(self.shutdown_grace)),
            ssl_certfile=self.tls.cert if self.tls else None,
            ssl_keyfile=self.tls.key if self.tls else None,
        )
        self._http = uvicorn.Server(config)
        thread = threading.Thread(target=self._http.run, kwargs={"sockets": [sock]}, daemon=True, name="http")
        thread.start()
        self._threads.append(thread)
        while not self._http.started:
            if not thread.is_alive():
                raise RuntimeError("the HTTP server failed to start")
            thread.join(0.01)
        if self.app.db.sqlite:
            threading.Thread(target=self._keep_statistics_fresh, daemon=True, name="optimize").start()
        return self

    def _keep_statistics_fresh(self) -> None:
        """SQLite only: refresh planner statistics now and every few minutes as tables grow."""
        while True:
            try:
                self.app.db.optimize()
            except Exception:  # maintenance must never take the server down
                log.warning("PRAGMA optimize failed", exc_info=True)
            if self._stopping.wait(OPTIMIZE_EVERY_SECONDS):
                return

    def wait(self) -> None:
        for t in self._threads:
            while t.is_alive():
                t.join(0.5)

    def stop(self) -> None:
        """Refuse new requests, let in-flight ones finish for up to ``shutdown_grace`` seconds
        (then cut them off), release the database. Returns within about the grace period."""
        deadline = time.monotonic() + self.shutdown_grace + 1
        self._stopping.set()
        if self._http is not None:
            self._http.should_exit = True
        grpc_stopped = self._grpc.stop(grace=self.shutdown_grace) if self._grpc is not None else None
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if grpc_stopped is not None:
            grpc_stopped.wait(max(0.0, deadline - time.monotonic()))
        self.app.db.dispose()


def start_server(
    database_url: str,
    host: str = "127.0.0.1",
    http_port: int = 8080,
    grpc_port: int = 18080,
    settings: Settings | None = None,
    tls: Tls | None = None,
    shutdown_grace: float = SHUTDOWN_GRACE_SECONDS,
) -> RunningServer:
    app = build(database_url, settings=settings)
    return RunningServer(app, host, http_port, grpc_port, tls, shutdown_grace).start()
