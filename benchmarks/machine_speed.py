"""How fast this machine runs a fixed workload right now, independent of labeldesk's code.

    python benchmarks/machine_speed.py [--rounds 7]

The project's 2-core VM runs the same code up to a third slower in some hours than in others
(docs/performance.md): the server's CPU per call rises with it, so the benchmarks' rates move
while the code does not. This times one fixed *unit* of the kind of work a call does — a
Clarifai protobuf message built, serialized and parsed, a few dicts and strings, a handful of
SQLite statements in memory — and prints the CPU microseconds one unit takes (the median of
``--rounds`` rounds of ~0.2 s each; lower is faster). ``readme_table.py`` prints it before and
after its table, so a reader can tell a slower machine from a slower labeldesk: on a machine
whose unit takes k times the README's, expect the README's rates divided by about k.

The unit never changes with labeldesk (it imports none of it), so its number is comparable across
commits; it is not comparable across Python or library versions.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

#: seconds of CPU per round
ROUND_SECONDS = 0.2


def _message() -> s.MultiTaskAssignmentResponse:
    out = s.MultiTaskAssignmentResponse()
    for k in range(10):
        a = out.task_assignments.add(id=f"assignment-{k}", worker=r.Worker(user=r.User(id="labeler-7")))
        a.input.id = f"input-{k:05d}"
        a.input.data.image.url = f"https://example.com/images/{k:05d}.jpg"
        a.input.created_at.FromSeconds(1_765_000_000 + k)
        a.status.code = 54201
    return out


def unit(db: sqlite3.Connection) -> None:
    """One unit of work: a 10-assignment answer built, serialized and parsed; its fields read into
    dicts and formatted; ten rows written and read back in SQLite (in memory)."""
    data = _message().SerializeToString()
    parsed = s.MultiTaskAssignmentResponse.FromString(data)
    rows = [
        {"id": a.id, "input": a.input.id, "url": a.input.data.image.url, "at": a.input.created_at.seconds}
        for a in parsed.task_assignments
    ]
    lines = ["{id} {input} {url} {at}".format(**row) for row in rows]
    db.executemany(
        "INSERT INTO seats (id, input, line) VALUES (?, ?, ?)",
        [(x["id"], x["input"], line) for x, line in zip(rows, lines)],
    )
    found = db.execute(
        "SELECT id, line FROM seats WHERE input >= ? ORDER BY id LIMIT 10", ("input-00000",)
    ).fetchall()
    assert len(found) == 10
    db.execute("DELETE FROM seats")


def speed(rounds: int = 7) -> float:
    """CPU microseconds per :func:`unit`: the median of ``rounds`` rounds."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE seats (id TEXT PRIMARY KEY, input TEXT, line TEXT)")
    db.execute("CREATE INDEX ix_seats_input ON seats (input)")
    for _ in range(50):  # warm up
        unit(db)
    per_unit: list[float] = []
    for _ in range(rounds):
        n, began = 0, time.process_time()
        while (spent := time.process_time() - began) < ROUND_SECONDS:
            for _ in range(20):
                unit(db)
            n += 20
        per_unit.append(spent / n * 1e6)
    db.close()
    return statistics.median(per_unit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"{speed(args.rounds):.1f} µs of CPU per unit (lower is faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
