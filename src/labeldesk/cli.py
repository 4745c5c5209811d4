"""The ``labeldesk`` command. Keys and tokens are the only thing printed on stdout, so
``KEY=$(labeldesk users create alice)`` works; every message goes to stderr."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import wraps
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from labeldesk.client.errors import RemoteError
from labeldesk.config import MIB, Settings, usable_cores
from labeldesk.datasets_io.placement import place, with_size
from labeldesk.domain import errors
from labeldesk.ops.logs import FORMATS, configure_logging
from labeldesk.services import admin
from labeldesk.storage.engine import Database, resolve_url
from labeldesk.storage.migrate import migrate
from labeldesk.transport.grpc.io_defaults import prefer_polled_io

if TYPE_CHECKING:
    from labeldesk.client.rest import Remote

F = TypeVar("F", bound=Callable[..., Any])

database_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db "
    "(default: $LABELDESK_DATABASE_URL, else sqlite:///./labeldesk.db)",
)


def server_options(fn: F) -> F:
    """The options ``serve`` and ``demo`` share: shutdown, TLS, log format."""
    for option in reversed(
        (
            click.option(
                "--shutdown-grace",
                default=10.0,
                show_default=True,
                type=click.FloatRange(min=0),
                metavar="SECONDS",
                help="on SIGTERM/SIGINT, how long in-flight requests may finish (a 2nd signal exits at once)",
            ),
            click.option("--tls-cert", default=None, metavar="PEM", help="serve both ports over TLS"),
            click.option("--tls-key", default=None, metavar="PEM", help="the private key of --tls-cert"),
            click.option(
                "--log-format",
                default="text",
                show_default=True,
                type=click.Choice(FORMATS),
                help="json: one JSON object per line (request lines carry req_id, rpc, transport, code)",
            ),
        )
    ):
        fn = option(fn)
    return fn


class WorkerCount(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 on
    """``--workers``: a whole number of processes from 1 to :data:`MAX_WORKERS`, or ``auto``: one
    per CPU core this process may run on (its affinity, which containers and ``taskset`` narrow),
    at most :data:`MAX_WORKERS`."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            n = value
        elif str(value).strip().lower() == "auto":
            return min(usable_cores(), MAX_WORKERS)
        else:
            try:
                n = int(str(value))
            except ValueError:
                self.fail(
                    f"give a whole number of processes (1 to {MAX_WORKERS}) or 'auto', not {value!r}",
                    param,
                    ctx,
                )
        if not 1 <= n <= MAX_WORKERS:
            self.fail(f"give 1 to {MAX_WORKERS} processes (or 'auto'), not {n}", param, ctx)
        return n


#: the most server processes ``--workers`` starts
MAX_WORKERS = 64


@dataclass(frozen=True)
class ServeOptions:
    shutdown_grace: float = 10.0
    tls_cert: str | None = None
    tls_key: str | None = None
    log_format: str = "text"


def say(message: str) -> None:
    click.echo(message, err=True)


