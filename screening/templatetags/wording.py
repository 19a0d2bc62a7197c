"""Punctuation that belongs to the language: a list's separator ("low contrast, rotated" is
"对比度低、旋转" in Chinese), so that no template hard-codes English commas around translated words."""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.translation import pgettext

register = template.Library()


@register.filter
def listing(items: Iterable[object]) -> str:
    """The items joined with the active language's list separator (autoescaped as a string)."""
    return pgettext("list separator", ", ").join(str(item) for item in items)
