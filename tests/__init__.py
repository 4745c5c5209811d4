"""labeldesk's tests. The servers they start in process take the gRPC I/O that ``labeldesk serve``
chooses (set before anything imports grpc: :mod:`labeldesk.transport.grpc.io_defaults`)."""

from labeldesk.transport.grpc.io_defaults import prefer_polled_io

prefer_polled_io()
