"""Read operations. Every clinician read goes through ``screenings_visible_to``: a screening
outside the user's regions does not exist for them (404), superusers see every region.

``scope``: regions, what a user may see, the filters; ``triage``: the list's order, keyset pages
and the pending list; ``reads``: one screening, its heatmaps and history, the patient's view.
"""

from .reads import (
    heatmap_get_for_user,
    heatmap_list,
    review_history,
    screening_get_for_patient,
    screening_get_for_user,
)
from .scope import (
    NON_TRIAGE_STATUSES,
    TriageFilters,
    region_choices_for_upload,
    region_list_active,
    regions_for_user,
    screenings_visible_for_search,
    screenings_visible_to,
)
from .triage import (
    TRIAGE_COUNT_CAP,
    TRIAGE_CURSOR_INVALID,
    TRIAGE_KEY,
    TRIAGE_ORDER,
    TRIAGE_RANK,
    TriageCursorInvalid,
    TriagePage,
    pending_list_for_user,
    triage_cursor,
    triage_cursor_decode,
    triage_cursor_encode,
    triage_list_for_user,
    triage_page_for_user,
    triage_page_from_tokens,
    triage_state_for_user,
)

__all__ = [
    "NON_TRIAGE_STATUSES",
    "TRIAGE_COUNT_CAP",
    "TRIAGE_CURSOR_INVALID",
    "TRIAGE_KEY",
    "TRIAGE_ORDER",
    "TRIAGE_RANK",
    "TriageCursorInvalid",
    "TriageFilters",
    "TriagePage",
    "heatmap_get_for_user",
    "heatmap_list",
    "pending_list_for_user",
    "region_choices_for_upload",
    "region_list_active",
    "regions_for_user",
    "review_history",
    "screening_get_for_patient",
    "screening_get_for_user",
    "screenings_visible_for_search",
    "screenings_visible_to",
    "triage_cursor",
    "triage_cursor_decode",
    "triage_cursor_encode",
    "triage_list_for_user",
    "triage_page_for_user",
    "triage_page_from_tokens",
    "triage_state_for_user",
]
