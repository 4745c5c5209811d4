"""The gRPC I/O a server process chooses before grpc is imported (transport/grpc/io_defaults.py).

Each case runs in a fresh interpreter: grpc reads ``GRPC_EXPERIMENTS`` once, at import, and this
test process imported it long ago."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labeldesk.transport.grpc.io_defaults import SERVER_EXPERIMENTS

# a server and a client in one process, one call: grpc names every experiment it does not know
CALL = """
from concurrent.futures import ThreadPoolExecutor
import grpc
echo = grpc.unary_unary_rpc_method_handler(lambda req, ctx: req, lambda b: b, lambda b: b)
server = grpc.server(ThreadPoolExecutor(2))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.T", {"Echo": echo}),))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
    assert channel.unary_unary("/t.T/Echo")(b"ping", timeout=10) == b"ping"
server.stop(None)
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    return subprocess.run(
        [sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, timeout=60, check=True
    )


def test_a_fresh_process_turns_the_listener_off_and_grpc_knows_the_experiment() -> None:
    out = run(
        "import os\n"
        "from labeldesk.transport.grpc.io_defaults import prefer_polled_io\n"
        "print(prefer_polled_io(), os.environ['GRPC_EXPERIMENTS'])\n" + CALL
    )
    assert out.stdout.split() == ["True", SERVER_EXPERIMENTS]
    # a grpcio that dropped the experiment says so on stderr (and ignores the setting)
    assert "experiment" not in out.stderr.lower(), out.stderr


@pytest.mark.parametrize("preset", ["", "-event_engine_client"])
def test_an_operators_setting_is_kept(preset: str) -> None:
    out = run(
        "import os\n"
        "from labeldesk.transport.grpc.io_defaults import prefer_polled_io\n"
        "print(prefer_polled_io(), repr(os.environ['GRPC_EXPERIMENTS']))",
        GRPC_EXPERIMENTS=preset,
    )
    assert out.stdout.split() == ["False", repr(preset)]


def test_too_late_once_grpc_is_imported() -> None:
    out = run(
        "import os, grpc\n"
        "from labeldesk.transport.grpc.io_defaults import prefer_polled_io\n"
        "print(prefer_polled_io(), 'GRPC_EXPERIMENTS' in os.environ)"
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_the_server_commands_choose_it_before_grpc_is_imported(command: str, tmp_path: object) -> None:
    out = run(
        "import os\n"
        "from labeldesk import cli, demo\n"
        "def stop(*args, **kwargs):\n"
        "    print(os.environ.get('GRPC_EXPERIMENTS'))  # unset had grpc been imported first\n"
        "    raise SystemExit(0)\n"
        "cli._serve = stop\n"
        "demo.seed_demo = lambda *args: 'key'\n"
        f"cli.main(['{command}', '--database-url', 'sqlite:///{tmp_path}/x.db'])\n"
    )
    assert out.stdout.split()[-1] == SERVER_EXPERIMENTS
