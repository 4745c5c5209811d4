"""Operations: metrics, structured request logs, readiness — what an operator watches.

Nothing here knows about HTTP or gRPC; the transports feed :class:`~labeldesk.ops.observe.Observer`
one record per request.
"""
