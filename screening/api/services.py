"""Writes behind the administrator API (keyword-only, typed)."""

from __future__ import annotations

from ..models import ClinicianProfile


def clinician_regions_set(*, user, codes: list[str]) -> ClinicianProfile:
    """Replace the regions a clinician serves (creates the profile); unknown codes -> ValueError."""
    from ..models import Region

    regions = list(Region.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {r.code for r in regions})
    if unknown:
        raise ValueError(f"Unknown region code(s): {', '.join(unknown)}.")
    profile, _ = ClinicianProfile.objects.get_or_create(user=user)
    profile.regions.set(regions)
    return profile
