"""Template tags of issue 12: small reads shown beside the core pages' own context."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from screening import people, selectors

register = template.Library()


@register.simple_tag
def expected_wait(screening) -> str:
    """What the patient may expect, from the region's recent median time to a decision."""
    typical = people.review_wait_typical(region_id=screening.region_id)
    if typical is None:
        return _("A clinician usually looks at an X-ray within a day.")
    hours = max(1, round(typical.total_seconds() / 3600))
    if hours >= 48:
        days = round(hours / 24)
        return ngettext(
            "Recently, X-rays in your region were reviewed within about %(count)d day.",
            "Recently, X-rays in your region were reviewed within about %(count)d days.",
            days,
        ) % {"count": days}
    return ngettext(
        "Recently, X-rays in your region were reviewed within about %(count)d hour.",
        "Recently, X-rays in your region were reviewed within about %(count)d hours.",
        hours,
    ) % {"count": hours}


@register.simple_tag
def next_unreviewed(user, screening):
    return people.screening_next_unreviewed(user=user, exclude_id=screening.pk)


@register.simple_tag
def screening_from(user, value):
    """The screening just decided (``?from=<id>``), if the user may see it."""
    screening_id = people.parse_uuid_or_none(value)
    if screening_id is None:
        return None
    return selectors.screenings_visible_to(user=user).filter(pk=screening_id).first()


@register.simple_tag
def duplicates_for_clinician(user, screening):
    return people.screening_duplicates(
        screening=screening, within=selectors.screenings_visible_to(user=user)
    )


@register.simple_tag
def duplicates_for_patient(screening):
    from screening.models import Screening

    return people.screening_duplicates(screening=screening, within=Screening.objects.all())


@register.simple_tag
def no_regions_notice(user) -> str:
    if people.user_has_no_regions(user=user):
        return _(
            "You have no regions assigned yet, so no screenings are shown. Ask a portal "
            "administrator to assign your regions."
        )
    return ""
