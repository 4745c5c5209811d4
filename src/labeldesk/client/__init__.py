"""A small client of a running labeldesk (or Clarifai) server over REST, for the CLI's commands that
work on a server instead of a database: ``labeldesk import --server`` and ``labeldesk jobs``. It
speaks only the public API (Clarifai v2 JSON), so it imports nothing of the server's layers."""
