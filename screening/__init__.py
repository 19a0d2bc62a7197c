"""Screening app: patient submissions, the inference task, clinician triage and review."""
