"""Hosted files: the bytes of inputs posted as ``base64``, kept outside the database.

- :mod:`labeldesk.files.store` — the :class:`~labeldesk.files.store.BlobStore` interface
  (``put``, ``open``, ``delete``, ``local_path``, ``direct_url``) and its local-directory
  implementation; an S3-compatible store implements the same five methods.
- :mod:`labeldesk.files.media` — pure checks and thumbnails of posted bytes (Pillow), no I/O.
- :mod:`labeldesk.files.signing` — short-lived signed URLs of the ``/files`` route (HMAC-SHA256).
"""
