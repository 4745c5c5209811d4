"""labeldesk: a self-hosted labeling-task server that speaks the Clarifai v2 API."""

__version__ = "0.1.0"
