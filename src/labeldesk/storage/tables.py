"""The database schema, as SQLAlchemy Core tables.

Conventions:
- Every app-scoped row carries ``app_pk`` (the integer key of its app), so one app's data is
  reached only through its own key and apps never leak into each other.
- Public ids are strings chosen by the client (or generated); integer ``pk`` columns exist for
  joins and for stable, index-friendly ordering (oldest → newest).
- Rich payloads that only the API reads back whole (an input's ``Data``, a task's full spec)
  are stored as serialised protobuf bytes; everything a query filters or sorts on is a column.
- Times are UTC, timezone-aware.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ID = String(128)
PK = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER PRIMARY KEY


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _app_fk() -> Column[int]:
    return Column("app_pk", PK, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False)


users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=True, unique=True),
    Column("first_name", String(200), nullable=False, default=""),
    Column("last_name", String(200), nullable=False, default=""),
    _ts("created_at"),
)

apps = Table(
    "apps",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("id", ID, nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("default_language", String(16), nullable=False, default="en"),
    Column("sample_ms", Integer, nullable=False, default=0),
    Column("metadata", JSON, nullable=True),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("user_id", "id", name="uq_apps_user_id_id"),
)

# API keys (app-scoped) and personal access tokens (user-scoped). The token itself is never
# stored: ``secret_hash`` is its HMAC-SHA256 under the server secret "key-hash" (looked up through
# its unique index), ``id`` its public id (the token's first 12 characters), which listings show
# and DeleteKey/GetKey/PatchKeys accept. ``PostKeys`` answers the token once, in ``keys[0].id``.
keys = Table(
    "keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),  # "app" | "personal_access_token"
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("app_pk", PK, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("scopes", JSON, nullable=False),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
)

collaborators = Table(
    "collaborators",
    metadata,
    Column("id", ID, nullable=False),
    _app_fk(),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("scopes", JSON, nullable=False),
    _ts("created_at"),
    UniqueConstraint("app_pk", "user_id", name="uq_collaborators_app_pk_user_id"),
)

concepts = Table(
    "concepts",
    metadata,
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("name", String(512), nullable=False, default=""),
    Column("language", String(16), nullable=False, default="en"),
    Column("definition", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=True),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("app_pk", "id", name="uq_concepts_app_pk_id"),
)

inputs = Table(
    "inputs",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("data", LargeBinary, nullable=False),  # resources_pb2.Data without concepts/metadata
    Column("metadata", JSON, nullable=True),
    Column("status", Integer, nullable=False),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("app_pk", "id", name="uq_inputs_app_pk_id"),
    # an app's inputs in pk (= posting) order: how task queues walk ALL_INPUTS sources
    Index("ix_inputs_app_pk_pk", "app_pk", "pk"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=True),
    _ts("created_at"),
    _ts("modified_at"),
    # how many times inputs that existed before joined it (they may be below a task's plan
    # watermark): a dataset task's rescan looks only when this moved (storage/repos/datasets.py)
    Column("late_version", BigInteger, nullable=False, default=0, server_default="0"),
    UniqueConstraint("app_pk", "id", name="uq_datasets_app_pk_id"),
)

dataset_inputs = Table(
    "dataset_inputs",
    metadata,
    Column("dataset_pk", PK, ForeignKey("datasets.pk", ondelete="CASCADE"), primary_key=True),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    _ts("created_at"),
    Index("ix_dataset_inputs_input_pk", "input_pk"),
)

searches = Table(
    "searches",
    metadata,
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("name", String(512), nullable=False, default=""),
    Column("query", LargeBinary, nullable=False),  # resources_pb2.Query
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("app_pk", "id", name="uq_searches_app_pk_id"),
)

annotations = Table(
    "annotations",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("data", LargeBinary, nullable=False),  # resources_pb2.Data (concepts, regions, ...)
    # ``data`` as REST responses show it, rendered when written so listings splice it in instead of
    # walking every message again; used only while ``data_json_format`` is the codec's current one.
    Column("data_json", LargeBinary, nullable=True),
    Column("data_json_format", SmallInteger, nullable=True),
    Column("annotation_info", JSON, nullable=True),
    Column("status", Integer, nullable=False),
    Column("task_id", ID, nullable=True),
    Column("model_version_id", ID, nullable=False, default=""),
    Column("embed_model_version_id", ID, nullable=False, default=""),
    Column("input_level", Boolean, nullable=False, default=False),
    Column("trusted", Boolean, nullable=False, default=False),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("app_pk", "id", name="uq_annotations_app_pk_id"),
    Index("ix_annotations_input_pk", "input_pk"),
    # only annotations made in a task: every query naming a task uses it, and the many without one
    # (input-level, batch imports) do not pay for an entry each (migration 0024)
    Index(
        "ix_annotations_app_task_user",
        "app_pk",
        "task_id",
        "user_id",
        "input_pk",
        sqlite_where=text("task_id IS NOT NULL"),
        postgresql_where=text("task_id IS NOT NULL"),
    ),
    # ListAnnotations walks an app's annotations oldest → newest: user-created ones by default
    # (not input-level, no model), everything with list_all_annotations.
    Index("ix_annotations_app_user_created", "app_pk", "input_level", "model_version_id", "pk"),
    Index("ix_annotations_app_pk", "app_pk", "pk"),
)

# One row per (annotation, concept): what saved searches and consensus filter on.
annotation_concepts = Table(
    "annotation_concepts",
    metadata,
    Column("annotation_pk", PK, ForeignKey("annotations.pk", ondelete="CASCADE"), primary_key=True),
    Column("concept_id", ID, primary_key=True),
    Column("value", Float, nullable=False),
    _app_fk(),
    Index("ix_annotation_concepts_app_concept", "app_pk", "concept_id"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("spec", LargeBinary, nullable=False),  # resources_pb2.Task as given (normalised)
    Column("status", Integer, nullable=False),
    Column("input_source_type", Integer, nullable=False, default=0),
    Column("input_source_id", ID, nullable=False, default=""),
    Column("label_order_id", ID, nullable=False, default=""),
    Column("created_by", ID, nullable=False),
    _ts("created_at"),
    _ts("modified_at"),
    # The assignment engine's lazy plan (storage/repos/assignments.py): every input of the source
    # with pk <= planned_upto has its seats in task_assignments; older inputs that join a dataset
    # or saved search later are found by a rescan, at most once per interval (source_rescanned_at).
    Column("planned_upto", PK, nullable=False, default=0),
    _ts("source_rescanned_at", nullable=True),
    # PostgreSQL: inputs with unsettled_above < pk <= planned_upto were planned while writes of
    # inputs were in flight; one that commits after a higher pk did is looked for again once those
    # writes are over (NULL: nothing to look for; always NULL on SQLite, whose writers take turns)
    Column("unsettled_above", PK, nullable=True),
    # a dataset task: the dataset's late_version its last complete rescan started from (NULL: none)
    Column("source_rescan_version", BigInteger, nullable=True),
    UniqueConstraint("app_pk", "id", name="uq_tasks_app_pk_id"),
)

# Who works on / reviews a task: filters of ListTasks and the permission check of assignments.
task_users = Table(
    "task_users",
    metadata,
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("role", String(16), primary_key=True),  # "worker" | "reviewer"
    Column("weight", Float, nullable=False, default=1.0),
    Index("ix_task_users_user_role", "user_id", "role"),
)

# The work queue: one row per (task, input, worker) once the input is planned or pulled.
# A row is a "seat" (domain/statuses.py): ``workers_per_input`` seats per input. An untaken seat of
# a DYNAMIC task has status 0 (OPEN) and a placeholder worker_id "#1", "#2", ... ('#' is never in a
# user id); lease_until set means the worker started it (DYNAMIC: reserved until then).
task_assignments = Table(
    "task_assignments",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("worker_id", ID, nullable=False),
    Column("status", Integer, nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("comment", Text, nullable=False, default=""),
    _ts("created_at"),
    _ts("modified_at"),
    # the reviewer holding (REVIEW_START, until review_lease_until) or last reviewing the row
    Column("reviewer_id", ID, nullable=True),
    Column("review_lease_until", DateTime(timezone=True), nullable=True),
    # first LABEL_START hand-out and latest LABEL_SUBMIT: time per item (services/task_timing.py)
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    # the input left the task's source while this seat was started or submitted (kept): an expired
    # lease on it is not taken over, a rejection does not re-open it; cleared when it comes back
    Column("off_source", Boolean, nullable=False, default=False, server_default=false()),
    # also the (task, input) index; the queue index below is also the (task, worker, status) one
    # (every seat update writes each index: migration 0026 dropped those two prefixes)
    UniqueConstraint("task_pk", "input_pk", "worker_id", name="uq_task_assignments_task_input_worker"),
    # a worker's unstarted work in input order; open seats / review queue in input order;
    # started work by lease (own resumed work, expired DYNAMIC leases)
    Index("ix_task_assignments_queue", "task_pk", "worker_id", "status", "input_pk"),
    Index("ix_task_assignments_pool", "task_pk", "status", "input_pk"),
    Index("ix_task_assignments_leases", "task_pk", "status", "lease_until"),
)

# ------------------------------------------------------------------------------------------------
# Staged workflow (Deepen-style tasks API, services/staged.py, domain/stages.py).

# Per dataset: its stages ([{"name", "due_at", "due_in_hours"}]) and workflow settings. Created on
# first use with the default stages. ``annotations_seen_at``: label units are found by rescanning
# the annotations of sequence frames changed since then.
staged_datasets = Table(
    "staged_datasets",
    metadata,
    Column("dataset_pk", PK, ForeignKey("datasets.pk", ondelete="CASCADE"), primary_key=True),
    _app_fk(),
    Column("stages", JSON, nullable=False),
    Column("auto_reassign", Boolean, nullable=False, default=False),
    Column("frame_attributes", Boolean, nullable=False, default=False),
    Column("dataset_attributes", Boolean, nullable=False, default=False),
    _ts("annotations_seen_at", nullable=True),
    _ts("modified_at"),
)

# Every dataset input the workflow has classified: a single frame (sequence_id NULL) or a frame of
# a sequence (metadata ``sequence_id``; a video input is a sequence of its own).
staged_frames = Table(
    "staged_frames",
    metadata,
    Column("dataset_pk", PK, ForeignKey("datasets.pk", ondelete="CASCADE"), primary_key=True),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("sequence_id", ID, nullable=True),
    Index("ix_staged_frames_dataset_sequence", "dataset_pk", "sequence_id"),
    Index("ix_staged_frames_input_pk", "input_pk"),
)

# Work units: a file (input), a tracked object of a sequence (label), a frame or the dataset's
# attributes. ``key`` is unique per dataset and kind (input id; JSON [sequence_id, label_id]; "").
staged_units = Table(
    "staged_units",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("dataset_pk", PK, ForeignKey("datasets.pk", ondelete="CASCADE"), nullable=False),
    _app_fk(),
    Column("kind", String(32), nullable=False),
    Column("key", String(400), nullable=False),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=True),
    Column("sequence_id", ID, nullable=True),
    Column("label_id", ID, nullable=True),
    _ts("created_at"),
    UniqueConstraint("dataset_pk", "kind", "key", name="uq_staged_units_dataset_kind_key"),
    Index("ix_staged_units_input_pk", "input_pk"),
)

# One task per unit and stage. ``due_at`` is materialised (the unit's own due time when
# ``due_explicit``, else from the stage's default); ``auto_reassigned_at`` stops auto-reassign from
# moving the same overdue work twice.
staged_tasks = Table(
    "staged_tasks",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False),
    Column("unit_pk", PK, ForeignKey("staged_units.pk", ondelete="CASCADE"), nullable=False),
    Column("dataset_pk", PK, ForeignKey("datasets.pk", ondelete="CASCADE"), nullable=False),
    _app_fk(),
    Column("stage_index", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("assignee_id", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    _ts("due_at", nullable=True),
    Column("due_explicit", Boolean, nullable=False, default=False),
    _ts("ready_at", nullable=True),
    _ts("auto_reassigned_at", nullable=True),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("id", name="uq_staged_tasks_id"),
    UniqueConstraint("unit_pk", "stage_index", name="uq_staged_tasks_unit_stage"),
    Index("ix_staged_tasks_dataset_stage_state", "dataset_pk", "stage_index", "state"),
    Index("ix_staged_tasks_assignee_state", "assignee_id", "state"),
    Index("ix_staged_tasks_app_due", "app_pk", "due_at"),
)

# Every transition of a staged task: who (user id, or "system"), when, from → to, why.
staged_task_history = Table(
    "staged_task_history",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("task_pk", PK, ForeignKey("staged_tasks.pk", ondelete="CASCADE"), nullable=False),
    _ts("at"),
    Column("actor_id", ID, nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("from_assignee_id", ID, nullable=True),
    Column("to_assignee_id", ID, nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Index("ix_staged_task_history_task", "task_pk", "pk"),
)

# ------------------------------------------------------------------------------------------------
# Review and consensus (services/review.py, domain/consensus.py, domain/submissions.py).

# One row per input of a task whose labelers' work has been compared (CONSENSUS) -- the decision
# and the evidence behind it. ``state``: "waiting" (a labeler is redoing work), "agreed" (consensus
# reached: settled without reviewers), "review" (no consensus: reviewers decide), "approved" /
# "rejected" (reviewers decided). ``groups``: labelers with equal submissions, largest first -- the
# versions reviewers choose between (a version is named by its group's smallest labeler id).
task_input_reviews = Table(
    "task_input_reviews",
    metadata,
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reached", Boolean, nullable=False),
    Column("input_score", Float, nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("agreeing", JSON, nullable=False),
    Column("groups", JSON, nullable=False),
    Column("approved_version", ID, nullable=True),
    Column("rounds", Integer, nullable=False, default=1),
    _ts("evaluated_at"),
    _ts("modified_at"),
    Index("ix_task_input_reviews_task_state", "task_pk", "state", "input_pk"),
)

# Per labeler and input: how well the labeler's last submission agreed with the consensus
# (``consensus.ConsensusResult.labeler_scores``) and whether it was in the agreeing group. Kept when
# the input is re-evaluated with other labelers, so a rejected labeler's record stays.
task_labeler_scores = Table(
    "task_labeler_scores",
    metadata,
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("worker_id", ID, primary_key=True),
    Column("score", Float, nullable=False),
    Column("reached", Boolean, nullable=False),
    Column("agreed", Boolean, nullable=False),
    _ts("modified_at"),
    Index("ix_task_labeler_scores_task_worker", "task_pk", "worker_id"),
)

# Reviewers' votes on work awaiting a decision (while approval_threshold(_reviewers) > 1 is not yet
# met). ``subject``: the labeler whose work is voted on (MANUAL) or "" (CONSENSUS: the whole input);
# ``version``: the approved version (CONSENSUS), "" otherwise. Deleted once the work is decided or
# sent back to its labelers.
task_review_votes = Table(
    "task_review_votes",
    metadata,
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("subject", ID, primary_key=True),
    Column("reviewer_id", ID, primary_key=True),
    Column("approve", Boolean, nullable=False),
    Column("version", ID, nullable=False, default=""),
    _ts("created_at"),
)

# Every reviewer action (REVIEW_APPROVE, REVIEW_REQUEST_CHANGES, REVIEW_REJECT) taken on an input of
# a task: who, what, when. Kept once the work is decided (unlike the votes above), so it says who
# reviewed which inputs (GetTask metrics: reviewed inputs per reviewer) and doubles as the review
# audit trail; its rows go only with their task or input. ``action``: the
# ``PutTaskAssignmentsRequestAction`` name.
task_review_log = Table(
    "task_review_log",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("reviewer_id", ID, nullable=False),
    Column("action", String(32), nullable=False),
    _ts("created_at"),
    # reviewed inputs per reviewer of a task (covering: the metrics read no table row)
    Index("ix_task_review_log_task_reviewer", "task_pk", "reviewer_id", "input_pk", "action"),
)


# Server-wide secrets (HMAC keys for key hashing and signed file URLs), created on first use and kept
# in the database so every replica over one PostgreSQL signs and verifies with the same key.
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    _ts("created_at"),
)

# Hosted files (revision 0005): one row per file posted as bytes (``data.image.base64`` ...),
# whose bytes live in the blob store (``labeldesk.files``) under ``(str(app_pk), key)`` and,
# for images, ``key + ".tiny"`` / ``key + ".small"``. ``app_pk`` is deliberately not a foreign
# key and ``input_pk`` goes NULL when the input is deleted: rows outlive their input or app
# until the garbage collector has deleted the stored bytes (then the row).
blobs = Table(
    "blobs",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("app_pk", PK, nullable=False),
    Column("key", String(64), nullable=False),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="SET NULL"), nullable=True),
    Column("kind", String(16), nullable=False),  # image | video | audio
    Column("content_type", String(128), nullable=False),
    Column("thumb_content_type", String(128), nullable=False, default=""),
    Column("size", BigInteger, nullable=False),
    Column("width", Integer, nullable=False, default=0),
    Column("height", Integer, nullable=False, default=0),
    Column("sha256", String(64), nullable=False),
    Column("sizes", String(128), nullable=False),  # "orig,tiny,small"
    _ts("created_at"),
    UniqueConstraint("app_pk", "key", name="uq_blobs_app_pk_key"),
    Index("ix_blobs_input_pk", "input_pk"),
)

# What PostInputs answers as ``inputs_add_job`` (Clarifai clients poll GetInputsAddJob): labeldesk
# adds inputs within the request, so a job is finished when it is first seen.
inputs_add_jobs = Table(
    "inputs_add_jobs",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("success_count", Integer, nullable=False),
    Column("failed_count", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("app_pk", "id", name="uq_inputs_add_jobs_app_pk_id"),
)

# Concept relations (PostConceptRelations): subject --predicate--> object, within one app.
concept_relations = Table(
    "concept_relations",
    metadata,
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("subject_id", ID, nullable=False),
    Column("object_id", ID, nullable=False),
    Column("predicate", String(32), nullable=False),
    _ts("created_at"),
    UniqueConstraint("app_pk", "id", name="uq_concept_relations_app_pk_id"),
    Index("ix_concept_relations_app_pk", "app_pk", "subject_id"),
)


# ------------------------------------------------------------------------------------------------
# Background jobs (src/labeldesk/jobs/): any replica's worker loop claims a queued job (or one whose
# lease ran out: its worker died) with FOR UPDATE SKIP LOCKED on PostgreSQL, under the write lock on
# SQLite. ``kind`` picks the handler; ``payload`` is its input; ``progress`` its checkpoint (what a
# resumed run skips) and counts; ``state``: queued | running | done | failed | cancelling | cancelled.
# Every job ever run stays in the table, so what the polls look up is indexed for the jobs not yet
# ended only (``ix_jobs_active``): a query uses that index when it has this very term.
JOB_ACTIVE_STATES = ("queued", "running", "cancelling")
JOBS_ACTIVE = "state IN (" + ", ".join(f"'{state}'" for state in JOB_ACTIVE_STATES) + ")"
#: the condition of ``ix_jobs_task``: imports and exports work for no task
JOBS_OF_TASKS = "task_pk IS NOT NULL"
jobs = Table(
    "jobs",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False),
    Column("app_pk", PK, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=True),
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("progress", JSON, nullable=False),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    _ts("created_at"),
    _ts("modified_at"),
    # the task a job works for (a model worker's or an AI assistant's; its payload's task_pk), so
    # the queue finds a task's jobs by index, not by reading every job of the app
    Column("task_pk", PK, nullable=True),
    UniqueConstraint("id", name="uq_jobs_id"),
    Index(
        "ix_jobs_active",
        "state",
        "lease_until",
        sqlite_where=text(JOBS_ACTIVE),
        postgresql_where=text(JOBS_ACTIVE),
    ),
    Index("ix_jobs_app_kind", "app_pk", "kind"),
    Index(
        "ix_jobs_task",
        "task_pk",
        "kind",
        sqlite_where=text(JOBS_OF_TASKS),
        postgresql_where=text(JOBS_OF_TASKS),
    ),
)

# Uploads (PostUploads): an archive sent in parts (PutUploadContentParts), imported by
# PostInputsUploads. ``state``: in_progress | done | expired; ``received``: bytes stored (parts never
# overlap, so received == content_length means every byte is there); ``job_id``: the newest import
# job reading it (the expiry sweep leaves an upload alone while that job is queued or running).
uploads = Table(
    "uploads",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("content_name", Text, nullable=False),
    Column("content_length", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("job_id", ID, nullable=True),
    _ts("created_at"),
    _ts("modified_at"),
    _ts("expires_at"),
    UniqueConstraint("app_pk", "id", name="uq_uploads_app_pk_id"),
    Index("ix_uploads_state_expires_at", "state", "expires_at"),
)

# One row per stored part of an upload; its bytes are the app's blob ``blob_key``.
upload_parts = Table(
    "upload_parts",
    metadata,
    Column("upload_pk", PK, ForeignKey("uploads.pk", ondelete="CASCADE"), primary_key=True),
    Column("range_start", BigInteger, primary_key=True),
    Column("length", BigInteger, nullable=False),
    Column("part_number", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("blob_key", String(128), nullable=False),
)

# Dataset versions: a frozen snapshot of a dataset's inputs with their annotations (filtered by the
# version's annotation_filter_config), taken in one transaction by PostDatasetVersions. ``exports``:
# format name -> {"status", "key", "size"} of the archives built by export jobs.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("dataset_pk", PK, ForeignKey("datasets.pk", ondelete="CASCADE"), nullable=False),
    Column("id", ID, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=True),
    Column("filter", LargeBinary, nullable=False),  # resources_pb2.AnnotationFilterConfig
    Column("status", Integer, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("exports", JSON, nullable=False),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("app_pk", "id", name="uq_dataset_versions_app_pk_id"),
    Index("ix_dataset_versions_dataset", "dataset_pk", "pk"),
)

# One row per input of a version: the input as the archive carries it (resources_pb2.Input with
# data.concepts, data.regions and data.metadata), frozen when the version was made.
dataset_version_inputs = Table(
    "dataset_version_inputs",
    metadata,
    Column("version_pk", PK, ForeignKey("dataset_versions.pk", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("input_pk", PK, nullable=False),
    Column("input", LargeBinary, nullable=False),
)

# Models: each bound to an inference backend through ``metadata["labeldesk"]`` (docs/models.md),
# with one version (``version_id``) per binding; ``concepts``: the concept ids it outputs.
models = Table(
    "models",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    _app_fk(),
    Column("id", ID, nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("model_type_id", String(64), nullable=False, default=""),
    Column("metadata", JSON, nullable=True),
    Column("concepts", JSON, nullable=False),
    Column("version_id", ID, nullable=False),
    _ts("created_at"),
    _ts("modified_at"),
    UniqueConstraint("app_pk", "id", name="uq_models_app_pk_id"),
)

# Pre-label outcomes (docs/models.md "Pre-labels"): per submission of a task's input by a worker,
# what the worker did with each region the task's assistant model suggested -- ``kept`` (unchanged),
# ``changed`` (moved, resized or relabelled) or ``removed``. A resubmission replaces the rows of
# that (task, input, worker). GetTask metrics sum them per model version.
prelabel_outcomes = Table(
    "prelabel_outcomes",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), nullable=False),
    Column("worker_id", ID, nullable=False),
    Column("model_id", ID, nullable=False),
    Column("model_version_id", ID, nullable=False),
    Column("region_id", ID, nullable=False),
    Column("outcome", String(16), nullable=False),
    _ts("created_at"),
    UniqueConstraint("task_pk", "input_pk", "worker_id", "region_id", name="uq_prelabel_outcomes_region"),
    Index("ix_prelabel_outcomes_task_model", "task_pk", "model_version_id", "outcome"),
)

# The inputs of a task the pre-label job has been through, per assistant model version: outcome
# ``prelabelled``, ``none`` (nothing inside the thresholds) or ``failed`` (the backend failed).
# LABEL_START prefers inputs listed here while the job runs; a re-queued job skips them.
prelabel_inputs = Table(
    "prelabel_inputs",
    metadata,
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    Column("model_version_id", ID, primary_key=True),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
    Column("outcome", String(16), nullable=False),
    _ts("created_at"),
)

# Model decisions (docs/models.md "Inputs that join later"): the inputs of a task each model worker
# has decided -- annotated, left to humans, or failed on -- so its job can find those that joined
# the task's source after it passed them, and humans wait for those too.
model_decisions = Table(
    "model_decisions",
    metadata,
    Column("task_pk", PK, ForeignKey("tasks.pk", ondelete="CASCADE"), primary_key=True),
    Column("model_id", ID, primary_key=True),
    Column("input_pk", PK, ForeignKey("inputs.pk", ondelete="CASCADE"), primary_key=True),
)

# The server's periodic sweeps (deleted inputs' files, expired uploads, orphaned parts and
# archives), one row each: when it may run next. Every replica wakes for each sweep, and the one
# that moves ``due_at`` forward runs it; the others skip that round (so N replicas list an object
# store's keys once a minute, not N times). storage/sweep_turns.py.
sweep_turns = Table(
    "sweep_turns",
    metadata,
    Column("name", String(64), primary_key=True),
    _ts("due_at"),
)

# PostgreSQL analyzes the work queue's seats and the annotations after 1 % of their rows changed
# (default 10 %): until it does, it knows nothing of a new task's seats or a new app's annotations
# and can walk all of them per call (migration 0026, docs/postgres.md "Query plans").
ANALYZE_SOONER = "(autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 1000)"


def _analyze_sooner(target: Table, connection: Connection, **_: object) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ALTER TABLE {target.name} SET {ANALYZE_SOONER}")


for _name in ("task_assignments", "annotations"):
    event.listen(metadata.tables[_name], "after_create", _analyze_sooner)
