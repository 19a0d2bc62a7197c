"""API token services and the DRF authentication class (``Authorization: Token <key>``)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication

from .models import ApiToken


class ApiTokenAuthentication(TokenAuthentication):
    """knox's hashed-token check (its 401 challenge is ``WWW-Authenticate: Token``)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            request._request.api_token = result[1]  # the audit trail names the integration
        return result


def api_token_create(
    *, user: AbstractBaseUser, name: str, days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for an integration; the plain key is returned once and never stored."""
    ttl = datetime.timedelta(days=settings.API_TOKEN_TTL_DAYS if days is None else days)
    return ApiToken.objects.create(user=user, expiry=ttl if ttl.days > 0 else None, name=name)


def api_token_revoke(*, token_key: str) -> int:
    """Revoke by the key's first characters (shown in the admin); returns how many went."""
    deleted, _ = ApiToken.objects.filter(token_key=token_key[:15]).delete()
    return deleted


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the schema describes the token: ``Authorization: Token <key>``."""

    target_class = "portal.security.tokens.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>`: a named, hashed, expiring integration token "
                "(`manage.py api_token create <user> --name <integration>`)."
            ),
        }
