"""How gRPC's C core moves a server's bytes: chosen before ``grpc`` is imported.

grpcio 1.6x-1.8x serve accepted connections through the EventEngine's endpoints by default: each
read and write completes on an EventEngine thread, which then wakes the thread polling the
completion queue, which wakes the handler's thread. The endpoints of the older I/O manager are
read on the polling thread itself. Measured on the 2-core machine (docs/performance.md, round 7):
a bare grpcio call cost the server 5-8 context switches instead of ~14, and 250-330 instead of
310-370 µs of CPU with 8 clients; with 32 labelers a submission's server CPU fell from a median
of 1.14 to 1.06 ms. grpc reads ``GRPC_EXPERIMENTS`` once, when it is imported, so the server
commands call :func:`prefer_polled_io` first; an operator's own ``GRPC_EXPERIMENTS`` (even an
empty one) is left as it is, and so is a process that imported grpc already.
"""

from __future__ import annotations

import os
import sys

#: the C core's experiments a labeldesk server turns off (``-`` turns one off)
SERVER_EXPERIMENTS = "-event_engine_listener"


def prefer_polled_io() -> bool:
    """Turn the EventEngine listener off for this process and the ones it spawns, unless the
    environment says otherwise or grpc was imported already; answers whether it did."""
    if "grpc" in sys.modules or "GRPC_EXPERIMENTS" in os.environ:
        return False
    os.environ["GRPC_EXPERIMENTS"] = SERVER_EXPERIMENTS
    return True
