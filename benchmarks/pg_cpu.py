"""What a benchmark costs PostgreSQL itself: CPU seconds of the server processes working for one
database, and the servers' own count of retried units of work.

PostgreSQL runs one backend process per connection, titled ``postgres: <user> <database> <client>
<state>``; :class:`PgCpu` sums the CPU time of the backends of one database (Linux's
``/proc/<pid>/schedstat``, else psutil; it must run on the database's machine as root or as the
postgres user). A backend that appeared since the first
reading counts in full, one that exited keeps its last reading (pools keep their connections, so
that is rare). PostgreSQL's shared processes (WAL writer, checkpointer, autovacuum) are left out:
they serve every database on the server, and other sessions' work would show up in them.
"""

from __future__ import annotations

import re
import urllib.request

import psutil
from sqlalchemy.engine import make_url


class PgCpu:
    """CPU seconds used so far by the backends of ``database_url``'s database (NaN when it is not
    a PostgreSQL URL or its processes cannot be read)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.enabled = url.get_backend_name() == "postgresql"
        self.database = url.database or ""
        self.last: dict[int, float] = {}
        self.processes: dict[int, psutil.Process] = {}

    def _refresh(self) -> None:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if proc.pid in self.processes:
                continue
            words = " ".join(proc.info["cmdline"] or []).split()  # the title, padded with ''
            if len(words) >= 3 and words[0] == "postgres:" and words[2] == self.database:
                self.processes[proc.pid] = proc

    def __call__(self, refresh: bool = True) -> float:
        """``refresh=False``: only the backends found before (no process scan: cheap)."""
        if not self.enabled:
            return float("nan")
        if refresh or not self.processes:
            self._refresh()
        for pid, proc in self.processes.items():
            try:
                self.last[pid] = _on_cpu(pid, proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
                continue  # its last reading stays
        return sum(self.last.values()) if self.last else float("nan")


def _on_cpu(pid: int, proc: psutil.Process) -> float:
    """Seconds ``pid`` has run on a CPU: Linux's scheduler count in nanoseconds
    (``/proc/<pid>/schedstat``) where there is one -- ``cpu_times`` counts in clock ticks (10 ms),
    too coarse to tell one statement's cost from another's -- else psutil's user + system time."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[0]) / 1e9
    except FileNotFoundError:
        if not psutil.pid_exists(pid):
            raise psutil.NoSuchProcess(pid) from None
    t = proc.cpu_times()
    return float(t.user + t.system)


def retries(base_url: str) -> float:
    """``labeldesk_db_retries_total`` of the server at ``base_url`` (its /metrics), NaN if absent."""
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return float("nan")
    found = re.search(r"^labeldesk_db_retries_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")
