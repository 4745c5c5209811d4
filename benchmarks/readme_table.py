"""The README's benchmark table, measured: one command, printed as Markdown with the date, the
machine and its load.

    python benchmarks/readme_table.py [--quick] [--database-url URL] [--compare]

Runs benchmarks/annotations.py (create and list annotations, REST and gRPC) and
benchmarks/work_queue.py (LABEL_START latency p50/p99 and submissions/s, DYNAMIC and PARTITIONED,
1/8/32 workers, gRPC; against one server process, then against ``serve --workers 2``) against real
servers and prints one table. Besides the labelers who call back to back (the server saturated),
each strategy gets a run of 32 labelers submitting at Poisson moments, 1,000 submissions/s in all
(``work_queue.py --paced 1000``): the latency at the throughput the README promises. The load
average is printed beside the date: numbers measured on a loaded machine are marked so; so is the
machine's speed before and after (``machine_speed.py``: a fixed unit of work's CPU time, which on
a VM moves with its neighbours): on a machine k times slower, expect rates about k times lower.

``--compare`` also runs Label Studio (its own virtualenv and SQLite database; installed on first
use, see benchmarks/compare_label_studio.py) on the same annotation workload in the same run and
prints a second table with the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone

import annotations as ann_bench
import compare_label_studio
import machine_speed
import work_queue

#: submissions per second in all of the paced runs: issue 18's throughput target for 32 labelers
PACED = 1_000.0


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
    parser.add_argument("--compare", action="store_true", help="also measure Label Studio, same run")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    began, load_before, speed_before = datetime.now(timezone.utc), load(), machine_speed.speed()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        created = ann_bench.run(url, args.quick, (1_000, 100_000), log)
    queue = [(1, res) for res in work_queue.run(args.database_url, args.quick, "grpc", log, paced=PACED)]
    queue += [
        (2, res)
        for res in work_queue.run(args.database_url, args.quick, "grpc", log, processes=2, paced=PACED)
    ]
    rivals = compare_label_studio.run(args.quick, log) if args.compare else []
    db = "PostgreSQL" if args.database_url and args.database_url.startswith("postgresql") else "SQLite"
    speed_after = machine_speed.speed()
    print(f"Measured {began:%Y-%m-%d %H:%M} UTC on {machine()}; {load_before} before, {load()} after;")
    print(
        f"a fixed unit of work (benchmarks/machine_speed.py) took {speed_before:.1f} µs of CPU before, "
        f"{speed_after:.1f} µs after "
        "(lower is faster: the machine's speed, whatever labeldesk's code);"
    )
    print(f"`python benchmarks/readme_table.py{' --quick' if args.quick else ''}` ({db}).\n")
    print("| measurement | result |")
    print("| --- | --- |")
    for row in created:
        if row.what.startswith("list all"):
            print(f"| {row.what}, {row.existing:,} annotations, {row.transport} | {row.seconds:.2f} s |")
        elif row.existing == 1_000:
            cpu = f" ({row.cpu_us} µs server CPU each)"
            what = row.what if row.what.startswith("PostInputs") else f"annotations {row.what}"
            print(f"| {what}, {row.transport} | {row.rate:,.0f} /s{cpu} |")
    for processes, res in queue:
        server = "`serve --workers 2`" if processes > 1 else "one server process"
        pace = (
            f" submitting at Poisson moments, {res.offered:,.0f} submissions/s offered" if res.offered else ""
        )
        submit = f" (LABEL_SUBMIT p50 {res.submit_p50:.1f} ms)" if res.offered else ""
        print(
            f"| LABEL_START, {res.inputs:,}-input {res.strategy} task, {res.workers} worker(s){pace}, gRPC, "
            f"{server} | "
            f"p50 {res.p50:.1f} ms, p99 {res.pct(0.99):.1f} ms{submit}; "
            f"{res.submissions / res.seconds:,.0f} submissions/s; "
            f"server CPU {res.cpu_ms_per_submission:.2f} ms per submission; machine unit {res.units} µs |"
        )
    if rivals:
        print_comparison(created, rivals)
    return 0


def print_comparison(created: list[ann_bench.Row], rivals: list[compare_label_studio.LsRow]) -> None:
    """labeldesk against Label Studio on 1,000 annotations, same run: rates (server CPU µs per
    annotation in brackets) and how many times faster labeldesk is."""
    ours = {(r.what, r.transport): r for r in created if r.existing == 1_000}
    print("\nSame run, Label Studio (SQLite, its REST API) on the same workload (1,000 annotations;")
    print("its 128/request row is its import API, which has no batch annotation create):\n")
    print("| measurement | labeldesk gRPC | labeldesk REST | Label Studio | x gRPC | x REST |")
    print("| --- | --- | --- | --- | --- | --- |")
    for ls in rivals:
        if ls.what == "list all":
            grpc, rest = (
                ours.get(("list all, official client", "grpc")),
                ours.get(("list all, raw JSON (requests)", "rest")),
            )
            cells = [f"{x.seconds:.2f} s" if x else "-" for x in (grpc, rest)] + [f"{ls.seconds:.2f} s"]
            ratios = [_times(ls.seconds / x.seconds) if x and x.seconds else "-" for x in (grpc, rest)]
        else:
            grpc, rest = ours.get((ls.what, "grpc")), ours.get((ls.what, "rest"))
            cells = [f"{x.rate:,.0f} /s ({x.cpu_us} µs)" if x else "-" for x in (grpc, rest)]
            cells.append(f"{ls.rate:,.0f} /s ({ls.server_cpu / ls.count * 1e6:,.0f} µs)" if ls.count else "-")
            ratios = [_times(x.rate / ls.rate) if x and ls.rate else "-" for x in (grpc, rest)]
        print(f"| {ls.what} | {' | '.join(cells)} | {' | '.join(ratios)} |")


def _times(ratio: float) -> str:
    """How many times faster labeldesk is: ``26x``, ``2.5x``, ``0.4x``."""
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


if __name__ == "__main__":
    raise SystemExit(main())
