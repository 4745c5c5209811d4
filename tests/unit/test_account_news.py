"""Account news (storage/account_news.py): a committed change to keys, apps, collaborators or users
is news for every other process on the database -- and only a committed one."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import insert

from labeldesk.services import admin
from labeldesk.storage import tables as t
from labeldesk.storage.account_news import AccountNews, FileNews, ListenedNews, for_database
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database, account_generation
from labeldesk.storage.migrate import migrate
from tests.helpers import worker_database

PG_URL = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")


def test_what_each_database_gets(tmp_path: Path) -> None:
    assert type(for_database("sqlite://", None, None)) is AccountNews
    news = for_database("sqlite:///x.db", str(tmp_path / "x.db"), None)
    assert isinstance(news, FileNews) and (tmp_path / "x.db.accounts").stat().st_size == 8
    news.close()
    assert isinstance(for_database("postgresql+psycopg://h/db", None, lambda: None), ListenedNews)
    assert type(for_database("mysql://h/db", None, None)) is AccountNews


def test_a_file_announcement_is_seen_through_every_mapping(tmp_path: Path) -> None:
    path = str(tmp_path / "db.accounts")
    one, other = FileNews(path), FileNews(path)
    try:
        seen = {other.current()}
        for _ in range(5):  # each one differs from all before it (eight random bytes)
            one.announce()
            assert other.current() == one.current() and other.current() not in seen
            seen.add(other.current())
    finally:
        one.close()
        other.close()
    assert one.current() == -1  # closed under a running call: a change, not a crash


@contextmanager
def two_engines(url: str) -> Iterator[tuple[Database, Database]]:
    """Two engines over one (fresh) database, as two server processes have."""
    here = Database(url)
    migrate(here)
    there = Database(url)
    try:
        yield here, there
    finally:
        here.dispose()
        there.dispose()


def _changes_seen(db: Database, before: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while db.news.current() == before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _settled(db: Database, within: float) -> int:
    """What ``db`` heard once the news of earlier writes has arrived (``within``: how late it may)."""
    heard = db.news.current()
    while within:
        time.sleep(0.2)
        if db.news.current() == heard:
            break
        heard = db.news.current()
    return heard


def _check_news(here: Database, there: Database, within: float) -> None:
    """What ``there`` hears of ``here``'s writes: committed account changes, nothing else."""
    admin.create_user(here, "ann", "ann@example.com")
    app_pk = admin.create_app(here, "ann", "birds")
    before = _settled(there, within)
    admin.create_app_key(here, "ann", "birds")
    assert _changes_seen(there, before, within), "a new key was no news"

    before = there.news.current()
    with pytest.raises(RuntimeError), here.write() as conn:  # written, then rolled back
        conn.execute(insert(t.users).values(id="bob", email="bob@example.com", created_at=utcnow()))
        raise RuntimeError("changed my mind")
    with here.write() as conn:  # no account table
        now = utcnow()
        conn.execute(insert(t.concepts).values(app_pk=app_pk, id="cat", created_at=now, modified_at=now))
    assert not _changes_seen(there, before, within), "a rolled-back change or a concept was news"


def test_sqlite_processes_hear_at_once(tmp_path: Path) -> None:
    with two_engines(f"sqlite:///{tmp_path / 'news.db'}") as (here, there):
        generation = account_generation()
        _check_news(here, there, within=0.0)  # the next read sees it: nothing to wait for
        assert account_generation() != generation


@pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="needs LABELDESK_TEST_DATABASE_URL=postgresql…"
)
def test_postgresql_replicas_hear_within_moments(tmp_path: Path) -> None:
    with worker_database(PG_URL, f"news{os.getpid()}") as url, two_engines(url) as (here, there):
        there.news.current()  # its first authentication starts the listening
        assert isinstance(there.news, ListenedNews) and there.news.listening.wait(10)
        _check_news(here, there, within=2.0)


@pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="needs a PostgreSQL URL")
def test_a_lost_listening_connection_is_news_counted_and_comes_back(tmp_path: Path) -> None:
    with worker_database(PG_URL, f"lost{os.getpid()}") as url, two_engines(url) as (here, there):
        news = there.news
        assert isinstance(news, ListenedNews)
        news.current()
        assert news.listening.wait(10)
        before = _settled(there, 2.0)
        with here.write() as conn:  # the listener's backend, killed as a restart or a proxy would
            killed = conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query = 'LISTEN labeldesk_accounts'"
            ).all()
        assert killed == [(True,)]
        assert _changes_seen(there, before, within=5.0), "losing the connection was no news"
        deadline = time.monotonic() + 10
        while there.counts["account_news_lost"] != 1 or not news.listening.is_set():
            assert time.monotonic() < deadline, "the listener never came back"
            time.sleep(0.05)
        _check_news(here, there, within=2.0)  # and it hears again