def friendly_errors(fn: F) -> F:
    """Turn an ApiError, a failed call to a server or a connection failure into one line on
    stderr and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.ApiError as e:
            say(f"error: {e.description}" + (f" ({e.details})" if e.details else ""))
            sys.exit(1)
        except (RemoteError, OSError) as e:  # a call to a server (import --server, jobs), a file
            say(f"error: {e}")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def open_db(database_url: str | None, run_migrations: bool = True) -> Database:
    """The command's database, migrated; its connections close when the command ends (commands
    also run in-process, from tests and other programs, where a leaked pool would linger)."""
    db = Database(resolve_url(database_url))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(db.dispose)
    if run_migrations:
        migrate(db)
    return db


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labeldesk")
def main() -> None:
    """labeldesk: a labeling-task server that speaks the Clarifai v2 API (REST and gRPC)."""


@main.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--http-port", default=8080, show_default=True, type=int, help="REST/JSON port")
@click.option("--grpc-port", default=18080, show_default=True, type=int, help="gRPC port")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=WorkerCount(),
    help="processes serving REST and gRPC on their ports (connections are spread over them); one "
    "per CPU core lets both use them all, which 'auto' asks for (see docs/performance.md)",
)
@click.option(
    "--blob-dir",
    default=None,
    metavar="DIR",
    help="where files posted as bytes and dataset version archives are kept (default: "
    "$LABELDESK_BLOB_DIR, else <db stem>.blobs beside a SQLite file, else "
    "$XDG_DATA_HOME/labeldesk/<host>-<port>-<database>.blobs, XDG_DATA_HOME defaulting to ~/.local/share)",
)
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="base URL clients reach this server at, for hosted-file URLs (default: $LABELDESK_PUBLIC_URL, "
    "else the REST request's host; gRPC answers use the HTTP address)",
)
@click.option(
    "--max-body-mb",
    default=None,
    type=click.FloatRange(min=0.001, max=2047),
    metavar="MIB",
    help="largest REST body / gRPC message accepted (default: $LABELDESK_MAX_BODY_MB, else 32)",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="allow browsers on ORIGIN (e.g. https://labels.example.com) to call the REST API; repeatable "
    "(default: $LABELDESK_CORS_ORIGINS, else same-origin only)",
)
@server_options
@friendly_errors
def serve(
    database_url: str | None,
    host: str,
    http_port: int,
    grpc_port: int,
    workers: int,
    blob_dir: str | None,
    public_url: str | None,
    max_body_mb: float | None,
    cors_origins: tuple[str, ...],
    **options: Any,
) -> None:
    """Run the server (migrations are applied first)."""
    prefer_polled_io()
    _serve(
        resolve_url(database_url),
        host,
        http_port,
        grpc_port,
        ServeOptions(**options),
        settings=_settings(max_body_mb, cors_origins, blob_dir, public_url),
        workers=workers,
    )


def _settings(
    max_body_mb: float | None,
    cors_origins: tuple[str, ...],
    blob_dir: str | None = None,
    public_url: str | None = None,
) -> Settings:
    """The environment's settings with the command line's flags on top."""
    try:
        settings = Settings.from_env()
        if max_body_mb is not None:
            settings = replace(settings, max_body_bytes=round(max_body_mb * MIB))
        if cors_origins:
            settings = replace(settings, cors_origins=cors_origins)
        if blob_dir:
            settings = replace(settings, blob_dir=blob_dir)
        if public_url:
            settings = replace(settings, public_url=public_url.rstrip("/"))
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    return settings


def _serve(
    url: str,
    host: str,
    http_port: int,
    grpc_port: int,
    options: ServeOptions,
    banner: str = "",
    settings: Settings | None = None,
    workers: int = 1,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop within the grace period; a second signal exits at once."""
    from labeldesk.app import Tls, start_server

    configure_logging(options.log_format)
    if (options.tls_cert is None) != (options.tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls = Tls(options.tls_cert, options.tls_key) if options.tls_cert and options.tls_key else None
    server = start_server(url, host, http_port, grpc_port, settings, tls, options.shutdown_grace, workers)
    grpc_scheme = "gRPC+TLS" if tls else "gRPC"
    if workers > 1:
        say(f"REST and gRPC served by {workers} processes")
    say(f"labeldesk listening: REST {server.base_url}  {grpc_scheme} {host}:{server.grpc_port}")
    say(f"database: {_safe(url)}")
    say(f"hosted files: {server.app.hosting.store}")
    if host in ("0.0.0.0", "::") and not server.app.settings.public_url:
        say("note: file URLs in gRPC answers name the listen address; set --public-url for clients")
    if banner:
        say(banner)

    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop_requested.is_set():
            say("second signal: exiting now")
            os._exit(128 + signum)
        stop_requested.set()
        say(f"stopping… (in-flight requests get {options.shutdown_grace:g} s; a second signal exits now)")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop_requested.wait(0.25):
        if not server.alive:
            say("the HTTP server stopped by itself; shutting down")
            break
    # Whatever happens below, the process is gone shortly after the grace period.
    watchdog = threading.Timer(options.shutdown_grace + 5, os._exit, args=(1,))
    watchdog.daemon = True
    watchdog.start()
    server.stop()
    say("stopped")


def _safe(url: str) -> str:
    """The database URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


@main.command()
@database_option
@friendly_errors
def migrate_cmd(database_url: str | None) -> None:
    """Create or upgrade the database schema."""
    db = open_db(database_url, run_migrations=False)
    say(f"schema {migrate(db)}: {_safe(db.url)}")


migrate_cmd.name = "migrate"


@main.command()
@database_option
@click.option("--user-id", required=True, help="the user to create (or reuse)")
@click.option("--app-id", default=None, help="an app to create for the user")
@friendly_errors
def init(database_url: str | None, user_id: str, app_id: str | None) -> None:
    """Create a user (and an app); print a personal access token."""
    db = open_db(database_url)
    token = admin.ensure_user(db, user_id)
    if app_id:
        admin.ensure_app(db, user_id, app_id)
        say(f"app '{app_id}' of user '{user_id}' is ready")
    click.echo(token)


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("user_id")
@click.option("--email", default=None, help="the user's email (used by the staged-workflow API)")
@database_option
@friendly_errors
def users_create(user_id: str, email: str | None, database_url: str | None) -> None:
    """Create USER_ID; print their personal access token."""
    db = open_db(database_url)
    click.echo(admin.create_user(db, user_id, email))
    say(f"user '{user_id}' created; the line above is their personal access token")


@main.group()
def apps() -> None:
    """Manage apps."""


@apps.command("create")
@click.argument("user_id")
@click.argument("app_id")
@database_option
@friendly_errors
def apps_create(user_id: str, app_id: str, database_url: str | None) -> None:
    """Create APP_ID owned by USER_ID."""
    admin.create_app(open_db(database_url), user_id, app_id)
    say(f"app '{app_id}' of user '{user_id}' created")


@main.group()
def keys() -> None:
    """Manage app keys."""


@keys.command("create")
@click.argument("user_id")
@click.argument("app_id")
@click.option(
    "--scopes",
    multiple=True,
    help="Clarifai scopes such as Inputs:Add (repeat the option or separate with commas; default All)",
)
@database_option
@friendly_errors
def keys_create(user_id: str, app_id: str, scopes: tuple[str, ...], database_url: str | None) -> None:
    """Create an API key for APP_ID of USER_ID; print it."""
    wanted = [part for value in scopes for part in value.replace(",", " ").split()]
    click.echo(admin.create_app_key(open_db(database_url), user_id, app_id, wanted or ["All"]))


@main.command()
@click.option("--database-url", default="sqlite:///./labeldesk-demo.db", show_default=True, metavar="URL")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--http-port", default=8080, show_default=True, type=int)
@click.option("--grpc-port", default=18080, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="only create the demo data and print the key")
@server_options
@friendly_errors
def demo(
    database_url: str, host: str, http_port: int, grpc_port: int, no_serve: bool, **options: Any
) -> None:
    """Create a demo app with concepts and inputs, print its key, and serve it."""
    prefer_polled_io()  # before build_hosting imports grpc
    from labeldesk.app import build_hosting
    from labeldesk.demo import seed_demo

    db = open_db(database_url)
    key = seed_demo(db, build_hosting(db, Settings.from_env()))
    db.dispose()
    click.echo(key)
    base = f"{'https' if options.get('tls_cert') else 'http'}://{host}:{http_port}"
    banner = (
        f"\ndemo app 'demo' of user 'demo' is ready; its API key is printed on stdout. Try:\n"
        f"  export KEY={key}\n"
        f'  curl -H "Authorization: Key $KEY" {base}/v2/inputs\n'
        f'  curl -H "Authorization: Key $KEY" {base}/v2/concepts\n'
        f"Label in the browser: open {base}/ and sign in as user 'demo' with that key\n"
        f"(task 'label-pictures' hands you the demo pictures).\n"
    )
    if no_serve:
        say(banner)
        return
    _serve(database_url, host, http_port, grpc_port, ServeOptions(**options), banner)


FORMATS_IN = ("coco", "yolo", "voc", "jsonl", "csv", "folder")


def remote_options(fn: F) -> F:
    """The options of commands that work on a running server (``import --server``, ``jobs``)."""
    for option in reversed(
        (
            click.option(
                "--server",
                envvar="LABELDESK_SERVER",
                default=None,
                metavar="URL",
                help="the server's REST address, e.g. http://localhost:8080 (default: $LABELDESK_SERVER)",
            ),
            click.option(
                "--key",
                envvar=["LABELDESK_KEY", "CLARIFAI_PAT"],
                default="",
                metavar="KEY",
                help="an app key or PAT of the app (default: $LABELDESK_KEY, else $CLARIFAI_PAT)",
            ),
        )
    ):
        fn = option(fn)
    return fn


@main.command("import")
@click.option("--app", "app_spec", required=True, metavar="USER/APP", help="the app to import into")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS_IN),
    help="the dataset's format (with --server it may be left out: the server detects it)",
)
@click.argument("path", required=False, metavar="[PATH]")
@click.option("--dataset", "dataset_id", default="", metavar="ID", help="add the inputs to this dataset")
@click.option("--task-id", default="", metavar="ID", help="link the imported annotations to this task")
@click.option("--skip-errors", is_flag=True, help="skip bad records (listed at the end) instead of stopping")
@click.option(
    "--reference-files",
    is_flag=True,
    help="keep local images where they are (file:// URLs) instead of copying them into the blob store",
)
@click.option("--blob-dir", default=None, metavar="DIR", help="the blob store folder (as for serve)")
@database_option
@remote_options
@click.option(
    "--server-path",
    default="",
    metavar="file:///DIR",
    help="with --server: import this folder on the server (below its LABELDESK_IMPORT_ROOT); "
    "nothing is uploaded",
)
@click.option("--no-wait", is_flag=True, help="with --server: print the job's id and return at once")
@friendly_errors
def import_cmd(
    app_spec: str,
    fmt: str | None,
    path: str | None,
    dataset_id: str,
    server: str | None,
    key: str,
    server_path: str,
    no_wait: bool,
    **here: Any,
) -> None:
    """Import a dataset (images, concepts, boxes, polygons) from PATH in bulk.

    With --server, the import runs as a background job on that server instead of writing the
    database here: PATH (a folder, a file, or a .zip/.tar/.tar.gz/.tgz archive) is uploaded in
    parts, or --server-path (or a PATH given as a file:// URL) names a folder on the server. The
    job's progress is shown until it ends (Ctrl-C stops watching only); bad records are skipped
    and listed."""
    if path and path.startswith("file://"):
        server_path, path = server_path or path, None
    if server or server_path or no_wait:
        from labeldesk import cli_jobs

        # --skip-errors is what a job does anyway; the others are about a database here
        here_only = [
            f"--{name.replace('_', '-')}" for name, on in here.items() if on and name != "skip_errors"
        ]
        if here_only:
            raise click.UsageError(
                f"{', '.join(here_only)}: for an import into a database here, not --server"
            )
        if bool(path) == bool(server_path):
            raise click.UsageError(
                "give PATH (uploaded) or --server-path file:///DIR (on the server), not both"
            )
        remote = cli_jobs.connect(server or "", key, app_spec)
        sys.exit(cli_jobs.start_import(remote, fmt or "", path or "", server_path, dataset_id, no_wait))
    if not fmt:
        raise click.UsageError("Missing option '--format'.")
    if not path:
        raise click.UsageError("Missing argument 'PATH'.")
    _import_here(app_spec, fmt, Path(path), dataset_id, **here)


def _import_here(
    app_spec: str,
    fmt: str,
    path: Path,
    dataset_id: str,
    task_id: str,
    skip_errors: bool,
    reference_files: bool,
    blob_dir: str | None,
    database_url: str | None,
) -> None:
    """``labeldesk import`` into the database (``--database-url``), in this process."""
    from labeldesk.app import build_hosting
    from labeldesk.cli_progress import print_summary, records_progress
    from labeldesk.datasets_io.formats import READERS
    from labeldesk.datasets_io.records import FormatError
    from labeldesk.services import dataset_import as imp

    if not path.exists():
        raise click.BadParameter(f"Path '{path}' does not exist.", param_hint="'PATH'")
    db = open_db(database_url)
    target = imp.Target(imp.resolve_app(db, app_spec), dataset_id, task_id)
    settings = Settings.from_env()
    hosting = (
        None
        if reference_files
        else build_hosting(db, replace(settings, blob_dir=blob_dir or settings.blob_dir))
    )
    started = time.perf_counter()
    try:
        items = list(READERS[fmt](path))
        with records_progress("importing") as bar:
            job = bar.add_task("", total=len(items))
            summary = imp.import_records(
                db,
                target,
                items,
                skip_errors=skip_errors,
                hosting=hosting,
                progress=lambda s: bar.update(job, completed=s.seen),
            )
    except FormatError as e:
        say(f"error: {e}")
        sys.exit(1)
    except imp.ImportStopped as e:
        print_summary(e.summary, time.perf_counter() - started)
        say(f"error: {e.error}")
        say("stopped: nothing of the failing chunk was written (use --skip-errors to skip bad records)")
        sys.exit(1)
    print_summary(summary, time.perf_counter() - started)


@main.group()
def jobs() -> None:
    """Watch, list and cancel import jobs on a running server."""


def on_server(app_help: str) -> Callable[[F], F]:
    """--app, --server and --key become the command's ``remote`` argument: the client of that app
    on that server."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(app_spec: str, server: str | None, key: str, **kwargs: Any) -> Any:
            from labeldesk import cli_jobs

            return fn(remote=cli_jobs.connect(server or "", key, app_spec), **kwargs)

        app = click.option("--app", "app_spec", required=True, metavar="USER/APP", help=app_help)
        return app(remote_options(friendly_errors(wrapper)))  # type: ignore[return-value]

    return decorate


@jobs.command("watch")
@click.argument("job_id")
@on_server("the app the job imports into")
def jobs_watch(remote: Remote, job_id: str) -> None:
    """Show JOB_ID's progress until it ends, then its summary (exit 1 unless it completed)."""
    from labeldesk import cli_jobs

    sys.exit(cli_jobs.watch(remote, job_id))


@jobs.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="newest N jobs")
@click.option("--all", "every", is_flag=True, help="also the job of every PostInputs call, not only imports")
@on_server("the app whose jobs to list")
def jobs_list(remote: Remote, limit: int, every: bool) -> None:
    """List the app's import jobs, newest first: id, status, progress, created."""
    from labeldesk import cli_jobs

    cli_jobs.list_jobs(remote, limit, imports_only=not every)


@jobs.command("cancel")
@click.argument("job_id")
@on_server("the app the job imports into")
def jobs_cancel(remote: Remote, job_id: str) -> None:
    """Cancel JOB_ID: a queued job at once, a running one after its current chunk."""
    from labeldesk import cli_jobs

    cli_jobs.cancel(remote, job_id)


FORMATS_OUT = ("coco", "yolo", "voc", "jsonl", "csv")


@main.command("export")
@click.option("--app", "app_spec", required=True, metavar="USER/APP", help="the app to export")
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS_OUT), help="the format to write")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dataset", "dataset_id", default="", metavar="ID", help="only the inputs of this dataset")
@click.option("--task-id", default="", metavar="ID", help="only the annotations of this task")
@click.option(
    "--status",
    type=click.Choice(("success", "all")),
    default="success",
    show_default=True,
    help="success: only approved annotations (ANNOTATION_SUCCESS); all: any status",
)
@click.option("--copy-files", is_flag=True, help="copy images into OUT (default: symbolic links)")
@click.option("--blob-dir", default=None, metavar="DIR", help="the blob store folder (as for serve)")
@database_option
@friendly_errors
def export_cmd(
    app_spec: str,
    fmt: str,
    out: Path,
    dataset_id: str,
    task_id: str,
    status: str,
    copy_files: bool,
    blob_dir: str | None,
    database_url: str | None,
) -> None:
    """Export an app's inputs and annotations to the folder OUT."""
    from labeldesk.app import build_hosting
    from labeldesk.cli_progress import console
    from labeldesk.datasets_io.formats import WRITERS
    from labeldesk.services import dataset_export as exp
    from labeldesk.services.dataset_import import resolve_app

    db = open_db(database_url)
    sel = exp.Selection(resolve_app(db, app_spec), dataset_id, task_id, all_statuses=status == "all")
    settings = Settings.from_env()
    store = build_hosting(db, replace(settings, blob_dir=blob_dir or settings.blob_dir)).store
    started = time.perf_counter()
    writer, image_folder = WRITERS[fmt]
    images = out / image_folder
    images.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    records = []
    with console.status("exporting…"):
        for r in exp.records(db, sel, lambda app_pk, key: store.local_path(str(app_pk), key)):
            names[r.input_id] = place(r, images, copy_files)
            records.append(with_size(r) if fmt in ("coco", "voc") else r)
        writer(records, out, names)
    regions = sum(len(r.regions) for r in records)
    say(
        f"exported {len(records)} inputs, {regions} regions to {out} in {time.perf_counter() - started:.2f} s"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
