"""Instructions per call of the server's hot paths, counted by valgrind: a before/after that a
busy or shared machine does not blur.

    python benchmarks/instructions.py [--workload post-inputs|post-annotations|label ...]
                                      [--src DIR ...] [--calls N]

On a shared 2-core VM the same code measured minutes apart moves by 30-40 % in CPU time (other
tenants' load, caches, frequency), which hides a 5 % change. Instructions do not move: each
workload runs in this process's server code (``Dispatcher.call``: authentication, transaction,
handler, answer; no transport, as ``profile_writes.py`` and ``profile_label_start.py`` do)
under ``valgrind --tool=callgrind`` twice, ``N`` and ``3N`` calls, and the difference divided by
``2N`` is what one call costs, start-up and seeding cancelled out. The two runs go in parallel.

- ``post-inputs``: PostInputs of 128 image URLs with fresh ids (per request);
- ``post-annotations``: PostAnnotations of 128 (benchmarks/annotations.py's shape; per request);
- ``label``: a worker of a 10k-input DYNAMIC task loops LABEL_START -> LABEL_SUBMIT of each input
  it got (per submission, its share of the LABEL_STARTs included).

``--src DIR`` (repeatable) runs the workloads on another checkout's ``src`` (e.g. a
``git worktree`` of the commit before), one row each, so a change is measured against what it
replaces in the same run. Needs ``valgrind`` (Debian's package); a run takes a few minutes
(callgrind runs Python ~50x slower).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("post-inputs", "post-annotations", "label")
#: calls of the shorter run per workload (the longer one makes three times as many)
DEFAULT_CALLS = {"post-inputs": 20, "post-annotations": 20, "label": 200}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", action="append", choices=WORKLOADS, help="default: all")
    parser.add_argument("--src", action="append", help="a checkout's src directory (default: this one's)")
    parser.add_argument(
        "--calls", type=int, default=0, help="calls of the shorter run (default per workload)"
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the callgrind files here (callgrind_annotate, the longer minus the shorter)",
    )
    parser.add_argument("--inner", nargs=2, metavar=("WORKLOAD", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        run_workload(args.inner[0], int(args.inner[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    sources = [os.path.abspath(s) for s in (args.src or [os.path.join(HERE, "..", "src")])]
    print("workload          src                                          instructions per call")
    print("-" * 90)
    for workload in args.workload or WORKLOADS:
        for src in sources:
            n = args.calls or DEFAULT_CALLS[workload]
            per_call = count(workload, src, n, args.keep)
            print(f"{workload:<17} {src[-44:]:<44} {per_call:>15,.0f}", flush=True)
    return 0


def count(workload: str, src: str, n: int, keep: str | None = None) -> float:
    """Instructions one call of ``workload`` costs on the code in ``src`` (``keep``: a folder for
    the two runs' callgrind files, named after the workload, the source and the calls)."""
    with ThreadPoolExecutor(2) as pool:
        (short, done_short), (long, done_long) = pool.map(
            lambda calls: _instructions(workload, src, calls, keep), (n, 3 * n)
        )
    return (long - short) / (done_long - done_short)


def _instructions(workload: str, src: str, calls: int, keep: str | None) -> tuple[int, int]:
    """Instructions of a run of at least ``calls`` calls, and how many it made."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, HERE]))
    out = "/dev/null"
    if keep:
        os.makedirs(keep, exist_ok=True)
        tree = re.sub(r"[^A-Za-z0-9]+", "_", src).strip("_")
        out = os.path.join(keep, f"callgrind.{workload}.{tree}.{calls}")
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        os.path.abspath(__file__),
        "--inner",
        workload,
        str(calls),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{workload} on {src} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1)), int(done.stdout.split()[-1])


def run_workload(workload: str, calls: int) -> None:
    """``calls`` calls of ``workload`` on a fresh server in this process (the child's side)."""
    from clarifai_grpc.grpc.api import resources_pb2 as r
    from clarifai_grpc.grpc.api import service_pb2 as s
    from profile_label_start import in_process, label_call, ok, post_dynamic_task
    from profile_writes import BATCH, IMG, _annotation, _concepts
    from work_queue import A

    with tempfile.TemporaryDirectory() as tmp:
        server, app = in_process(tmp, 10_000 if workload == "label" else 1_000)
        d, key = server.dispatcher, f"Key {app.owner_key}"
        call: Callable[[], int]
        if workload == "label":
            post_dynamic_task(d, app, "instructions", [w for w, _ in app.workers])
            put = label_call(d, app, "instructions")

            def call() -> int:
                got = put(A.LABEL_START).task_assignments
                for a in got:
                    put(A.LABEL_SUBMIT, a.input.id)
                return len(got)

        elif workload == "post-inputs":
            req = s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[r.Input(data=r.Data(image=r.Image(url=IMG))) for _ in range(BATCH)],
            )

            def call() -> int:
                for inp in req.inputs:
                    inp.id = uuid.uuid4().hex
                ok(d.call("PostInputs", req, key))
                return 1

        else:
            ok(d.call("PostConcepts", s.PostConceptsRequest(user_app_id=app.uai, concepts=_concepts()), key))
            made = itertools.count()

            def call() -> int:
                anns = [_annotation(next(made)) for _ in range(BATCH)]
                ok(
                    d.call(
                        "PostAnnotations",
                        s.PostAnnotationsRequest(user_app_id=app.uai, annotations=anns),
                        key,
                    )
                )
                return 1

        done = 0
        while done < calls:
            done += call()
        server.db.dispose()
    print(done)  # a LABEL_START hands out several inputs: the parent divides by what was done


if __name__ == "__main__":
    raise SystemExit(main())
