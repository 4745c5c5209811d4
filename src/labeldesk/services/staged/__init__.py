"""The staged workflow (Deepen-style tasks API): one task per work unit per stage, and its states.

- A ``clientId`` is the owning user's id; a ``datasetId`` names a dataset of one of that user's apps
  (unique per client, else 409 asking to rename); users are named by email and must own or
  collaborate on the dataset's app.
- The credentials are the same app keys and personal access tokens as the Clarifai API; the caller
  must own or collaborate on the app (:mod:`.access`).
- Work units and their tasks are discovered lazily and idempotently (:mod:`.discovery`).
- The state machine is :mod:`labeldesk.domain.stages`; every transition is one history row
  (:mod:`.transitions`); assignment and auto-reassign are :mod:`.assignment`.
- One source of truth, two views: transitions change the status of the unit's annotations
  (``annotation_status_after``) and stamp them with the first-stage task id, so Clarifai's
  ``ListAnnotations(task_id=...)`` shows them.
- The endpoints (:mod:`.service`) take parsed requests and answer dataclasses (:mod:`.model`; tasks
  as :class:`~.model.TaskView`, built by :mod:`.rendering`); the REST transport parses the requests
  and renders the answers as JSON.
"""

from labeldesk.services.staged.model import (
    ActionRequest,
    Assignments,
    Caller,
    SettingsChange,
    Window,
    WorkflowSettings,
)
from labeldesk.services.staged.service import StagedService

__all__ = [
    "ActionRequest",
    "Assignments",
    "Caller",
    "SettingsChange",
    "StagedService",
    "Window",
    "WorkflowSettings",
]
