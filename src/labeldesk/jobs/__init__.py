"""Background jobs: a table any replica's worker loop claims work from (``storage/repos/jobs.py``),
handlers by kind (:mod:`labeldesk.jobs.worker`), and the job kinds labeldesk runs (dataset imports
from a server-side path, dataset version exports)."""
