"""Write operations, by job (HackSoft style: keyword-only, typed; views and tasks stay thin).

- ``submission``: a patient's submission (validate, intake, store, insert, enqueue on commit);
- ``processing``: the worker's claim -> decode -> analyse -> store, and recovery of lost work;
- ``review``: a clinician's decision.

The names below are the package's public surface (views and the API import them from here);
code inside the app imports the submodule it needs. No function here logs patient data: only
screening ids and references.
"""

from ..models import access_token_hash
from .processing import (
    RequeueReport,
    screening_claim,
    screening_mark_failed,
    screening_process,
    screening_release,
    screening_requeue_stale,
)
from .review import REVIEWABLE_STATUSES, review_create
from .submission import screening_check_fields, screening_enqueue, screening_submit

__all__ = [
    "REVIEWABLE_STATUSES",
    "RequeueReport",
    "access_token_hash",
    "review_create",
    "screening_check_fields",
    "screening_claim",
    "screening_enqueue",
    "screening_mark_failed",
    "screening_process",
    "screening_release",
    "screening_requeue_stale",
    "screening_submit",
]
