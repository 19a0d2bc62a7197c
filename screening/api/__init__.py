"""JSON API v1 (Django REST framework): public, clinician and administrator endpoints.

``public`` (regions, submissions, patient status, triage, reviews), ``clinic`` (detail, files,
search, review history, statistics), ``admin`` (regions, assignments); ``errors`` is the one
error format, ``docs`` the OpenAPI descriptions.
"""

from portal.security.ratelimit import StatusRateThrottle, SubmissionRateThrottle

from .public import (
    RegionListApi,
    ReviewCreateApi,
    ScreeningCreateApi,
    ScreeningStatusApi,
    TriageListApi,
    TriagePagination,
    form_errors,
)

__all__ = [
    "RegionListApi",
    "ReviewCreateApi",
    "ScreeningCreateApi",
    "ScreeningStatusApi",
    "StatusRateThrottle",
    "SubmissionRateThrottle",
    "TriageListApi",
    "TriagePagination",
    "form_errors",
]
