"""The README's benchmark table, measured: one command, printed as Markdown with the date, the
machine and its load.

    python benchmarks/readme_table.py [--quick] [--database-url URL]

Runs benchmarks/annotations.py (create and list annotations, REST and gRPC) and
benchmarks/work_queue.py (LABEL_START latency p50/p99 and submissions/s, DYNAMIC and PARTITIONED,
1/8/32 workers, gRPC) against real servers and prints one table. The load average is printed
beside the date: numbers measured on a loaded machine are marked so.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone

import annotations as ann_bench
import work_queue


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a few minutes in all)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: fresh SQLite files)")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    began, load_before = datetime.now(timezone.utc), load()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        created = ann_bench.run(url, args.quick, (1_000, 100_000), log)
    queue = work_queue.run(args.database_url, args.quick, "grpc", log)
    db = "PostgreSQL" if args.database_url and args.database_url.startswith("postgresql") else "SQLite"
    print(f"Measured {began:%Y-%m-%d %H:%M} UTC on {machine()}; {load_before} before, {load()} after;")
    print(f"`python benchmarks/readme_table.py{' --quick' if args.quick else ''}` ({db}).\n")
    print("| measurement | result |")
    print("| --- | --- |")
    for row in created:
        if row.what.startswith("list all"):
            print(f"| {row.what}, {row.existing:,} annotations, {row.transport} | {row.seconds:.2f} s |")
        elif row.existing == 1_000:
            print(f"| annotations {row.what}, {row.transport} | {row.rate:,.0f} /s |")
    for res in queue:
        print(
            f"| LABEL_START, {res.inputs:,}-input {res.strategy} task, {res.workers} worker(s), gRPC | "
            f"p50 {res.p50:.1f} ms, p99 {res.pct(0.99):.1f} ms; "
            f"{res.submissions / res.seconds:,.0f} submissions/s; "
            f"server CPU {res.cpu_ms_per_submission:.2f} ms per submission |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
