"""API tokens: hashed (django-rest-knox stores a SHA-512 digest only), expiring, revocable,
one per integration with a name."""

from __future__ import annotations

from django.db import models
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    name = models.CharField(
        max_length=100, help_text="The integration using this token, e.g. 'hospital-ris-north'."
    )

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user}, {self.token_key}…)"
