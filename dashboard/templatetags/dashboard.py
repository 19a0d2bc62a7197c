"""Formatting of the dashboard's numbers: percentages, intervals, durations."""

from django import template

register = template.Library()


@register.filter
def pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@register.filter
def ci(proportion) -> str:
    """``80.0% (49.0–94.3)`` from a ``stats.Proportion``; a dash without any count."""
    if proportion is None or not proportion.total:
        return "—"
    return f"{proportion.value * 100:.1f}% ({proportion.low * 100:.1f}–{proportion.high * 100:.1f})"


@register.filter
def share(row, label: str) -> str:
    return pct(row.share(label))


@register.filter
def duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
